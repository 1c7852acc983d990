"""How the report words and draws the figures the service answered."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from omnistock.common.v1 import common_pb2
from omnistock.insights.v1 import insights_pb2 as pb
from omnistock_cli.insights_view import (
    MISSING,
    Figures,
    _shortened,
    figure,
    headline,
    render_html,
    render_tables,
    ticks,
    time_unit,
)


@pytest.mark.parametrize(
    ("seconds", "unit"),
    [(0, "seconds"), (29, "seconds"), (119, "seconds"), (120, "minutes"), (40 * 60, "minutes"),
     (2 * 3600, "hours"), (26 * 3600, "hours"), (47 * 3600, "hours"), (2 * 86400, "days"), (9 * 86400, "days")],
)  # fmt: skip
def test_times_read_in_the_largest_unit_that_keeps_them_at_least_2(seconds: float, unit: str) -> None:
    assert time_unit(seconds).name == unit


@given(st.floats(min_value=0.5, max_value=1e12), st.booleans())
def test_axis_marks_are_few_round_steps_from_0_past_the_top(top: float, whole: bool) -> None:
    if whole:
        top = max(1.0, top)
    marks = ticks(top, whole=whole)
    steps = [b - a for a, b in itertools.pairwise(marks)]
    assert marks[0] == 0 and marks[-1] >= top and 2 <= len(marks) <= 6
    assert max(steps) == pytest.approx(min(steps))
    # The top mark is at most one step above the top value; a step is 1, 2, 2.5 or 5 times a power of 10.
    assert marks[-2] < top
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
    assert any(mantissa == pytest.approx(round_number) for round_number in (1, 2, 2.5, 5, 10))
    if whole:
        assert all(float(mark).is_integer() for mark in marks)


def test_axis_marks_of_the_reported_figures() -> None:
    assert ticks(26, whole=False) == [0, 10, 20, 30]
    assert ticks(3, whole=True) == [0, 1, 2, 3]
    assert ticks(104.97, whole=False) == [0, 25, 50, 75, 100, 125]
    assert ticks(0, whole=True) == [0, 1]


@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=80), st.integers(12, 60))
def test_a_shortened_label_fits_and_keeps_both_parts(sku: str, location: str, most: int) -> None:
    label = f"{sku} @ {location}"
    shown = _shortened(label, most)
    if len(label) <= most:
        assert shown == label
    else:
        assert len(shown) <= most + 3
        assert shown.count(" @ ") >= 1
        assert shown[0] == label[0] and shown[-1] == label[-1]


def a_row(**figures: object) -> pb.ChannelInsights:
    return pb.ChannelInsights(period_start="2026-06-01", period_end="2026-06-01", **figures)  # type: ignore[arg-type]


def test_a_rate_the_service_calls_undefined_reads_as_missing_not_zero() -> None:
    row = a_row(
        reservations=pb.ReservationFigures(created=4, collected=0, pickup_conversion_rate=0.0),
        undefined_figures=["reservations.no_show_rate", "orders.revenue.EUR.average_order_value_minor"],
        orders=pb.OrderFigures(revenue=[pb.Revenue(currency="EUR", amount_minor=1250, orders=0)]),
    )
    assert figure(row, "reservations.pickup_conversion_rate") == 0.0
    assert figure(row, "reservations.no_show_rate") is None
    shown = {name: (lines, note) for name, lines, note in headline(row)}
    assert shown["Pickup conversion"] == (["0.0%"], "of 4 reservations")
    assert shown["No-show rate"] == ([MISSING], "")
    assert shown["Revenue"] == (["12.50 EUR"], "")
    assert shown["Average order"] == ([MISSING], "")


def test_the_report_escapes_what_the_figures_carry() -> None:
    row = a_row(location_id="<script>alert(1)</script>", channel=common_pb2.CHANNEL_WEB)
    page = render_html(
        Figures(rows=[row], total=row, periods=[row], channels=[row], locations=[row]), title="t", subtitle="<b>"
    )
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<b>" not in page


def test_no_rows_say_so() -> None:
    assert "No figures" in render_html(Figures(rows=[]), title="t", subtitle="s")
    assert render_tables(Figures(rows=[])).renderables == ["No figures for this range."]


def test_periods_without_a_figure_leave_gaps_in_the_charts() -> None:
    """A day with no reservations and no shipments has no average times and no rates to draw."""
    undefined = ["reservations.average_ready_seconds", "orders.average_ship_seconds", "reservations.no_show_rate"]
    quiet = a_row(undefined_figures=undefined, stock=pb.StockFigures(changes_checked=3))
    busy = a_row(
        reservations=pb.ReservationFigures(created=2, ready=2, average_ready_seconds=300.0),
        undefined_figures=["orders.average_ship_seconds"],
    )
    busy.period_start = busy.period_end = "2026-06-02"
    page = render_html(
        Figures(rows=[quiet, busy], total=busy, periods=[quiet, busy], channels=[busy], locations=[]),
        title="t",
        subtitle="s",
    )
    assert "Average time, in minutes" in page
    assert "Jun 2 · reservation → ready: 5.0 minutes" in page
    assert "Jun 1 · reservation → ready" not in page


def test_the_headline_tells_count_accuracy_and_held_orders_and_says_when_there_is_none() -> None:
    counted = a_row(
        orders=pb.OrderFigures(orders=4, held=2, hold_expired=1, hold_rate=0.5),
        stock=pb.StockFigures(
            counts_completed=2, count_lines=20, count_lines_matched=18, count_units_over=1, count_units_short=3,
            count_accuracy=0.9,
        ),
    )  # fmt: skip
    shown = {name: (lines, note) for name, lines, note in headline(counted)}
    assert shown["Count accuracy"] == (["90.0%"], "of 20 lines in 2 counts; 1 units over, 3 short")
    assert shown["Orders on hold"] == (["50.0%"], "2 held, 1 cancelled when the hold ran out")
    nothing = a_row(undefined_figures=["orders.hold_rate", "stock.count_accuracy"])
    shown = {name: (lines, note) for name, lines, note in headline(nothing)}
    assert shown["Count accuracy"][0] == [MISSING] and shown["Orders on hold"][0] == [MISSING]
    tables = {table.title: table for table in render_tables(Figures(rows=[counted])).renderables}
    operations = tables["Fulfilment, refused demand and stock"]
    assert operations.columns[-2:] == ["counted lines", "count accuracy"]
    assert [str(cell) for cell in operations.rows[0]][-2:] == ["20", "90.0%"]


def test_the_headline_and_a_table_tell_returns_and_say_when_there_are_none() -> None:
    returned = a_row(
        orders=pb.OrderFigures(orders=2, units=8),
        returns=pb.ReturnFigures(
            authorised=3, received=2, units_returned=4, units_restocked=1, units_damaged=1, units_written_off=2,
            return_rate=0.5,
        ),
    )  # fmt: skip
    shown = {name: (lines, note) for name, lines, note in headline(returned)}
    assert shown["Return rate"] == (["50.0%"], "4 units in 2 returns: 1 restocked, 1 damaged, 2 written off")
    nothing = a_row(undefined_figures=["returns.return_rate"])
    assert {name: lines for name, lines, _ in headline(nothing)}["Return rate"] == [MISSING]
    tables = {table.title: table for table in render_tables(Figures(rows=[returned])).renderables}
    cells = [str(cell) for cell in tables["Returns"].rows[0]][3:]
    assert cells == ["3", "2", "4", "1", "1", "2", "50.0%"]
    assert "Returns" not in {table.title for table in render_tables(Figures(rows=[nothing])).renderables}


def test_every_figure_is_whole_on_an_80_column_terminal() -> None:
    """The tables fit the terminal as every table of the CLI does (wrapped, else a block of lines per
    row): a figure is never cut to "…"."""
    row = a_row(
        orders=pb.OrderFigures(orders=123456, units=987654),
        returns=pb.ReturnFigures(authorised=3, received=2, units_returned=4, units_restocked=4),
    )
    screen = Console(width=80, record=True, highlight=False)
    screen.print(render_tables(Figures(rows=[row])))
    printed = screen.export_text()
    assert "…" not in printed
    assert "123456" in printed and "987654" in printed
