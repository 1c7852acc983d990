"""The report's rows as ChannelInsights messages."""

from __future__ import annotations

from omnistock.insights.v1 import insights_pb2
from omnistock_insights.adapters.events import channel_code
from omnistock_insights.adapters.report import ReportRow
from omnistock_insights.domain.figures import FIGURES, rates, ratio
from omnistock_insights.domain.periods import DateRange, Grouping


def insights_row(row: ReportRow, dates: DateRange, grouping: Grouping) -> insights_pb2.ChannelInsights:
    """One row of the report, every rate next to the counts it is made of; a rate with nothing to be made
    of is 0 and named in undefined_figures."""
    counts = row.counts
    made = rates(counts)
    rate = {name: value or 0.0 for name, value in made.items()}
    undefined = [figure.path for figure in FIGURES if made[figure.name] is None]
    undefined += [
        f"orders.revenue.{revenue.currency}.average_order_value_minor" for revenue in row.revenue if not revenue.orders
    ]
    key, channel, location_id = row.key
    first, last = dates.period_span(key, grouping)
    return insights_pb2.ChannelInsights(
        period_start=first.isoformat(),
        period_end=last.isoformat(),
        channel=channel_code(channel),
        location_id=location_id,
        reservations=insights_pb2.ReservationFigures(
            created=counts["reservations_created"],
            collected=counts["reservations_collected"],
            expired=counts["reservations_expired"],
            cancelled=counts["reservations_cancelled"],
            converted=counts["reservations_converted"],
            pickup_conversion_rate=rate["pickup_conversion_rate"],
            no_show_rate=rate["no_show_rate"],
            ready=counts["reservations_ready"],
            ready_time_ms_sum=counts["ready_time_ms_sum"],
            average_ready_seconds=rate["average_ready_seconds"],
            median_ready_seconds=row.median_ready_seconds,
        ),
        orders=insights_pb2.OrderFigures(
            orders=counts["orders"],
            units=counts["units"],
            cancelled=counts["orders_cancelled"],
            revenue=[
                insights_pb2.Revenue(
                    currency=revenue.currency,
                    amount_minor=revenue.amount_minor,
                    orders=revenue.orders,
                    average_order_value_minor=ratio(revenue.amount_minor, revenue.orders) or 0.0,
                )
                for revenue in row.revenue
            ],
            ship=counts["orders_ship"],
            pickup=counts["orders_pickup"],
            carry_out=counts["orders_carry_out"],
            ship_share=rate["ship_share"],
            pickup_share=rate["pickup_share"],
            carry_out_share=rate["carry_out_share"],
            allocated=counts["orders_allocated"],
            split=counts["orders_split"],
            split_shipment_rate=rate["split_shipment_rate"],
            rerouted=counts["orders_rerouted"],
            reroute_rate=rate["reroute_rate"],
            shipped=counts["orders_shipped"],
            ship_time_ms_sum=counts["ship_time_ms_sum"],
            average_ship_seconds=rate["average_ship_seconds"],
            median_ship_seconds=row.median_ship_seconds,
            held=counts["orders_held"],
            hold_expired=counts["orders_hold_expired"],
            hold_rate=rate["hold_rate"],
        ),
        fulfilment=insights_pb2.FulfilmentFigures(
            tasks_picked=counts["tasks_picked"],
            tasks_short_picked=counts["tasks_short_picked"],
            short_pick_rate=rate["short_pick_rate"],
        ),
        demand=insights_pb2.DemandFigures(
            refused=counts["demand_refused"],
            short_lines=counts["short_lines"],
            shortfalls=[
                insights_pb2.Shortfall(
                    sku=shortfall.sku,
                    refusals=shortfall.refusals,
                    units_requested=shortfall.units_requested,
                    units_short=shortfall.units_short,
                )
                for shortfall in row.shortfalls
            ],
        ),
        stock=insights_pb2.StockFigures(
            changes_checked=counts["stock_changes"],
            oversells=counts["oversells"],
            counts_completed=counts["counts_completed"],
            count_lines=counts["count_lines"],
            count_lines_matched=counts["count_lines_matched"],
            count_units_over=counts["count_units_over"],
            count_units_short=counts["count_units_short"],
            count_accuracy=rate["count_accuracy"],
        ),
        returns=insights_pb2.ReturnFigures(
            authorised=counts["returns_authorised"],
            received=counts["returns_received"],
            units_returned=counts["units_returned"],
            units_restocked=counts["units_restocked"],
            units_damaged=counts["units_damaged"],
            units_written_off=counts["units_written_off"],
            return_rate=rate["return_rate"],
        ),
        undefined_figures=undefined,
    )
