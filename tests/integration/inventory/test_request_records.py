"""GetRequestRecord: a service reads whether a change it asked for went through, without asking for
the change again. Only its own request ids, and only changes that were made."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import unique_id

from .test_holds import hold_request


async def no_record(stub: object, request_id: str) -> None:
    answer = await stub.GetRequestRecord(pb.GetRequestRecordRequest(change_request_id=request_id))  # type: ignore[attr-defined]
    assert not answer.HasField("record")


async def held_by_a_service(catalogue: Any, on_hand: int, units: int) -> tuple[Any, str, str, pb.Hold]:
    """(the service's stub, store, SKU, its hold of `units` of the `on_hand` there)."""
    store = await catalogue.location()
    sku = await catalogue.sku()
    await catalogue.receive(store, sku, on_hand)
    service = catalogue.stack.stub("inventory", role="service")
    return service, store, sku, (await service.Hold(hold_request([(store, sku, units)]))).hold


async def test_a_release_a_service_made_reads_as_made_and_an_unused_id_as_no_record(catalogue) -> None:
    service, store, sku, held = await held_by_a_service(catalogue, 5, 3)
    released_under = unique_id()
    await service.ReleaseHold(
        pb.ReleaseHoldRequest(
            request_id=released_under,
            hold_id=held.hold_id,
            lines=[pb.HoldLineRequest(location_id=store, sku=sku, quantity=1)],
        )
    )

    record = (await service.GetRequestRecord(pb.GetRequestRecordRequest(change_request_id=released_under))).record
    assert (record.request_id, record.method, record.answered) == (released_under, "ReleaseHold", True)
    assert record.HasField("created_at")
    await no_record(service, unique_id())
    # Reading changes nothing: the hold still has the two units the release left.
    (line,) = (await service.GetHold(pb.GetHoldRequest(hold_id=held.hold_id))).hold.lines
    assert (line.open, line.released) == (2, 1)


async def test_a_refused_change_leaves_no_record(catalogue) -> None:
    """A release refused (the hold is another owner's) rolls its request id back with it: the id
    reads as never used, as a release never sent would."""
    service, _, _, held = await held_by_a_service(catalogue, 2, 1)
    refused_under = unique_id()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await service.ReleaseHold(
            pb.ReleaseHoldRequest(request_id=refused_under, hold_id=held.hold_id, expected_owner="order:someone-else")
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await no_record(service, refused_under)


async def test_another_callers_request_id_reads_as_no_record(catalogue) -> None:
    """A stored answer belongs to its caller: another service learns nothing of it, not even that it exists."""
    sku_request = unique_id()
    first = catalogue.stack.stub("inventory", token=catalogue.stack.token("service", subject="first"))
    other = catalogue.stack.stub("inventory", token=catalogue.stack.token("service", subject="other"))
    await first.UpsertSku(pb.UpsertSkuRequest(request_id=sku_request, sku=pb.Sku(sku=unique_id("SKU-"), title="x")))

    assert (
        await first.GetRequestRecord(pb.GetRequestRecordRequest(change_request_id=sku_request))
    ).record.method == "UpsertSku"
    await no_record(other, sku_request)


@pytest.mark.parametrize("change_request_id", ["", "x" * 129, "tab\there"], ids=["empty", "too-long", "control"])
async def test_a_malformed_request_id_is_invalid_naming_the_field(catalogue, change_request_id: str) -> None:
    service = catalogue.stack.stub("inventory", role="service")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await service.GetRequestRecord(pb.GetRequestRecordRequest(change_request_id=change_request_id))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (bad,) = details_of(refused.value, error_details_pb2.BadRequest)
    assert [violation.field for violation in bad.field_violations] == ["change_request_id"]


async def test_an_admin_reads_its_own_request_records_and_no_channel_may(catalogue) -> None:
    """An operator asks what became of a request id of their own; a channel's role is refused."""
    request_id = unique_id()
    sku = unique_id("SKU-")
    await catalogue.admin.UpsertSku(pb.UpsertSkuRequest(request_id=request_id, sku=pb.Sku(sku=sku, title="x")))
    record = (await catalogue.admin.GetRequestRecord(pb.GetRequestRecordRequest(change_request_id=request_id))).record
    assert (record.method, record.answered) == ("UpsertSku", True)

    storefront = catalogue.stack.stub("inventory", role="storefront")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await storefront.GetRequestRecord(pb.GetRequestRecordRequest(change_request_id=request_id))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
