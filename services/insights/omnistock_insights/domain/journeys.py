"""What the projection remembers of each reservation, order and task, and what each counts for.

Every event carries a snapshot of its entity; the projection reads it as a
partial fact and merges it into the fact it keeps. Merging is order-tolerant:
the first snapshot fixes who and when, outcomes never revert, the earliest
ready or ship time wins, a short pick outranks a full one. Whatever order the
events come in, the merged fact - and so its contribution - is the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import StrEnum

from omnistock_insights.domain.tally import NO_CHANNEL, Bucket, Sheet, Tally


class Outcome(StrEnum):
    COLLECTED = "collected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    CONVERTED = "converted"


class Method(StrEnum):
    SHIP = "ship"
    PICKUP = "pickup"
    CARRY_OUT = "carry_out"
    UNSPECIFIED = "unspecified"


class Pick(StrEnum):
    PICKED = "picked"
    SHORT = "short"


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def elapsed_ms(start: datetime, end: datetime) -> int:
    # Clocks of different services may disagree by a little; a duration is never negative.
    return max(0, round((end - start).total_seconds() * 1000))


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None or second is None:
        return first or second
    return min(first, second)


def _later(first: datetime | None, second: datetime | None) -> bool:
    """`first` is known and after `second` (or `second` is not known)."""
    return first is not None and (second is None or first > second)


@dataclass(frozen=True)
class ReservationFact:
    reservation_id: str
    channel: str | None = None
    store_id: str = ""
    created_at: datetime | None = None
    ready_at: datetime | None = None
    outcome: Outcome | None = None
    # Refused for lack of stock: it never held anything and counts as refused demand instead.
    failed: bool = False

    def merge(self, seen: ReservationFact) -> ReservationFact:
        described = self if self.created_at is not None else seen
        return replace(
            self,
            channel=described.channel,
            store_id=described.store_id,
            created_at=described.created_at,
            ready_at=_earliest(self.ready_at, seen.ready_at),
            outcome=self.outcome or seen.outcome,
            failed=self.failed or seen.failed,
        )

    @property
    def bucket(self) -> Bucket | None:
        if self.failed or self.channel is None or self.created_at is None:
            return None
        return Bucket(utc_day(self.created_at), self.channel, self.store_id)

    def contribution(self) -> Tally:
        tally = Tally()
        bucket = self.bucket
        if bucket is None or self.created_at is None:
            return tally
        tally.add(Sheet.DAILY, bucket, reservations_created=1)
        if self.outcome is not None:
            tally.add(Sheet.DAILY, bucket, **{f"reservations_{self.outcome.value}": 1})
        if self.ready_at is not None:
            tally.add(
                Sheet.DAILY, bucket, reservations_ready=1, ready_time_ms_sum=elapsed_ms(self.created_at, self.ready_at)
            )
        return tally


@dataclass(frozen=True)
class OrderFact:
    order_id: str
    channel: str | None = None
    method: Method = Method.UNSPECIFIED
    store_id: str = ""
    created_at: datetime | None = None
    units: int = 0
    # Sum of unit price times quantity over the lines, by currency.
    revenue: Mapping[str, int] = field(default_factory=dict)
    # When the order was as its units and revenue say (its updated_at in the event): an edit changes
    # its lines, and the latest description counts whichever event comes first.
    described_at: datetime | None = None
    # The locations of the allocations the order first got (None: not allocated yet).
    first_allocation: tuple[str, ...] | None = None
    # first_allocation was worked out from a later event (a re-route), the allocating one not seen yet.
    allocation_inferred: bool = False
    rerouted: bool = False
    cancelled: bool = False
    shipped_at: datetime | None = None
    # Put on a fulfilment hold at least once; cancelled because a hold was never released.
    held: bool = False
    hold_expired: bool = False

    def merge(self, seen: OrderFact) -> OrderFact:
        described = self if self.created_at is not None else seen
        if self.created_at is not None and seen.created_at is not None and _later(seen.described_at, self.described_at):
            described = seen
        allocation, inferred = self.first_allocation, self.allocation_inferred
        if seen.first_allocation is not None and (allocation is None or (inferred and not seen.allocation_inferred)):
            allocation, inferred = seen.first_allocation, seen.allocation_inferred
        return replace(
            self,
            channel=described.channel,
            method=described.method,
            store_id=described.store_id,
            created_at=described.created_at,
            units=described.units,
            revenue=dict(described.revenue),
            described_at=described.described_at,
            first_allocation=allocation,
            allocation_inferred=inferred,
            rerouted=self.rerouted or seen.rerouted,
            cancelled=self.cancelled or seen.cancelled,
            shipped_at=_earliest(self.shipped_at, seen.shipped_at),
            held=self.held or seen.held,
            hold_expired=self.hold_expired or seen.hold_expired,
        )

    @property
    def location_id(self) -> str:
        """The store it is for, else the first location it was allocated to, else "" (not yet known)."""
        if self.store_id:
            return self.store_id
        return self.first_allocation[0] if self.first_allocation else ""

    @property
    def bucket(self) -> Bucket | None:
        # A task event may name an order before any order event arrived: nothing to count yet.
        if self.channel is None or self.created_at is None:
            return None
        return Bucket(utc_day(self.created_at), self.channel, self.location_id)

    def contribution(self) -> Tally:
        tally = Tally()
        bucket = self.bucket
        if bucket is None or self.created_at is None:
            return tally
        tally.add(Sheet.DAILY, bucket, orders=1, units=self.units)
        if self.method is not Method.UNSPECIFIED:
            tally.add(Sheet.DAILY, bucket, **{f"orders_{self.method.value}": 1})
        for currency, amount in self.revenue.items():
            tally.add(Sheet.REVENUE, bucket, currency, amount_minor=amount, orders=1)
        if self.cancelled:
            tally.add(Sheet.DAILY, bucket, orders_cancelled=1)
        if self.first_allocation is not None:
            tally.add(Sheet.DAILY, bucket, orders_allocated=1, orders_split=int(len(self.first_allocation) > 1))
        if self.rerouted:
            tally.add(Sheet.DAILY, bucket, orders_rerouted=1)
        if self.held:
            tally.add(Sheet.DAILY, bucket, orders_held=1, orders_hold_expired=int(self.hold_expired))
        if self.shipped_at is not None:
            tally.add(
                Sheet.DAILY, bucket, orders_shipped=1, ship_time_ms_sum=elapsed_ms(self.created_at, self.shipped_at)
            )
        return tally


@dataclass(frozen=True)
class TaskFact:
    task_id: str
    order_id: str = ""
    reservation_id: str = ""
    location_id: str = ""
    created_at: datetime | None = None
    pick: Pick | None = None

    def merge(self, seen: TaskFact) -> TaskFact:
        described = self if self.created_at is not None else seen
        pick = Pick.SHORT if Pick.SHORT in (self.pick, seen.pick) else self.pick or seen.pick
        return replace(
            self,
            order_id=described.order_id,
            reservation_id=described.reservation_id,
            location_id=described.location_id,
            created_at=described.created_at,
            pick=pick,
        )

    def contribution(self, channel: str | None) -> Tally:
        """`channel` is its order's or reservation's, None while that one is unknown."""
        tally = Tally()
        if self.pick is None or self.created_at is None:
            return tally
        bucket = Bucket(utc_day(self.created_at), channel or NO_CHANNEL, self.location_id)
        if self.pick is Pick.SHORT:
            return tally.add(Sheet.DAILY, bucket, tasks_short_picked=1)
        return tally.add(Sheet.DAILY, bucket, tasks_picked=1)
