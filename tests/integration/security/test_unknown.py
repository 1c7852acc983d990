"""Unknown things are NOT_FOUND, never "out of stock": on every path that names a SKU or a location
to sell, reserve, quote or hold, an unknown one is answered NOT_FOUND with google.rpc.ResourceInfo
(what, which, and the field that named it), and nothing changes anywhere: no reservation or order
is written, no demand is counted as refused (insights' tables included)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import grpc
import pytest
import pytest_asyncio
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.auth import Role
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import unique_id
from tests.integration.security.scenarios import POINT, Fixtures
from tests.integration.security.support import QuietStack, call


@pytest_asyncio.fixture(scope="module")
async def fixtures(quiet: QuietStack) -> AsyncIterator[Fixtures]:
    yield await Fixtures(quiet).setup()


def reserve(store: str, sku: str) -> Message:
    return rpb.CreateReservationRequest(
        request_id=unique_id(),
        channel=common_pb2.CHANNEL_CHAT,
        customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Ada"),
        store_id=store,
        lines=[common_pb2.SkuQuantity(sku=sku, quantity=1)],
    )


CARRY_OUT = common_pb2.FULFILMENT_METHOD_CARRY_OUT


def order(method: common_pb2.FulfilmentMethod.ValueType) -> Callable[[str, str], Message]:
    def build(store: str, sku: str) -> Message:
        return opb.CreateOrderRequest(
            request_id=unique_id(),
            channel=common_pb2.CHANNEL_POS
            if method == common_pb2.FULFILMENT_METHOD_CARRY_OUT
            else common_pb2.CHANNEL_WEB,
            customer_id=unique_id("CUST-"),
            lines=[opb.OrderLineRequest(sku=sku, quantity=1)],
            method=method,
            store_id=store if method != common_pb2.FULFILMENT_METHOD_SHIP else "",
            ship_to=opb.Address(name="Ada", point=POINT) if method == common_pb2.FULFILMENT_METHOD_SHIP else None,
        )

    return build


def quote(method: common_pb2.FulfilmentMethod.ValueType) -> Callable[[str, str], Message]:
    def build(store: str, sku: str) -> Message:
        created = order(method)(store, sku)
        assert isinstance(created, opb.CreateOrderRequest)
        return opb.QuoteRoutingRequest(
            channel=created.channel,
            lines=created.lines,
            method=method,
            store_id=created.store_id,
            ship_to=created.ship_to if created.HasField("ship_to") else None,
        )

    return build


def till_sale(store: str, sku: str) -> Message:
    return ipb.HoldRequest(
        request_id=unique_id(),
        owner=f"till:{store}",
        channel=common_pb2.CHANNEL_POS,
        lines=[ipb.HoldLineRequest(location_id=store, sku=sku, quantity=1)],
        selling_location_id=store,
        commit_now=True,
    )


def hold(store: str, sku: str) -> Message:
    return ipb.HoldRequest(
        request_id=unique_id(),
        owner=f"order:{unique_id()}",
        channel=common_pb2.CHANNEL_WEB,
        lines=[ipb.HoldLineRequest(location_id=store, sku=sku, quantity=1)],
    )


def availability(store: str, sku: str) -> Message:
    return ipb.FindAvailabilityRequest(items=[common_pb2.SkuQuantity(sku=sku, quantity=1)], near=POINT, radius_km=50)


Builder = Callable[[str, str], Message]
SKU_PATHS: list[tuple[str, str, Role, Builder, str]] = [
    ("reservations", "CreateReservation", Role.CHAT_AGENT, reserve, "lines[0].sku"),
    ("orders", "CreateOrder", Role.STOREFRONT, order(common_pb2.FULFILMENT_METHOD_SHIP), "lines[0].sku"),
    ("orders", "CreateOrder", Role.STOREFRONT, order(common_pb2.FULFILMENT_METHOD_PICKUP), "lines[0].sku"),
    ("orders", "CreateOrder", Role.POS, order(common_pb2.FULFILMENT_METHOD_CARRY_OUT), "lines[0].sku"),
    ("orders", "QuoteRouting", Role.STOREFRONT, quote(common_pb2.FULFILMENT_METHOD_SHIP), "lines[0].sku"),
    ("orders", "QuoteRouting", Role.STOREFRONT, quote(common_pb2.FULFILMENT_METHOD_PICKUP), "lines[0].sku"),
    ("inventory", "Hold", Role.POS, till_sale, "lines[0].sku"),
    ("inventory", "Hold", Role.SERVICE, hold, "lines[0].sku"),
    ("inventory", "FindAvailability", Role.CHAT_AGENT, availability, "items[0].sku"),
]
LOCATION_PATHS: list[tuple[str, str, Role, Builder, str]] = [
    ("reservations", "CreateReservation", Role.CHAT_AGENT, reserve, "store_id"),
    ("orders", "CreateOrder", Role.STOREFRONT, order(common_pb2.FULFILMENT_METHOD_PICKUP), "store_id"),
    ("orders", "QuoteRouting", Role.STOREFRONT, quote(common_pb2.FULFILMENT_METHOD_PICKUP), "store_id"),
    ("inventory", "Hold", Role.SERVICE, hold, "lines[0].location_id"),
]


async def refused_as_not_found(
    quiet: QuietStack, target: tuple[str, str, Role, list[str]], request: Message, kind: str, name: str, field: str
) -> None:
    """`target`: (service, method, role, the token's locations)."""
    service, method, role, locations = target
    token = quiet.stack.token(role, locations=locations, subject="unknown-things")
    await quiet.settle()
    before = await quiet.snapshot()
    code, error = await call(quiet.stack.channel(service, token=token), service, method, request)  # type: ignore[arg-type]
    assert code == grpc.StatusCode.NOT_FOUND, f"{service}.{method}: {code.name} {error.details() if error else ''}"
    assert error is not None
    infos = details_of(error, error_details_pb2.ResourceInfo)
    assert [(i.resource_type, i.resource_name, i.description) for i in infos] == [(kind, name, field)]
    await quiet.settle()
    assert not await quiet.changed_since(before), f"{service}.{method} changed something for an unknown {kind}"


Builder = Callable[[str, str], Message]


@pytest.mark.parametrize(
    ("service", "method", "role", "build", "field"),
    SKU_PATHS,
    ids=[f"{p[1]}-{p[2]}-{i}" for i, p in enumerate(SKU_PATHS)],
)
async def test_an_unknown_sku_is_not_found_and_counts_for_nothing(
    quiet: QuietStack, fixtures: Fixtures, service: str, method: str, role: Role, build: Builder, field: str
) -> None:
    store = fixtures.home["store"]
    await fixtures.sku(store)  # the store stocks something: only the SKU is unknown
    unknown = unique_id("SOFA-VELVET-PINK-")
    await refused_as_not_found(quiet, (service, method, role, [store]), build(store, unknown), "sku", unknown, field)


@pytest.mark.parametrize(
    ("service", "method", "role", "build", "field"),
    LOCATION_PATHS,
    ids=[f"{p[1]}-{i}" for i, p in enumerate(LOCATION_PATHS)],
)
async def test_an_unknown_location_is_not_found(
    quiet: QuietStack, fixtures: Fixtures, service: str, method: str, role: Role, build: Builder, field: str
) -> None:
    sku = await fixtures.sku(fixtures.home["store"])
    unknown = unique_id("LOC-NOWHERE-")
    await refused_as_not_found(quiet, (service, method, role, []), build(unknown, sku), "location", unknown, field)
