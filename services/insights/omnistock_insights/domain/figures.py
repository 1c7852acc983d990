"""Rates and averages made from the counts, so that every one of them is exact."""

from __future__ import annotations

from collections.abc import Mapping


def ratio(numerator: int, denominator: int) -> float:
    """0 when there is nothing to divide by: no reservations means no conversion, not a failure."""
    return numerator / denominator if denominator else 0.0


def average_seconds(ms_sum: int, count: int) -> float:
    return ratio(ms_sum, count) / 1000.0


def rates(counts: Mapping[str, int]) -> dict[str, float]:
    """The rates of one row of daily counts (see the column names in tally.COUNTS)."""
    orders = counts["orders"]
    return {
        "pickup_conversion_rate": ratio(counts["reservations_collected"], counts["reservations_created"]),
        "no_show_rate": ratio(
            counts["reservations_expired"], counts["reservations_collected"] + counts["reservations_expired"]
        ),
        "average_ready_seconds": average_seconds(counts["ready_time_ms_sum"], counts["reservations_ready"]),
        "ship_share": ratio(counts["orders_ship"], orders),
        "pickup_share": ratio(counts["orders_pickup"], orders),
        "carry_out_share": ratio(counts["orders_carry_out"], orders),
        "split_shipment_rate": ratio(counts["orders_split"], counts["orders_allocated"]),
        "reroute_rate": ratio(counts["orders_rerouted"], orders),
        "average_ship_seconds": average_seconds(counts["ship_time_ms_sum"], counts["orders_shipped"]),
        "short_pick_rate": ratio(counts["tasks_short_picked"], counts["tasks_picked"] + counts["tasks_short_picked"]),
    }
