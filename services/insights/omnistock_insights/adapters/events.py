"""Events read as the projection's facts and signals."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2
from omnistock.inventory.v1 import inventory_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock.reservations.v1 import reservations_pb2
from omnistock_insights.domain.journeys import Method, OrderFact, Outcome, Pick, ReservationFact, TaskFact
from omnistock_insights.domain.signals import CountResult, DemandRefusal, ReturnSeen, ShortLine, StockCheck
from omnistock_insights.domain.tally import NO_CHANNEL

CHANNELS: dict[int, str] = {
    common_pb2.CHANNEL_UNSPECIFIED: NO_CHANNEL,
    common_pb2.CHANNEL_WEB: "web",
    common_pb2.CHANNEL_APP: "app",
    common_pb2.CHANNEL_CHAT: "chat",
    common_pb2.CHANNEL_POS: "pos",
    common_pb2.CHANNEL_BACKOFFICE: "backoffice",
    common_pb2.CHANNEL_MARKETPLACE: "marketplace",
}
CHANNEL_CODES = {name: code for code, name in CHANNELS.items()}

METHODS: dict[int, Method] = {
    common_pb2.FULFILMENT_METHOD_SHIP: Method.SHIP,
    common_pb2.FULFILMENT_METHOD_PICKUP: Method.PICKUP,
    common_pb2.FULFILMENT_METHOD_CARRY_OUT: Method.CARRY_OUT,
}

_OUTCOMES_BY_STATUS = {
    reservations_pb2.RESERVATION_STATUS_COLLECTED: Outcome.COLLECTED,
    reservations_pb2.RESERVATION_STATUS_EXPIRED: Outcome.EXPIRED,
    reservations_pb2.RESERVATION_STATUS_CANCELLED: Outcome.CANCELLED,
    reservations_pb2.RESERVATION_STATUS_CONVERTED: Outcome.CONVERTED,
}
_OUTCOMES_BY_EVENT = {outcome.value: outcome for outcome in Outcome}
# Events that make allocations: the first of them shows the order's allocation as routing made it.
_ALLOCATING = frozenset({"created", "allocated"})
# Events after which an order has left its first shipment behind.
_SHIPPED = frozenset({"partially_shipped", "completed"})


M = TypeVar("M", bound=Message)


class Uncountable(ValueError):
    """An event the projection can never count: not the payload its type promises, no id, a
    timestamp out of range. The live consumer dead-letters it; a rebuild passes over it."""


@dataclass(frozen=True)
class TaskSeen:
    task: TaskFact
    # Set by task.shipped: the order's shipment, for its order-to-ship time.
    shipment: OrderFact | None = None


Observation = ReservationFact | OrderFact | TaskSeen | DemandRefusal | StockCheck | CountResult | ReturnSeen


def channel_name(code: int) -> str:
    return CHANNELS.get(code, NO_CHANNEL)


def channel_code(name: str) -> common_pb2.Channel.ValueType:
    return common_pb2.Channel.ValueType(CHANNEL_CODES.get(name, common_pb2.CHANNEL_UNSPECIFIED))


def moment(timestamp: Timestamp) -> datetime | None:
    if not timestamp.seconds and not timestamp.nanos:
        return None
    return timestamp.ToDatetime(tzinfo=UTC)


def observe(envelope: common_pb2.EventEnvelope, payload: Message) -> Observation | None:
    """What an event tells the projection; None for the events it does not count."""
    try:
        observation = _observe(envelope, payload)
    except (ValueError, OverflowError) as error:  # timestamps beyond datetime's range, among others
        raise Uncountable(f"{envelope.type} {envelope.event_id}: {error}") from error
    if observation is not None:
        _check_text(envelope, observation)
    return observation


def _texts(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif is_dataclass(value):
        for item in fields(value):
            yield from _texts(getattr(value, item.name))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _texts(key)
            yield from _texts(item)
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _texts(item)


def _check_text(envelope: common_pb2.EventEnvelope, observation: Observation) -> None:
    # PostgreSQL text cannot hold NUL: refused here, before any SQL whose failure would undo
    # everything else in the transaction (a whole rebuild).
    if any("\x00" in text for text in _texts(observation)):
        raise Uncountable(f"{envelope.type} {envelope.event_id} holds a NUL character")


def _required(value: str, what: str) -> str:
    if not value:
        raise Uncountable(f"the event names no {what}")
    return value


def _observe(envelope: common_pb2.EventEnvelope, payload: Message) -> Observation | None:
    service, _, rest = envelope.type.partition(".")
    entity, _, event = rest.partition(".")
    at = moment(envelope.time) or datetime.now(UTC)
    if (entity, event) == ("demand", "refused"):
        return demand_refusal(_expect(payload, common_pb2.DemandRefused, envelope), at)
    match (service, entity):
        case ("reservations", "reservation"):
            return reservation(event, _expect(payload, reservations_pb2.ReservationChanged, envelope), at)
        case ("orders", "order"):
            return order(event, _expect(payload, orders_pb2.OrderChanged, envelope), at)
        case ("orders", "return") if event in ("authorised", "received"):
            return returned(event, _expect(payload, orders_pb2.ReturnChanged, envelope), at)
        case ("fulfilment", "task"):
            return task(event, _expect(payload, fulfilment_pb2.TaskChanged, envelope), at)
        case ("inventory", "stock") if event == "changed":
            return stock_check(_expect(payload, inventory_pb2.StockChanged, envelope), at)
        case ("inventory", "count") if event == "completed":
            return count_result(_expect(payload, inventory_pb2.CountChanged, envelope), at)
    return None


def _expect(payload: Message, kind: type[M], envelope: common_pb2.EventEnvelope) -> M:
    if not isinstance(payload, kind):
        raise Uncountable(f"{envelope.type} carries {payload.DESCRIPTOR.full_name}, not {kind.DESCRIPTOR.full_name}")
    return payload


def reservation(event: str, payload: reservations_pb2.ReservationChanged, at: datetime) -> ReservationFact:
    found = payload.reservation
    outcome = _OUTCOMES_BY_EVENT.get(event) or _OUTCOMES_BY_STATUS.get(found.status)
    ready_at = moment(found.ready_at) or (at if event == "ready" else None)
    return ReservationFact(
        reservation_id=_required(found.reservation_id, "reservation"),
        channel=channel_name(found.channel),
        store_id=found.store_id,
        created_at=moment(found.created_at) or at,
        ready_at=ready_at,
        outcome=outcome,
        failed=found.status == reservations_pb2.RESERVATION_STATUS_FAILED,
    )


def physical_units(line: orders_pb2.OrderLine) -> int:
    """The units a line sells in the unit returns are counted in: a set as its parts (quantity times its
    components' units per set), so that a return rate compares parts with parts."""
    return line.quantity * (sum(part.quantity for part in line.components) or 1)


def order(event: str, payload: orders_pb2.OrderChanged, at: datetime) -> OrderFact:
    found = payload.order
    revenue: dict[str, int] = {}
    for line in found.lines:
        currency = line.currency or found.currency
        revenue[currency] = revenue.get(currency, 0) + line.unit_price_minor * line.quantity
    for split in found.sets:  # a split set's part lines cost nothing: its price is the set's, counted once
        currency = split.currency or found.currency
        revenue[currency] = revenue.get(currency, 0) + split.unit_price_minor * split.quantity
    first_allocation: tuple[str, ...] | None = None
    inferred = False
    if event in _ALLOCATING and found.allocations:
        first_allocation = tuple(a.location_id for a in payload.new_allocations or found.allocations)
    elif event == "rerouted":
        new = {a.allocation_id for a in payload.new_allocations}
        earlier = tuple(a.location_id for a in found.allocations if a.allocation_id not in new)
        first_allocation, inferred = earlier or None, True
    shipped = event in _SHIPPED and found.method == common_pb2.FULFILMENT_METHOD_SHIP
    return OrderFact(
        order_id=_required(found.order_id, "order"),
        channel=channel_name(found.channel),
        method=METHODS.get(found.method, Method.UNSPECIFIED),
        store_id=found.store_id,
        created_at=moment(found.created_at) or at,
        units=sum(physical_units(line) for line in found.lines),
        revenue=revenue,
        described_at=moment(found.updated_at) or at,
        first_allocation=first_allocation,
        allocation_inferred=inferred,
        rerouted=event == "rerouted",
        cancelled=event == "cancelled" or found.status == orders_pb2.ORDER_STATUS_CANCELLED,
        shipped_at=(moment(found.updated_at) or at) if shipped else None,
        held=any(hold.status != orders_pb2.FULFILMENT_HOLD_STATUS_REQUESTED for hold in found.holds),
        hold_expired=event == "hold_expired"
        or any(hold.status == orders_pb2.FULFILMENT_HOLD_STATUS_EXPIRED for hold in found.holds),
    )


def task(event: str, payload: fulfilment_pb2.TaskChanged, at: datetime) -> TaskSeen:
    found = payload.task
    pick = {"picked": Pick.PICKED, "short_picked": Pick.SHORT}.get(event)
    fact = TaskFact(
        task_id=_required(found.task_id, "task"),
        order_id=found.order_id,
        reservation_id=found.reservation_id,
        location_id=found.location_id,
        created_at=moment(found.created_at) or at,
        pick=pick,
    )
    shipment = None
    if event == "shipped" and found.order_id:
        shipment = OrderFact(order_id=found.order_id, shipped_at=moment(found.updated_at) or at)
    return TaskSeen(fact, shipment)


def demand_refusal(payload: common_pb2.DemandRefused, at: datetime) -> DemandRefusal:
    return DemandRefusal(
        channel=channel_name(payload.channel),
        location_id=payload.location_id,
        at=at,
        short=tuple(ShortLine(line.location_id, line.sku, line.requested, line.available) for line in payload.short),
    )


def stock_check(payload: inventory_pb2.StockChanged, at: datetime) -> StockCheck:
    level = payload.level
    return StockCheck(
        location_id=level.location_id,
        at=moment(level.updated_at) or at,
        on_hand=level.on_hand,
        held=level.held,
        incoming=level.incoming,
        in_transit=level.in_transit,
        in_transit_reserved=level.in_transit_reserved,
    )


def count_result(payload: inventory_pb2.CountChanged, at: datetime) -> CountResult:
    count = payload.count
    summary = count.summary
    return CountResult(
        location_id=_required(count.location_id, "location"),
        at=moment(count.closed_at) or at,
        lines=summary.counted,
        matched=summary.counted - summary.with_variance,
        units_over=summary.units_over,
        units_short=summary.units_short,
    )


def returned(event: str, payload: orders_pb2.ReturnChanged, at: datetime) -> ReturnSeen:
    found = payload.order_return
    _required(found.return_id, "return")
    received = event == "received"
    return ReturnSeen(
        channel=channel_name(found.channel),
        location_id=_required(found.location_id, "location"),
        at=(moment(found.received_at) if received else moment(found.created_at)) or at,
        received=received,
        restocked=sum(line.restocked for line in found.lines) if received else 0,
        damaged=sum(line.damaged for line in found.lines) if received else 0,
        written_off=sum(line.written_off for line in found.lines) if received else 0,
    )
