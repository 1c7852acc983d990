"""Text a person reads back (a location's name, a customer's, a reason) holds no character that
changes how it is shown: no control character (C0, DEL, C1), no line or paragraph separator, no
bidirectional embedding, override or isolate. Refused as INVALID_ARGUMENT naming the field, and
nothing is written; right-to-left names, with the marks they need, are kept as sent."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import Stack, unique_id

# A terminal's CSI (C1), next line (C1), line and paragraph separators, right-to-left override,
# left-to-right embedding, first-strong isolate and its end.
HIDDEN = ["\x9b", "\x85", "\u2028", "\u2029", "\u202e", "\u202a", "\u2068", "\u2069"]


def fields_of(error: grpc.aio.AioRpcError) -> list[str]:
    return [v.field for bad in details_of(error, error_details_pb2.BadRequest) for v in bad.field_violations]


def location(location_id: str, name: str) -> ipb.UpsertLocationRequest:
    return ipb.UpsertLocationRequest(
        request_id=unique_id(),
        location=ipb.Location(
            location_id=location_id,
            name=name,
            kind=ipb.LOCATION_KIND_STORE,
            city="Berlin",
            point=common_pb2.GeoPoint(latitude=52.52, longitude=13.4),
            pickup=True,
        ),
    )


@pytest.mark.parametrize("character", HIDDEN, ids=[f"U+{ord(c):04X}" for c in HIDDEN])
async def test_a_name_with_a_character_that_changes_how_it_reads_is_refused(stack: Stack, character: str) -> None:
    inventory = stack.stub("inventory")
    location_id = unique_id("LOC-")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await inventory.UpsertLocation(location(location_id, f"Mitte{character}Outlet"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fields_of(refused.value) == ["location.name"]
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await inventory.GetLocation(ipb.GetLocationRequest(location_id=location_id))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND

    store = unique_id("LOC-")
    await inventory.UpsertLocation(location(store, "Mitte"))
    customer = rpb.Customer(customer_id=unique_id("CUST-"), name=f"Ada{character}Lovelace")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.stub("reservations").CreateReservation(
            rpb.CreateReservationRequest(
                request_id=unique_id(),
                channel=common_pb2.CHANNEL_CHAT,
                customer=customer,
                store_id=store,
                lines=[common_pb2.SkuQuantity(sku="ANY-SKU", quantity=1)],
            )
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "customer.name" in fields_of(refused.value)


async def test_right_to_left_names_are_kept_as_sent(stack: Stack) -> None:
    inventory = stack.stub("inventory")
    location_id = unique_id("LOC-")
    name = "\u0645\u0631\u0643\u0632 \u200fMitte\u200e 12"  # Arabic, a right-to-left mark, a left-to-right mark
    await inventory.UpsertLocation(location(location_id, name))
    found = await inventory.GetLocation(ipb.GetLocationRequest(location_id=location_id))
    assert found.location.name == name
