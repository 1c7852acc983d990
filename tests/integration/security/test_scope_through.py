"""Location scope through what a request names, beyond the access walk's one-location requests.

- Every list of records at locations (every scoped RPC with a `page_token`, from the proto
  descriptors) asked with no location by
  store or warehouse staff answers only records at their own locations: every listed entry that
  names locations (any `*location_id` or `store_id` in it, however deep) names one of theirs.
- A record spanning two locations (a hold, a transfer) is read by staff of either, changed only as
  the docs say (a hold by staff of all of its locations; a transfer shipped and cancelled at its
  origin, received at its destination); a request that names two locations (a hold's lines, a
  return of an order sold elsewhere) is refused when one is not theirs.
- A pickup code is looked up at the caller's own store: another store's code is not found there.
Refusals are PERMISSION_DENIED (LOCATION_NOT_ALLOWED) or NOT_FOUND, and change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
import pytest_asyncio
from google.protobuf import descriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.auth import LOCATION_SCOPED, Role
from omnistock_platform.errors import Reason
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import unique_id
from tests.integration.security.scenarios import SCENARIOS, Fixtures, in_
from tests.integration.security.support import QuietStack, answer, call, every_rpc, method_descriptor, policy_of

FD = descriptor.FieldDescriptor
# Lists of records at locations (the catalogue's, which every channel sees, are not scoped).
LISTS = [
    (service, method)
    for service, method in every_rpc()
    if "page_token" in method_descriptor(service, method).input_type.fields_by_name
    and SCENARIOS[(service, method)].scoped
]


def location_names(message: Message) -> Iterator[str]:
    """Every location a message names: its `*location_id` and `store_id` fields, however deep."""
    for field, value in message.ListFields():
        if field.type == FD.TYPE_MESSAGE and not field.message_type.GetOptions().map_entry:
            for item in value if field.is_repeated else [value]:
                yield from location_names(item)
        elif field.type == FD.TYPE_STRING and (field.name.endswith("location_id") or field.name == "store_id"):
            yield from (value if field.is_repeated else [value])


def entries(response: Message) -> Iterator[Message]:
    for field, value in response.ListFields():
        if field.type == FD.TYPE_MESSAGE and field.is_repeated and not field.message_type.GetOptions().map_entry:
            yield from value


class Places:
    """Both kinds of location twice (home and away, from the fixtures) with something of everything at
    each: holds, counts, transfers, reservations with their tasks, orders with theirs, a return."""

    def __init__(self, quiet: QuietStack, fixtures: Fixtures) -> None:
        self.quiet = quiet
        self.f = fixtures

    async def fill(self) -> Places:
        for kind in ("store", "warehouse"):
            for location_id in (self.f.home[kind], self.f.away[kind]):  # type: ignore[index]
                await self.f.hold(location_id)
                await self.f.count(location_id)
                await self.f.transfer(origin=location_id)
                await self.f.pick_task(location_id)
                await self.f.quiet.stack.stub("inventory").AdjustStock(
                    ipb.AdjustStockRequest(
                        request_id=unique_id(),
                        location_id=location_id,
                        sku=await self.f.sku(location_id),
                        reason=ipb.ADJUSTMENT_REASON_RETURN,
                        delta=1,
                    )
                )
        for store in (self.f.home["store"], self.f.away["store"]):
            await self.f.pickup_task(store)
            await self.f.order(store)
        await self.quiet.settle()
        return self

    def channel(self, service: str, role: Role, locations: list[str]) -> grpc.aio.Channel:
        token = self.quiet.stack.token(role, locations=locations, subject=f"through-{role}")
        return self.quiet.stack.channel(service, token=token)  # type: ignore[arg-type]


@pytest_asyncio.fixture(scope="module")
async def places(quiet: QuietStack) -> AsyncIterator[Places]:
    yield await Places(quiet, await Fixtures(quiet).setup()).fill()


def reason_of(error: grpc.aio.AioRpcError | None) -> str:
    infos = details_of(error, error_details_pb2.ErrorInfo) if error is not None else []
    return infos[0].reason if infos else ""


async def listed(channel: grpc.aio.Channel, service: str, method: str) -> Message:
    request = method_descriptor(service, method).input_type._concrete_class(page_size=500)
    return await answer(channel, service, method, request)


@pytest.mark.parametrize("role", sorted(LOCATION_SCOPED), ids=str)
async def test_a_list_asked_for_no_location_shows_staff_only_their_own(places: Places, role: Role) -> None:
    kind = "store" if role is Role.POS else "warehouse"
    home, away = places.f.home[kind], places.f.away[kind]  # type: ignore[index]
    seen_away: list[str] = []
    shown = 0
    for service, method in LISTS:
        if role not in policy_of(service)[method]:
            continue
        try:
            response = await listed(places.channel(service, role, [home]), service, method)
        except grpc.aio.AioRpcError as error:
            # A list that must be asked for one location or record may refuse to list them all.
            assert error.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED), (
                f"{service}.{method}: {error.code().name} {error.details()}"
            )
            continue
        for entry in entries(response):
            named = set(location_names(entry))
            shown += bool(named)
            if named and home not in named:
                seen_away.append(f"{service}.{method}: {type(entry).__name__} at {sorted(named)}")
    assert shown, "no list showed anything at a location: the check would be vacuous"
    assert away and not seen_away, "staff saw another location's records:\n  " + "\n  ".join(seen_away)


async def refused(places: Places, service: str, method: str, role: Role, home: str, request: Message) -> str:
    """The call's refusal ("" when it was answered), after checking it changed nothing."""
    await places.quiet.settle()
    before = await places.quiet.snapshot()
    code, error = await call(places.channel(service, role, [home]), service, method, request)
    await places.quiet.settle()
    changed = await places.quiet.changed_since(before)
    assert code == grpc.StatusCode.OK or not changed, f"{service}.{method} refused ({code.name}) but changed {changed}"
    if code == grpc.StatusCode.OK:
        return ""
    return f"{code.name}/{reason_of(error)}"


DENIED = f"PERMISSION_DENIED/{Reason.LOCATION_NOT_ALLOWED}"


async def two_location_hold(places: Places, first: str, second: str) -> ipb.Hold:
    sku = await places.f.sku(first, second)
    response = await places.quiet.stack.stub("inventory", role="service").Hold(
        ipb.HoldRequest(
            request_id=unique_id(),
            owner=f"through:{unique_id()}",
            channel=common_pb2.CHANNEL_WEB,
            lines=[
                ipb.HoldLineRequest(location_id=first, sku=sku, quantity=1),
                ipb.HoldLineRequest(location_id=second, sku=sku, quantity=1),
            ],
        )
    )
    return response.hold  # type: ignore[no-any-return]


@pytest.mark.parametrize("role", sorted(LOCATION_SCOPED), ids=str)
async def test_a_hold_at_two_locations_is_changed_only_by_staff_of_both(places: Places, role: Role) -> None:
    kind = "store" if role is Role.POS else "warehouse"
    home, away = places.f.home[kind], places.f.away[kind]  # type: ignore[index]
    allowed = policy_of("inventory")
    wrong = []

    async def changes(hold: ipb.Hold) -> dict[str, Message]:
        line = next(line for line in hold.lines if line.location_id == home)
        return {
            "ReleaseHold": ipb.ReleaseHoldRequest(request_id=unique_id(), hold_id=hold.hold_id, reason="through"),
            "CommitHold": ipb.CommitHoldRequest(request_id=unique_id(), hold_id=hold.hold_id),
            "ExtendHold": ipb.ExtendHoldRequest(request_id=unique_id(), hold_id=hold.hold_id, expires_at=in_(3600)),
            "TransferHold": ipb.TransferHoldRequest(
                request_id=unique_id(), hold_id=hold.hold_id, expected_owner=hold.owner, new_owner="through:other"
            ),
            "AdjustHold": ipb.AdjustHoldRequest(
                request_id=unique_id(),
                reason="through",
                adjustments=[
                    ipb.HoldAdjustment(
                        hold_id=hold.hold_id,
                        lines=[ipb.HoldLineChange(location_id=home, sku=line.sku, open=0, expected_open=line.open)],
                    )
                ],
            ),
        }

    for method, request in (await changes(await two_location_hold(places, home, away))).items():
        if role in allowed[method]:
            answer = await refused(places, "inventory", method, role, home, request)
            if answer != DENIED:
                wrong.append(f"{method}: {answer or 'OK'}")
    hold = await two_location_hold(places, home, away)
    if role in allowed["GetHold"]:
        answer = await refused(places, "inventory", "GetHold", role, home, ipb.GetHoldRequest(hold_id=hold.hold_id))
        if answer:
            wrong.append(f"GetHold by staff of one of its locations: {answer}")
    assert not wrong, "\n  ".join(["", *wrong])


async def test_a_till_sale_with_a_line_at_another_store_is_refused(places: Places) -> None:
    home, away = places.f.home["store"], places.f.away["store"]
    sku = await places.f.sku(home, away)
    request = ipb.HoldRequest(
        request_id=unique_id(),
        owner=f"till:{home}",
        channel=common_pb2.CHANNEL_POS,
        selling_location_id=home,
        commit_now=True,
        lines=[
            ipb.HoldLineRequest(location_id=home, sku=sku, quantity=1),
            ipb.HoldLineRequest(location_id=away, sku=sku, quantity=1),
        ],
    )
    assert await refused(places, "inventory", "Hold", Role.POS, home, request) == DENIED


@pytest.mark.parametrize("role", sorted(LOCATION_SCOPED), ids=str)
async def test_a_transfer_is_worked_at_the_end_that_does_each_step(places: Places, role: Role) -> None:
    kind = "store" if role is Role.POS else "warehouse"
    home, away = places.f.home[kind], places.f.away[kind]  # type: ignore[index]
    allowed = policy_of("inventory")
    wrong = []
    incoming = await places.f.transfer(origin=away, destination=home)
    for method, request in {
        "ShipTransfer": ipb.ShipTransferRequest(request_id=unique_id(), transfer_id=incoming.transfer_id),
        "CancelTransfer": ipb.CancelTransferRequest(request_id=unique_id(), transfer_id=incoming.transfer_id),
    }.items():
        if role in allowed[method]:
            answer = await refused(places, "inventory", method, role, home, request)
            if answer != DENIED:
                wrong.append(f"{method} at the destination: {answer or 'OK'}")
    outgoing = await places.f.transfer(origin=home, destination=away, shipped=True)
    arrival = ipb.TransferArrival(sku=outgoing.lines[0].sku, received=2)
    receive = ipb.ReceiveTransferRequest(request_id=unique_id(), transfer_id=outgoing.transfer_id, lines=[arrival])
    if role in allowed["ReceiveTransfer"]:
        answer = await refused(places, "inventory", "ReceiveTransfer", role, home, receive)
        if answer != DENIED:
            wrong.append(f"ReceiveTransfer at the origin: {answer or 'OK'}")
    if role in allowed["GetTransfer"]:
        for transfer in (incoming, outgoing):
            read = ipb.GetTransferRequest(transfer_id=transfer.transfer_id)
            answer = await refused(places, "inventory", "GetTransfer", role, home, read)
            if answer:
                wrong.append(f"GetTransfer by staff of one end: {answer}")
    assert not wrong, "\n  ".join(["", *wrong])


async def test_another_stores_pickup_code_is_not_found_at_the_till(places: Places) -> None:
    home, away = places.f.home["store"], places.f.away["store"]
    _, reservation = await places.f.pickup_task(away, ready=True)
    wrong = []
    for service, method, request in (
        (
            "reservations",
            "CollectReservation",
            rpb.CollectReservationRequest(request_id=unique_id(), store_id=home, pickup_code=reservation.pickup_code),
        ),
        (
            "fulfilment",
            "HandOver",
            fpb.HandOverRequest(request_id=unique_id(), location_id=home, pickup_code=reservation.pickup_code),
        ),
    ):
        answer = await refused(places, service, method, Role.POS, home, request)
        if not answer.startswith(("NOT_FOUND", "PERMISSION_DENIED")):
            wrong.append(f"{service}.{method}: {answer or 'OK'}")
    assert not wrong, "\n  ".join(["", *wrong])


async def test_a_return_to_another_location_is_refused(places: Places) -> None:
    from tests.integration.orders.support import Shop

    home, away = places.f.home["store"], places.f.away["store"]
    sku = await places.f.sku(home)
    sold = await Shop(places.quiet.stack, places.f.inventory, places.f.orders).delivered(home, [(sku, 1)])
    request = opb.CreateReturnRequest(
        request_id=unique_id(),
        order_id=sold.order_id,
        lines=[opb.ReturnLineRequest(sku=sku, quantity=1)],
        location_id=away,
        reason="through",
    )
    assert await refused(places, "orders", "CreateReturn", Role.POS, home, request) == DENIED
