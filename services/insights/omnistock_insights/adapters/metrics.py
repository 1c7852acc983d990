"""Live counters for Prometheus, fed by what each live event added to the figures.

They count from the moment the process started (a rebuild does not feed them); the
projection's tables are the figures of record.
"""

from __future__ import annotations

from prometheus_client import Counter

from omnistock_insights.domain.journeys import Method, Outcome
from omnistock_insights.domain.tally import Sheet, Tally

RESERVATIONS = Counter(
    "omnistock_insights_reservations_total", "Reservations created and how they ended", ["channel", "outcome"]
)
ORDERS = Counter("omnistock_insights_orders_total", "Orders placed", ["channel", "method"])
REVENUE = Counter("omnistock_insights_revenue_minor_total", "Revenue ordered, in minor units", ["currency"])
DEMAND_REFUSED = Counter("omnistock_insights_demand_refused_total", "Demand refused for lack of stock", ["channel"])
UNITS_SHORT = Counter("omnistock_insights_units_short_total", "Units refused for lack of stock", ["channel"])
STOCK_CHECKED = Counter("omnistock_insights_stock_changes_checked_total", "Stock changes checked for an oversell")
OVERSELLS = Counter("omnistock_insights_oversells_total", "Stock changes showing more held than on hand")


def _daily(change: Tally, name: str) -> dict[str, int]:
    return {channel: value for (channel, _), value in change.totals(Sheet.DAILY, name).items() if value > 0}


def record(change: Tally) -> None:
    """Counters only go up: a count moved between buckets nets to zero and is not recorded."""
    for outcome in ("created", *(o.value for o in Outcome)):
        for channel, value in _daily(change, f"reservations_{outcome}").items():
            RESERVATIONS.labels(channel, outcome).inc(value)
    by_method = {
        method: _daily(change, f"orders_{method.value}") for method in Method if method is not Method.UNSPECIFIED
    }
    for channel, orders in _daily(change, "orders").items():
        for method, counts in by_method.items():
            ORDERS.labels(channel, method.value).inc(counts.get(channel, 0))
            orders -= counts.get(channel, 0)
        if orders > 0:
            ORDERS.labels(channel, Method.UNSPECIFIED.value).inc(orders)
    for (_, currency), value in change.totals(Sheet.REVENUE, "amount_minor").items():
        if value > 0:
            REVENUE.labels(currency).inc(value)
    for channel, value in _daily(change, "demand_refused").items():
        DEMAND_REFUSED.labels(channel).inc(value)
    for (channel, _), value in change.totals(Sheet.SHORTFALL, "units_short").items():
        if value > 0:
            UNITS_SHORT.labels(channel).inc(value)
    STOCK_CHECKED.inc(sum(_daily(change, "stock_changes").values()))
    OVERSELLS.inc(sum(_daily(change, "oversells").values()))
