"""Events counted as they come, with nothing to remember: refused demand and stock checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from omnistock_insights.domain.journeys import utc_day
from omnistock_insights.domain.tally import NO_CHANNEL, Bucket, Sheet, Tally


@dataclass(frozen=True)
class ShortLine:
    location_id: str
    sku: str
    requested: int
    available: int


@dataclass(frozen=True)
class DemandRefusal:
    """A reservation or an order refused for lack of stock."""

    channel: str
    location_id: str
    at: datetime
    short: tuple[ShortLine, ...]

    def contribution(self) -> Tally:
        day = utc_day(self.at)
        location = self.location_id or next((line.location_id for line in self.short if line.location_id), "")
        tally = Tally().add(Sheet.DAILY, Bucket(day, self.channel, location), demand_refused=1)
        # One refusal per SKU and location, however many of its lines were short there.
        refused: set[tuple[str, str]] = set()
        for line in self.short:
            bucket = Bucket(day, self.channel, line.location_id or location)
            tally.add(Sheet.DAILY, bucket, short_lines=1)
            first = (bucket.location_id, line.sku) not in refused
            refused.add((bucket.location_id, line.sku))
            tally.add(
                Sheet.SHORTFALL,
                bucket,
                line.sku,
                refusals=int(first),
                units_requested=line.requested,
                units_short=max(0, line.requested - line.available),
            )
        return tally


@dataclass(frozen=True)
class StockCheck:
    """A stock row as a stock.changed event shows it."""

    location_id: str
    at: datetime
    on_hand: int
    held: int
    incoming: int
    # Units shipped to the location on transfers, and those of them ship to store brings for its
    # reservations: a pool that allows units in transit holds the others before they arrive.
    in_transit: int = 0
    in_transit_reserved: int = 0

    @property
    def oversold(self) -> bool:
        # Holds beyond on hand are promises of units that do not exist, except against incoming
        # stock (how a backorder SKU is held on purpose) and units on their way that a pool may
        # promise: inventory's own bound on held (omnistock verify).
        on_the_way = self.incoming + self.in_transit - self.in_transit_reserved
        return self.on_hand < 0 or self.held > self.on_hand + on_the_way

    def contribution(self) -> Tally:
        bucket = Bucket(utc_day(self.at), NO_CHANNEL, self.location_id)
        return Tally().add(Sheet.DAILY, bucket, stock_changes=1, oversells=int(self.oversold))


@dataclass(frozen=True)
class CountResult:
    """A cycle count completed at a location: how many lines it counted, how many matched the book."""

    location_id: str
    at: datetime
    lines: int
    matched: int
    units_over: int
    units_short: int

    def contribution(self) -> Tally:
        bucket = Bucket(utc_day(self.at), NO_CHANNEL, self.location_id)
        return Tally().add(
            Sheet.DAILY,
            bucket,
            counts_completed=1,
            count_lines=self.lines,
            count_lines_matched=self.matched,
            count_units_over=self.units_over,
            count_units_short=self.units_short,
        )


@dataclass(frozen=True)
class ReturnSeen:
    """A return authorised or received: counted for the channel the units were sold on, at the
    location they come back to."""

    channel: str
    location_id: str
    at: datetime
    received: bool
    restocked: int = 0
    damaged: int = 0
    written_off: int = 0

    def contribution(self) -> Tally:
        bucket = Bucket(utc_day(self.at), self.channel, self.location_id)
        if not self.received:
            return Tally().add(Sheet.DAILY, bucket, returns_authorised=1)
        return Tally().add(
            Sheet.DAILY,
            bucket,
            returns_received=1,
            units_returned=self.restocked + self.damaged + self.written_off,
            units_restocked=self.restocked,
            units_damaged=self.damaged,
            units_written_off=self.written_off,
        )
