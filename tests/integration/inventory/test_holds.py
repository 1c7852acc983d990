from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.plugin import isolated_run
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import wait_until
from tests.integration.inventory.conftest import Catalogue


def hold_request(lines: list[tuple[str, str, int]], **fields: object) -> pb.HoldRequest:
    return pb.HoldRequest(
        request_id=fields.pop("request_id", unique_id()),  # type: ignore[arg-type]
        owner=fields.pop("owner", f"order:{unique_id()}"),  # type: ignore[arg-type]
        channel=fields.pop("channel", common_pb2.CHANNEL_WEB),  # type: ignore[arg-type]
        lines=[pb.HoldLineRequest(location_id=loc, sku=sku, quantity=qty) for loc, sku, qty in lines],
        **fields,  # type: ignore[arg-type]
    )


async def test_hold_commit_release_keep_counters_and_ledger(catalogue, db) -> None:
    store = await catalogue.location()
    sku = await catalogue.sku()
    await catalogue.receive(store, sku, 5)
    inventory = catalogue.admin

    held = (await inventory.Hold(hold_request([(store, sku, 3)]))).hold
    assert held.state == pb.HOLD_STATE_ACTIVE
    level = (await inventory.GetStock(pb.GetStockRequest(sku=sku, channel=common_pb2.CHANNEL_WEB))).levels[0]
    assert (level.on_hand, level.held, level.available) == (5, 3, 2)

    await inventory.CommitHold(
        pb.CommitHoldRequest(
            request_id=unique_id(),
            hold_id=held.hold_id,
            lines=[pb.HoldLineRequest(location_id=store, sku=sku, quantity=2)],
        )
    )
    released = (await inventory.ReleaseHold(pb.ReleaseHoldRequest(request_id=unique_id(), hold_id=held.hold_id))).hold
    assert released.state == pb.HOLD_STATE_COMMITTED
    assert (released.lines[0].committed, released.lines[0].released, released.lines[0].open) == (2, 1, 0)
    level = (await inventory.GetStock(pb.GetStockRequest(sku=sku, location_id=store))).levels[0]
    assert (level.on_hand, level.held) == (3, 0)
    assert await check_invariants(db) == []


async def test_shortfall_names_the_line_and_holds_nothing(catalogue) -> None:
    store = await catalogue.location()
    first, second = await catalogue.sku(), await catalogue.sku()
    await catalogue.receive(store, first, 2)
    await catalogue.receive(store, second, 1)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalogue.admin.Hold(hold_request([(store, first, 2), (store, second, 2)]))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    (shortfall,) = details_of(refused.value, common_pb2.Shortfall)
    assert [(line.sku, line.requested, line.available) for line in shortfall.lines] == [(second, 2, 1)]
    levels = (await catalogue.admin.BatchGetStock(pb.BatchGetStockRequest(skus=[first, second]))).levels
    assert all(level.held == 0 for level in levels)


async def test_safety_stock_only_for_the_stores_own_till(catalogue) -> None:
    store, other = await catalogue.location(), await catalogue.location()
    sku = await catalogue.sku()
    await catalogue.receive(store, sku, 2)
    await catalogue.admin.SetSafetyStock(
        pb.SetSafetyStockRequest(request_id=unique_id(), location_id=store, sku=sku, safety_stock=2)
    )
    for channel, selling in ((common_pb2.CHANNEL_WEB, ""), (common_pb2.CHANNEL_POS, other)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await catalogue.admin.Hold(hold_request([(store, sku, 1)], channel=channel, selling_location_id=selling))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    sold = await catalogue.admin.Hold(
        hold_request([(store, sku, 2)], channel=common_pb2.CHANNEL_POS, selling_location_id=store, commit_now=True)
    )
    assert sold.hold.state == pb.HOLD_STATE_COMMITTED
    level = (await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=store))).levels[0]
    assert (level.on_hand, level.held) == (0, 0)


async def test_a_till_sells_only_in_the_tills_channel(catalogue) -> None:
    """A till's token names no channel: it takes stock as a till only, so it cannot sell as the web
    shop (whose pools keep its share) nor as a channel its token does not give it."""
    store = await catalogue.location()
    sku = await catalogue.sku()
    await catalogue.receive(store, sku, 2)
    till = catalogue.stack.stub("inventory", role="pos", locations=[store])
    for channel in (common_pb2.CHANNEL_WEB, common_pb2.CHANNEL_BACKOFFICE):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await till.Hold(
                hold_request([(store, sku, 1)], channel=channel, selling_location_id=store, commit_now=True)
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        (info,) = details_of(refused.value, error_details_pb2.ErrorInfo)
        assert info.reason == "ACTION_NOT_ALLOWED"
    level = (await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=store))).levels[0]
    assert (level.on_hand, level.held) == (2, 0)
    sold = await till.Hold(
        hold_request([(store, sku, 1)], channel=common_pb2.CHANNEL_POS, selling_location_id=store, commit_now=True)
    )
    assert sold.hold.state == pb.HOLD_STATE_COMMITTED


async def test_till_sale_writes_a_hold_and_its_commit_on_every_line(catalogue, db, tap) -> None:
    """A sale at a till is a hold committed at once: the hold stored as committed, per line a hold
    movement then a commit movement (each with the counters after it) and a stock.changed for
    each, hold.created and hold.committed, and the first answer for a retry."""
    store, sofa, lamp = await catalogue.location(), await catalogue.sku(), await catalogue.sku("Lamp")
    await catalogue.receive(store, sofa, 5)
    await catalogue.receive(store, lamp, 2)
    sale = hold_request(
        [(store, sofa, 2), (store, lamp, 1)],
        channel=common_pb2.CHANNEL_POS,
        selling_location_id=store,
        commit_now=True,
    )
    sold = (await catalogue.admin.Hold(sale)).hold
    assert sold.state == pb.HOLD_STATE_COMMITTED
    assert [(line.sku, line.quantity, line.committed, line.open) for line in sold.lines] == sorted(
        [(sofa, 2, 2, 0), (lamp, 1, 1, 0)]
    )
    assert (await catalogue.admin.GetHold(pb.GetHoldRequest(hold_id=sold.hold_id))).hold == sold
    assert (await catalogue.admin.Hold(sale)).hold == sold  # a retry: the first answer, nothing sold twice

    movements = await db.fetch(
        "SELECT sku, kind, on_hand_delta, held_delta, on_hand_after, held_after, version, hold_id"
        " FROM inventory.movements WHERE location_id = $1 AND kind IN ('hold', 'commit') ORDER BY movement_id",
        store,
    )
    # Lines in lock order (as the rows are locked), the hold's movements before the commit's.
    assert [tuple(row.values()) for row in movements] == sorted(
        [(sofa, "hold", 0, 2, 5, 2, 2, sold.hold_id), (lamp, "hold", 0, 1, 2, 1, 2, sold.hold_id)]
    ) + sorted([(sofa, "commit", -2, -2, 3, 0, 3, sold.hold_id), (lamp, "commit", -1, -1, 1, 0, 3, sold.hold_id)])
    for sku, on_hand in ((sofa, 3), (lamp, 1)):
        level = (await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=store))).levels[0]
        assert (level.on_hand, level.held, level.version) == (on_hand, 0, 3)

    def changes() -> list[tuple[str, int, int, int]]:
        return sorted(
            (event.level.sku, event.cause, event.level.on_hand, event.level.held)
            for event in tap.of_type("inventory.stock.changed")
            if event.hold_id == sold.hold_id
        )

    await wait_until(lambda: len(changes()) == 4, what="a stock.changed per line for the hold and for the commit")
    assert changes() == sorted(
        [
            (sofa, pb.MOVEMENT_KIND_HOLD, 5, 2),
            (sofa, pb.MOVEMENT_KIND_COMMIT, 3, 0),
            (lamp, pb.MOVEMENT_KIND_HOLD, 2, 1),
            (lamp, pb.MOVEMENT_KIND_COMMIT, 1, 0),
        ]
    )
    for event_type in ("inventory.hold.created", "inventory.hold.committed"):
        await wait_until(
            lambda event_type=event_type: (
                [e.hold for e in tap.of_type(event_type) if e.hold.hold_id == sold.hold_id] == [sold]
            ),
            what=event_type,
        )
    assert await check_invariants(db) == []


async def test_retried_hold_returns_the_same_hold(catalogue) -> None:
    store, sku = await catalogue.location(), await catalogue.sku()
    await catalogue.receive(store, sku, 3)
    request = hold_request([(store, sku, 2)])
    first = await catalogue.admin.Hold(request)
    again = await catalogue.admin.Hold(request)
    assert first.hold.hold_id == again.hold.hold_id
    level = (await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=store))).levels[0]
    assert level.held == 2
    changed = hold_request([(store, sku, 1)], request_id=request.request_id, owner=request.owner)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalogue.admin.Hold(changed)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "request_id" in (refused.value.details() or "")


async def test_a_hold_answers_each_row_as_it_left_it_and_a_retry_the_same(catalogue) -> None:
    store = await catalogue.location()
    first, second = await catalogue.sku(), await catalogue.sku()
    await catalogue.receive(store, first, 5)
    await catalogue.receive(store, second, 4)
    inventory = catalogue.admin

    alone = hold_request([(store, first, 3)])  # one line: held with others on its row
    together = hold_request([(store, first, 1), (store, second, 4)])  # lines in one transaction
    sale = hold_request(
        [(store, second, 1)], channel=common_pb2.CHANNEL_POS, selling_location_id=store, commit_now=True
    )
    answered = [await inventory.Hold(request) for request in (alone, together)]

    def counters(response: pb.HoldResponse) -> list[tuple[str, str, int, int]]:
        return sorted((level.location_id, level.sku, level.on_hand, level.held) for level in response.levels)

    assert counters(answered[0]) == [(store, first, 5, 3)]
    assert counters(answered[1]) == sorted([(store, first, 5, 4), (store, second, 4, 4)])
    assert [counters(await inventory.Hold(request)) for request in (alone, together)] == [
        counters(response) for response in answered
    ]
    release = pb.ReleaseHoldRequest(request_id=unique_id(), hold_id=answered[1].hold.hold_id)
    await inventory.ReleaseHold(release)
    assert counters(await inventory.Hold(sale)) == [(store, second, 3, 0)]  # a sale: after its commit


async def test_expired_hold_gives_units_back_by_itself(catalogue, tap) -> None:
    store, sku = await catalogue.location(), await catalogue.sku()
    await catalogue.receive(store, sku, 1)
    short = Duration()
    short.FromMilliseconds(300)
    held = (await catalogue.admin.Hold(hold_request([(store, sku, 1)], ttl=short))).hold
    _, event = await tap.wait_for(
        lambda envelope, payload: envelope.type == "inventory.hold.expired" and payload.hold.hold_id == held.hold_id
    )
    assert event.hold.state == pb.HOLD_STATE_EXPIRED

    async def back_on_sale() -> bool:
        level = (await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=store))).levels[0]
        return (level.on_hand, level.held, level.available) == (1, 0, 1)

    # A read without a consistency token may come from memory a moment behind the expiry's commit
    # (docs/reads.md): it shows the unit back within its bounded staleness.
    await wait_until(back_on_sale, 5, what="the expired hold's unit on sale again")


async def test_bad_input_is_refused_naming_the_field(catalogue) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalogue.admin.Hold(hold_request([("", "SKU", 0)]))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = refused.value.details() or ""
    assert "lines[0].location_id" in details and "lines[0].quantity" in details


async def test_holds_are_listed_by_owner_and_state(catalogue) -> None:
    store, sku = await catalogue.location(), await catalogue.sku()
    await catalogue.receive(store, sku, 5)
    prefix = f"reservation:{unique_id()}"
    first = (await catalogue.admin.Hold(hold_request([(store, sku, 1)], owner=f"{prefix}-a"))).hold
    second = (await catalogue.admin.Hold(hold_request([(store, sku, 1)], owner=f"{prefix}-b"))).hold
    await catalogue.admin.Hold(hold_request([(store, sku, 1)]))
    await catalogue.admin.ReleaseHold(pb.ReleaseHoldRequest(request_id=unique_id(), hold_id=second.hold_id))
    everything = await catalogue.admin.ListHolds(pb.ListHoldsRequest(owner_prefix=prefix, page_size=1))
    assert len(everything.holds) == 1 and everything.next_page_token
    rest = await catalogue.admin.ListHolds(
        pb.ListHoldsRequest(owner_prefix=prefix, page_size=1, page_token=everything.next_page_token)
    )
    assert {h.hold_id for h in [*everything.holds, *rest.holds]} == {first.hold_id, second.hold_id}
    active = await catalogue.admin.ListHolds(pb.ListHoldsRequest(owner_prefix=prefix, state=pb.HOLD_STATE_ACTIVE))
    assert [h.hold_id for h in active.holds] == [first.hold_id]


def moment(offset: timedelta) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + offset)
    return stamp


async def test_extend_and_transfer_judge_a_new_expiry_alike_with_the_clock_drift_allowed(catalogue, stack) -> None:
    """ExtendHold and TransferHold take a new expiry by this service's clock with the minute of drift
    every caller's time is allowed: "now" by a caller's clock a few seconds behind is not refused as
    past (an extension to it changes nothing: a hold is never shortened), the limit by one a few
    seconds ahead is not refused as too far, and TransferHold holds the same limit as ExtendHold
    (it took any expiry, years ahead). Beyond the drift each is INVALID_ARGUMENT naming expires_at."""
    store, sku = await catalogue.location(), await catalogue.sku()
    await catalogue.receive(store, sku, 1)
    owner = f"reservation:{unique_id()}"
    held = (await catalogue.admin.Hold(hold_request([(store, sku, 1)], owner=owner))).hold
    most = stack.settings.hold_max_ttl

    def extend(offset: timedelta) -> pb.ExtendHoldRequest:
        return pb.ExtendHoldRequest(request_id=unique_id(), hold_id=held.hold_id, expires_at=moment(offset))

    def transfer(offset: timedelta) -> pb.TransferHoldRequest:
        return pb.TransferHoldRequest(
            request_id=unique_id(),
            hold_id=held.hold_id,
            expected_owner=owner,
            new_owner=owner,
            expires_at=moment(offset),
        )

    lagging = await catalogue.admin.ExtendHold(extend(-timedelta(seconds=5)))
    assert lagging.hold.expires_at == held.expires_at  # never shortened
    for refused_request, call in (
        (extend(-timedelta(minutes=5)), catalogue.admin.ExtendHold),
        (extend(most + timedelta(minutes=5)), catalogue.admin.ExtendHold),
        (transfer(-timedelta(minutes=5)), catalogue.admin.TransferHold),
        (transfer(most + timedelta(minutes=5)), catalogue.admin.TransferHold),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(refused_request)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        (bad,) = details_of(refused.value, error_details_pb2.BadRequest)
        assert [violation.field for violation in bad.field_violations] == ["expires_at"]
    at_the_limit = await catalogue.admin.ExtendHold(extend(most + timedelta(seconds=5)))
    assert at_the_limit.hold.expires_at.ToDatetime(tzinfo=UTC) > datetime.now(UTC) + most
    taken_over = await catalogue.admin.TransferHold(transfer(most + timedelta(seconds=5)))
    assert taken_over.hold.owner == owner and taken_over.hold.state == pb.HOLD_STATE_ACTIVE


async def test_a_hold_run_out_before_the_sweeper_came_is_over_for_an_extension_as_for_a_takeover(
    omnistock_servers: tuple[str, str],
) -> None:
    """A hold past its expiry that the sweeper has not reached yet (it was behind, inventory had just
    started) is over whoever asks: TransferHold expired it then and refused, but ExtendHold gave it
    a new expiry, so whether a late extension kept the units hung on the sweeper's timing. Both now
    expire it (hold.expired, the unit on sale again) and refuse it as expired (HOLD_STATE)."""
    async with isolated_run(*omnistock_servers, label="unswept", sweep_interval=timedelta(hours=1)) as settings:
        stack = Stack(settings)
        await stack.start("inventory")
        try:
            catalogue = Catalogue(stack.stub("inventory", role="admin"), stack)
            store, sku = await catalogue.location(), await catalogue.sku()
            await catalogue.receive(store, sku, 2)
            short = Duration()
            short.FromMilliseconds(200)
            owner = f"reservation:{unique_id()}"
            held = [
                (await catalogue.admin.Hold(hold_request([(store, sku, 1)], owner=owner, ttl=short))).hold
                for _ in range(2)
            ]

            async def run_out() -> bool:
                return datetime.now(UTC) > max(hold.expires_at.ToDatetime(tzinfo=UTC) for hold in held)

            await wait_until(run_out, 5, what="both holds past their expiry")
            extend = pb.ExtendHoldRequest(
                request_id=unique_id(), hold_id=held[0].hold_id, expires_at=moment(timedelta(minutes=15))
            )
            transfer = pb.TransferHoldRequest(
                request_id=unique_id(), hold_id=held[1].hold_id, expected_owner=owner, new_owner="order:o1"
            )
            for rpc, request in ((catalogue.admin.ExtendHold, extend), (catalogue.admin.TransferHold, transfer)):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await rpc(request)
                assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION, refused.value.details()
                (failure,) = details_of(refused.value, error_details_pb2.PreconditionFailure)
                assert [violation.type for violation in failure.violations] == ["HOLD_STATE"]
            for hold in held:
                found = await catalogue.admin.GetHold(pb.GetHoldRequest(hold_id=hold.hold_id))
                assert found.hold.state == pb.HOLD_STATE_EXPIRED
            # Stock reads answer from memory, current within moments of the commit (a refusal carries no
            # consistency token to wait for): both units are on sale again once it has caught up.

            async def on_sale_again() -> bool:
                level = (await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=store))).levels[0]
                return (level.on_hand, level.held) == (2, 0)

            await wait_until(on_sale_again, 5, what="both units on sale again")
        finally:
            await stack.close()
