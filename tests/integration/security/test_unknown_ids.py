"""An id that names nothing — another kind's id, one with a prefix from another system, a UUID
never given out — is answered the same way on every RPC that looks a thing up by its id: NOT_FOUND
with google.rpc.ResourceInfo saying what was looked for and the field that named it, and nothing
changes. Only an id of a form no service gives out (a space, punctuation) is INVALID_ARGUMENT naming
that field, before anything is looked up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock.webhooks.v1 import webhooks_pb2 as wpb
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import Stack, unique_id


def in_an_hour() -> Timestamp:
    at = Timestamp()
    at.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
    return at


# (service, method, field, the request naming `value` in that field)
Case = tuple[str, str, str, Callable[[str], Any]]

CASES: list[Case] = [
    ("inventory", "GetLocation", "location_id", lambda v: ipb.GetLocationRequest(location_id=v)),
    ("inventory", "GetSku", "sku", lambda v: ipb.GetSkuRequest(sku=v)),
    (
        "inventory",
        "ReceiveStock",
        "location_id",
        lambda v: ipb.ReceiveStockRequest(request_id=unique_id(), location_id=v, sku="SKU-ANY", quantity=1),
    ),
    ("inventory", "GetHold", "hold_id", lambda v: ipb.GetHoldRequest(hold_id=v)),
    ("inventory", "GetTransfer", "transfer_id", lambda v: ipb.GetTransferRequest(transfer_id=v)),
    ("inventory", "ReleaseHold", "hold_id", lambda v: ipb.ReleaseHoldRequest(request_id=unique_id(), hold_id=v)),
    ("inventory", "CommitHold", "hold_id", lambda v: ipb.CommitHoldRequest(request_id=unique_id(), hold_id=v)),
    (
        "inventory",
        "ExtendHold",
        "hold_id",
        lambda v: ipb.ExtendHoldRequest(request_id=unique_id(), hold_id=v, expires_at=in_an_hour()),
    ),
    (
        "inventory",
        "TransferHold",
        "hold_id",
        lambda v: ipb.TransferHoldRequest(
            request_id=unique_id(), hold_id=v, expected_owner="reservation:R-1", new_owner="order:ORD-1"
        ),
    ),
    (
        "inventory",
        "ShipTransfer",
        "transfer_id",
        lambda v: ipb.ShipTransferRequest(request_id=unique_id(), transfer_id=v),
    ),
    (
        "inventory",
        "CancelTransfer",
        "transfer_id",
        lambda v: ipb.CancelTransferRequest(request_id=unique_id(), transfer_id=v),
    ),
    ("inventory", "GetCount", "count_id", lambda v: ipb.GetCountRequest(count_id=v)),
    ("inventory", "CancelCount", "count_id", lambda v: ipb.CancelCountRequest(request_id=unique_id(), count_id=v)),
    ("orders", "GetOrder", "order_id", lambda v: opb.GetOrderRequest(order_id=v)),
    ("orders", "CancelOrder", "order_id", lambda v: opb.CancelOrderRequest(request_id=unique_id(), order_id=v)),
    (
        "orders",
        "EditOrder",
        "order_id",
        lambda v: opb.EditOrderRequest(
            request_id=unique_id(), order_id=v, lines=[opb.OrderLineEdit(sku="SKU-ANY", quantity=1)]
        ),
    ),
    ("orders", "GetReturn", "return_id", lambda v: opb.GetReturnRequest(return_id=v)),
    ("reservations", "GetReservation", "reservation_id", lambda v: rpb.GetReservationRequest(reservation_id=v)),
    (
        "reservations",
        "CancelReservation",
        "reservation_id",
        lambda v: rpb.CancelReservationRequest(request_id=unique_id(), reservation_id=v),
    ),
    (
        "reservations",
        "ExtendReservation",
        "reservation_id",
        lambda v: rpb.ExtendReservationRequest(
            request_id=unique_id(), reservation_id=v, extend_by=Duration(seconds=3600)
        ),
    ),
    (
        "reservations",
        "MarkReservationReady",
        "reservation_id",
        lambda v: rpb.MarkReservationReadyRequest(request_id=unique_id(), reservation_id=v),
    ),
    ("fulfilment", "GetTask", "task_id", lambda v: fpb.GetTaskRequest(task_id=v)),
    ("fulfilment", "StartPicking", "task_id", lambda v: fpb.StartPickingRequest(request_id=unique_id(), task_id=v)),
    ("fulfilment", "ConfirmPick", "task_id", lambda v: fpb.ConfirmPickRequest(request_id=unique_id(), task_id=v)),
    ("fulfilment", "Pack", "task_id", lambda v: fpb.PackRequest(request_id=unique_id(), task_id=v)),
    (
        "fulfilment",
        "MarkReadyForPickup",
        "task_id",
        lambda v: fpb.MarkReadyForPickupRequest(request_id=unique_id(), task_id=v),
    ),
    ("webhooks", "GetSubscription", "subscription_id", lambda v: wpb.GetSubscriptionRequest(subscription_id=v)),
    (
        "webhooks",
        "DeleteSubscription",
        "subscription_id",
        lambda v: wpb.DeleteSubscriptionRequest(request_id=unique_id(), subscription_id=v),
    ),
    (
        "webhooks",
        "UpdateSubscription",
        "subscription.subscription_id",
        lambda v: wpb.UpdateSubscriptionRequest(
            request_id=unique_id(),
            subscription=wpb.Subscription(subscription_id=v, description="x"),
            update_mask=field_mask_pb2.FieldMask(paths=["description"]),
        ),
    ),
    (
        "webhooks",
        "RotateSubscriptionSecret",
        "subscription_id",
        lambda v: wpb.RotateSubscriptionSecretRequest(request_id=unique_id(), subscription_id=v),
    ),
    ("webhooks", "ListDeliveries", "subscription_id", lambda v: wpb.ListDeliveriesRequest(subscription_id=v)),
    (
        "webhooks",
        "ReplayDeliveries",
        "subscription_id",
        lambda v: wpb.ReplayDeliveriesRequest(request_id=unique_id(), subscription_id=v),
    ),
]

IDS = ["ord_7c9e6679", "7c9e6679-7425-40de-944b-e07fc1f90ae7"]


@pytest.mark.parametrize("value", IDS)
async def test_an_unknown_id_is_not_found_naming_its_field_on_every_lookup(stack: Stack, value: str) -> None:
    wrong = []
    for service, method, field, build in CASES:
        stub = stack.stub(service, role="admin")  # type: ignore[arg-type]
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await getattr(stub, method)(build(value))
        code = refused.value.code()
        found = [
            (info.resource_type, info.description) for info in details_of(refused.value, error_details_pb2.ResourceInfo)
        ]
        bad = [v.field for b in details_of(refused.value, error_details_pb2.BadRequest) for v in b.field_violations]
        named = (code == grpc.StatusCode.NOT_FOUND and [d for _, d in found] == [field]) or (
            code == grpc.StatusCode.INVALID_ARGUMENT and bad == [field]
        )
        if not named:
            wrong.append(f"{service}.{method}: {code.name} {found or bad}")
    assert wrong == []


@pytest.mark.parametrize("value", IDS)
async def test_an_id_of_the_right_form_that_names_nothing_is_not_found_not_invalid(stack: Stack, value: str) -> None:
    """Both ids are of the form every service's ids have (letters, digits and _.:-): no service refuses
    one as malformed because its own ids happen to be UUIDs; it looks and finds nothing."""
    wrong = []
    for service, method, _, build in CASES:
        stub = stack.stub(service, role="admin")  # type: ignore[arg-type]
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await getattr(stub, method)(build(value))
        if refused.value.code() != grpc.StatusCode.NOT_FOUND:
            wrong.append(f"{service}.{method}: {refused.value.code().name} {refused.value.details()}")
    assert wrong == []


async def test_a_malformed_id_is_invalid_naming_its_field(stack: Stack) -> None:
    """An id no service could have given out (a space, punctuation) is refused before any look."""
    wrong = []
    for service, method, field, build in CASES:
        stub = stack.stub(service, role="admin")  # type: ignore[arg-type]
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await getattr(stub, method)(build("not an id!"))
        code = refused.value.code()
        bad = [v.field for b in details_of(refused.value, error_details_pb2.BadRequest) for v in b.field_violations]
        if code != grpc.StatusCode.INVALID_ARGUMENT or bad != [field]:
            wrong.append(f"{service}.{method}: {code.name} {bad}")
    assert wrong == []


def test_every_case_names_a_field_of_its_request() -> None:
    for _, method, field, build in CASES:
        assert field.split(".")[0] in build("x").DESCRIPTOR.fields_by_name, method
