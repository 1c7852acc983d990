"""Rates and averages made from the counts, so that every one of them is exact.

Each is a numerator over a denominator, both sums of daily counts (see the column names in
tally.COUNTS): a row that sums other rows (a week, a channel, the whole range) gets its rates from
its own sums, never as an average of the rows' rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    part: str  # the group of figures it is reported in: reservations, orders, fulfilment
    name: str
    numerator: tuple[str, ...]
    denominator: tuple[str, ...]
    per: float = 1.0  # 1000 turns a sum of milliseconds into an average in seconds

    @property
    def path(self) -> str:
        return f"{self.part}.{self.name}"

    def of(self, counts: Mapping[str, int]) -> float | None:
        """None when there is nothing to divide by: no reservations means no conversion, not a failure."""
        denominator = sum(counts[name] for name in self.denominator)
        if not denominator:
            return None
        return sum(counts[name] for name in self.numerator) / denominator / self.per


FIGURES: tuple[Figure, ...] = (
    Figure("reservations", "pickup_conversion_rate", ("reservations_collected",), ("reservations_created",)),
    Figure(
        "reservations", "no_show_rate", ("reservations_expired",), ("reservations_collected", "reservations_expired")
    ),
    Figure("reservations", "average_ready_seconds", ("ready_time_ms_sum",), ("reservations_ready",), per=1000.0),
    Figure("orders", "ship_share", ("orders_ship",), ("orders",)),
    Figure("orders", "pickup_share", ("orders_pickup",), ("orders",)),
    Figure("orders", "carry_out_share", ("orders_carry_out",), ("orders",)),
    Figure("orders", "split_shipment_rate", ("orders_split",), ("orders_allocated",)),
    Figure("orders", "reroute_rate", ("orders_rerouted",), ("orders",)),
    Figure("orders", "average_ship_seconds", ("ship_time_ms_sum",), ("orders_shipped",), per=1000.0),
    Figure("fulfilment", "short_pick_rate", ("tasks_short_picked",), ("tasks_picked", "tasks_short_picked")),
    Figure("orders", "hold_rate", ("orders_held",), ("orders",)),
    Figure("stock", "count_accuracy", ("count_lines_matched",), ("count_lines",)),
    Figure("returns", "return_rate", ("units_returned",), ("units",)),
)


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def rates(counts: Mapping[str, int]) -> dict[str, float | None]:
    """The rates and averages of one row of counts, by name; None where there is nothing to divide by."""
    return {figure.name: figure.of(counts) for figure in FIGURES}
