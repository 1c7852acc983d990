"""How channel figures are shown: terminal tables and a self-contained HTML report.

Every figure comes from the insights service as it answered it (rates, averages and medians
included, for single rows and for rows it summed); this module only chooses words, units and
charts. The report is one file (inline CSS, SVG charts and a little script): nothing is fetched
when it is viewed.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import pygal
from markupsafe import Markup
from pygal.style import Style
from rich.console import Group, RenderableType
from rich.table import Table

from omnistock.common.v1 import common_pb2
from omnistock.insights.v1 import insights_pb2 as pb
from omnistock_cli.output import table as output_table


@dataclass
class Figures:
    """What one `omnistock insights` asks the service for."""

    rows: list[pb.ChannelInsights]  # by period, channel and location
    total: pb.ChannelInsights | None = None  # the whole range, every channel and location summed
    periods: list[pb.ChannelInsights] = field(default_factory=list)  # by period, the rest summed
    channels: list[pb.ChannelInsights] = field(default_factory=list)  # by channel over the whole range
    locations: list[pb.ChannelInsights] = field(default_factory=list)  # by location over the whole range


# ---------------------------------------------------------------------------------------------
# Words and units shared by the tables and the report.

# Shown where a rate or an average has nothing to be made of.
MISSING = "\N{EN DASH}"
_ZERO_DECIMAL = frozenset({"JPY", "KRW", "ISK", "CLP", "VND", "HUF"})


def channel_label(channel: int) -> str:
    if channel == common_pb2.CHANNEL_UNSPECIFIED:
        return "(stock)"
    return common_pb2.Channel.Name(channel).removeprefix("CHANNEL_").lower()  # type: ignore[arg-type]


def location_label(row: pb.ChannelInsights) -> str:
    return row.location_id or "(none yet)"


def figure(row: pb.ChannelInsights, path: str) -> float | None:
    """A rate or an average by its path ("reservations.no_show_rate"); None where the service says it
    has nothing to be made of."""
    if path in row.undefined_figures:
        return None
    part, name = path.split(".")
    return float(getattr(getattr(row, part), name))


def percent(value: float | None) -> str:
    return MISSING if value is None else f"{value * 100:.1f}%"


def _digits(currency: str) -> int:
    return 0 if currency in _ZERO_DECIMAL else 2


def money(amount_minor: float, currency: str) -> str:
    digits = _digits(currency)
    return f"{amount_minor / 10**digits:,.{digits}f} {currency}".strip()


def duration(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d}"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def revenue_lines(row: pb.ChannelInsights) -> list[str]:
    """One amount per currency: amounts in different currencies do not add up."""
    return [money(r.amount_minor, r.currency) for r in sorted_revenue(row)] or [MISSING]


def aov_lines(row: pb.ChannelInsights) -> list[str]:
    values = [
        money(r.average_order_value_minor, r.currency)
        for r in sorted_revenue(row)
        if f"orders.revenue.{r.currency}.average_order_value_minor" not in row.undefined_figures
    ]
    return values or [MISSING]


def revenue_text(row: pb.ChannelInsights) -> str:
    return ", ".join(revenue_lines(row))


def aov_text(row: pb.ChannelInsights) -> str:
    return ", ".join(aov_lines(row))


def sorted_revenue(row: pb.ChannelInsights) -> list[pb.Revenue]:
    return sorted(row.orders.revenue, key=lambda revenue: revenue.currency)


def units_short(row: pb.ChannelInsights) -> int:
    return sum(shortfall.units_short for shortfall in row.demand.shortfalls)


def headline(total: pb.ChannelInsights) -> list[tuple[str, list[str], str]]:
    """(figure, value in lines, what it is out of) over the whole range."""
    orders, reservations = total.orders, total.reservations
    stock = total.stock
    figures: list[tuple[str, str | list[str], str]] = [
        ("Orders", str(orders.orders), f"{orders.units} units"),
        ("Revenue", revenue_lines(total), ""),
        ("Average order", aov_lines(total), ""),
        (
            "Pickup conversion",
            percent(figure(total, "reservations.pickup_conversion_rate")),
            f"of {reservations.created} reservations",
        ),
        ("No-show rate", percent(figure(total, "reservations.no_show_rate")), ""),
        (
            "Split shipments",
            percent(figure(total, "orders.split_shipment_rate")),
            f"of {orders.allocated} orders allocated",
        ),
        ("Re-routed orders", percent(figure(total, "orders.reroute_rate")), ""),
        ("Short picks", percent(figure(total, "fulfilment.short_pick_rate")), ""),
        ("Reservation → ready", duration(figure(total, "reservations.average_ready_seconds")), "on average"),
        ("Order → ship", duration(figure(total, "orders.average_ship_seconds")), "on average, to the first shipment"),
        ("Refused demand", str(total.demand.refused), "for lack of stock"),
        ("Oversells", str(stock.oversells), f"of {stock.changes_checked} stock changes checked"),
        (
            "Orders on hold",
            percent(figure(total, "orders.hold_rate")),
            f"{orders.held} held, {orders.hold_expired} cancelled when the hold ran out",
        ),
        (
            "Count accuracy",
            percent(figure(total, "stock.count_accuracy")),
            f"of {stock.count_lines} lines in {stock.counts_completed} counts;"
            f" {stock.count_units_over} units over, {stock.count_units_short} short",
        ),
        (
            "Return rate",
            percent(figure(total, "returns.return_rate")),
            f"{total.returns.units_returned} units in {total.returns.received} returns:"
            f" {total.returns.units_restocked} restocked, {total.returns.units_damaged} damaged,"
            f" {total.returns.units_written_off} written off",
        ),
    ]
    return [(name, [value] if isinstance(value, str) else value, note) for name, value, note in figures]


# ---------------------------------------------------------------------------------------------
# Terminal tables.


# Period, channel and location are never cut; the figures wrap, or the table turns into blocks of
# lines where the terminal is too narrow for them (output.FittedTable), never shown as "…".
KEYS = ("period", "channel", "location")


def render_tables(figures: Figures) -> Group:
    if not figures.rows:
        return Group("No figures for this range.")
    orders: list[list[str]] = []
    reservations: list[list[str]] = []
    operations: list[list[str]] = []
    returns: list[list[str]] = []
    columns = {
        "Orders": [
            *KEYS, "orders", "units", "revenue", "avg order", "ship", "pickup", "carry-out", "split", "re-routed",
            "order→ship",
        ],
        "Reservations": [
            *KEYS, "created", "collected", "expired", "cancelled", "conversion", "no-show", "→ready",
        ],
        "Fulfilment, refused demand and stock": [
            *KEYS, "picked", "short", "short-pick", "refused", "units short", "stock checks", "oversells",
            "counted lines", "count accuracy",
        ],
        "Returns": [
            *KEYS, "authorised", "received", "units", "restocked", "damaged", "written off", "return rate",
        ],
    }  # fmt: skip
    for row in figures.rows:
        key = (row.period_start, channel_label(row.channel), location_label(row))
        back = row.returns
        if back.authorised or back.received:
            returns.append([
                *key, str(back.authorised), str(back.received), str(back.units_returned), str(back.units_restocked),
                str(back.units_damaged), str(back.units_written_off), percent(figure(row, "returns.return_rate")),
            ])  # fmt: skip
        o, r, f = row.orders, row.reservations, row.fulfilment
        if o.orders:
            orders.append([
                *key, str(o.orders), str(o.units), revenue_text(row), aov_text(row),
                percent(figure(row, "orders.ship_share")), percent(figure(row, "orders.pickup_share")),
                percent(figure(row, "orders.carry_out_share")), percent(figure(row, "orders.split_shipment_rate")),
                percent(figure(row, "orders.reroute_rate")), duration(figure(row, "orders.average_ship_seconds")),
            ])  # fmt: skip
        if r.created or r.collected:
            reservations.append([
                *key, str(r.created), str(r.collected), str(r.expired), str(r.cancelled),
                percent(figure(row, "reservations.pickup_conversion_rate")),
                percent(figure(row, "reservations.no_show_rate")),
                duration(figure(row, "reservations.average_ready_seconds")),
            ])  # fmt: skip
        if (
            f.tasks_picked + f.tasks_short_picked
            or row.demand.refused
            or row.demand.short_lines
            or row.stock.changes_checked
            or row.stock.count_lines
        ):
            operations.append([
                *key, str(f.tasks_picked), str(f.tasks_short_picked),
                percent(figure(row, "fulfilment.short_pick_rate")), str(row.demand.refused), str(units_short(row)),
                str(row.stock.changes_checked), str(row.stock.oversells), str(row.stock.count_lines),
                percent(figure(row, "stock.count_accuracy")),
            ])  # fmt: skip
    parts: list[RenderableType] = [
        output_table(title, columns[title], rows, ids=KEYS)
        for title, rows in zip(columns, (orders, reservations, operations, returns), strict=True)
        if rows
    ]
    if figures.total is not None:
        summary = Table(title="Over the whole range", title_justify="left", header_style="bold")
        summary.add_column("figure", no_wrap=True)
        summary.add_column("value")
        for name, lines, note in headline(figures.total):
            value = ", ".join(lines)
            summary.add_row(name, f"{value} ({note})" if note else value)
        parts.append(summary)
    return Group(*parts)


# ---------------------------------------------------------------------------------------------
# Charts: pygal draws them; they are inlined into the page without anything it would fetch.

PALETTE = ("#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2")
_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#334155",
    foreground_strong="#0f172a",
    foreground_subtle="#e2e8f0",
    opacity="1",
    opacity_hover=".8",
    colors=PALETTE,
    font_family='system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    value_font_size=12,
    tooltip_font_size=12,
)
_SVG = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class Layout:
    """The drawing size of a chart, close to the size it is shown at so that its text reads at the
    size it was drawn: a desktop column, or a phone's width."""

    width: int
    height: int
    most_labels: int  # under an axis; more periods get every n-th labelled


WIDE = Layout(600, 300, 8)
NARROW = Layout(340, 260, 4)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # None: nothing to show for that label


@dataclass(frozen=True)
class Chart:
    title: str
    wide: Markup
    narrow: Markup
    note: str = ""  # what the whole chart is about, beside its title


@dataclass(frozen=True)
class TimeUnit:
    name: str
    seconds: float

    def of(self, seconds: float | None) -> float | None:
        return None if seconds is None else seconds / self.seconds


_TIME_UNITS = (TimeUnit("seconds", 1), TimeUnit("minutes", 60), TimeUnit("hours", 3600), TimeUnit("days", 86400))


def time_unit(longest_seconds: float) -> TimeUnit:
    """The largest unit in which the longest time still reads as at least 2: 90 s in seconds,
    40 minutes in minutes, 26 hours in hours, a week in days."""
    chosen = _TIME_UNITS[0]
    for unit in _TIME_UNITS:
        if longest_seconds >= 2 * unit.seconds:
            chosen = unit
    return chosen


def ticks(top: float, *, whole: bool) -> list[float]:
    """Marks for a value axis from 0 up to at least `top`: at most five steps, each a round number
    (a whole one for counts)."""
    if top <= 0:
        return [0, 1]
    magnitude = 10.0 ** math.floor(math.log10(top / 5))
    for step in (factor * magnitude * scale for scale in (1, 10) for factor in (1, 2, 2.5, 5)):
        if whole and (step < 1 or step != int(step)):
            continue
        steps = math.ceil(top / step)
        if steps <= 5:
            return [int(step * i) if whole else step * i for i in range(steps + 1)]
    return [0, top]


_AT = " @ "


def _shortened(label: str, most: int) -> str:
    """At most `most` characters; each part of "SKU @ location" loses its middle alike, so that both
    keep what usually tells them apart: how they begin and how they end."""
    if len(label) <= most:
        return label
    parts = label.split(_AT)
    room = max(3, (most - len(_AT) * (len(parts) - 1)) // len(parts))
    return _AT.join(part if len(part) <= room else _middle_out(part, room) for part in parts)


def _middle_out(text: str, most: int) -> str:
    head = most // 2
    return text[:head] + "\N{HORIZONTAL ELLIPSIS}" + text[len(text) - (most - head - 1) :]


def _axis(value: float) -> str:
    """A mark on a value axis: 950, 1.2k, 35k, 2.5M; 7.5 or 0.25 where the values are small."""
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def _whole_percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _config(layout: Layout, labels: Sequence[str], names: Sequence[str], **options: object) -> dict[str, object]:
    every = max(1, math.ceil(len(labels) / layout.most_labels))
    # As many legend columns as fit the longest name. pygal leaves room for len // columns rows of
    # legend, one short where the last row is not full: the margin makes up for it.
    columns = max(1, min(len(names), int(layout.width // (max(map(len, names), default=1) * 7.5 + 32))))
    missing_rows = math.ceil(len(names) / columns) - len(names) // columns
    margin = 10
    return {
        "width": layout.width,
        "height": layout.height,
        "style": _STYLE,
        "js": [],
        "disable_xml_declaration": True,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": columns,
        "margin": margin,
        "margin_bottom": margin + missing_rows * 1.5 * _STYLE.legend_font_size,
        "show_legend": len(names) > 1,
        "truncate_legend": -1,
        "truncate_label": -1,
        "show_minor_x_labels": every == 1,
        "x_labels_major_every": every,
        "spacing": 10,
        **options,
    }


def _inline(chart: pygal.graph.graph.Graph, title: str, names: Sequence[str]) -> Markup:
    """The chart as SVG for an HTML page: no namespace declarations, comments or scripts (they name
    addresses, though nothing is fetched), and a native tooltip on every bar and point."""
    root = ElementTree.fromstring(chart.render(is_unicode=True))
    for element in root.iter():
        element.tag = element.tag.removeprefix(_SVG)
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag == "script":
                parent.remove(child)
    for series in root.iter("g"):
        classes = (series.get("class") or "").split()
        if "series" not in classes:
            continue
        index = next(int(name.removeprefix("serie-")) for name in classes if name.startswith("serie-"))
        for point in series.iter():
            value = point.find("desc[@class='value']")
            if value is None:
                continue
            label = point.find("desc[@class='label']")
            if label is None:
                label = point.find("desc[@class='x_label']")
            words = [label.text if label is not None and label.text else "", names[index] if len(names) > 1 else ""]
            tip = ElementTree.Element("title")
            tip.text = f"{' · '.join(word for word in words if word)}: {value.text}"
            point.insert(0, tip)
    root.set("role", "img")
    root.set("aria-label", title)
    return Markup(ElementTree.tostring(root, encoding="unicode"))


def _draw(title: str, series: Sequence[Series], build: Callable[[Layout], pygal.graph.graph.Graph]) -> Chart:
    names = [one.name for one in series]
    return Chart(title, _inline(build(WIDE), title, names), _inline(build(NARROW), title, names))


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str] = _count,
    *,
    whole: bool = True,
    stacked: bool = False,
    horizontal: bool = False,
) -> Chart:
    """Bars per label, side by side, stacked, or (one series) lying down; `fmt` writes a value in a tooltip."""
    columns = [[one.values[index] or 0.0 for one in series] for index in range(len(labels))]
    top = max((sum(column) if stacked else max(column, default=0.0) for column in columns), default=0.0)
    marks = ticks(top, whole=whole)
    kind = pygal.HorizontalBar if horizontal else pygal.StackedBar if stacked else pygal.Bar

    def build(layout: Layout) -> pygal.graph.graph.Graph:
        full, values = list(labels), [list(one.values) for one in series]
        shown = full
        if horizontal:
            layout = replace(layout, height=max(layout.height // 2, 60 + 36 * len(labels)), most_labels=len(labels))
            # pygal lays the first label at the bottom: the first (the largest) goes on top.
            full, values = full[::-1], [column[::-1] for column in values]
            # Labels beside the bars take at most about 45 % of the width; a longer one loses its
            # middle and is whole in its tooltip.
            shown = [_shortened(label, int(layout.width * 0.45 / 7.2)) for label in full]
        names = [one.name for one in series]
        chart = kind(
            **_config(layout, shown, names, value_formatter=_axis, formatter=fmt, range=(0, marks[-1])),
            y_labels=marks,
        )
        chart.x_labels = shown
        for one, column in zip(series, values, strict=True):
            chart.add(one.name, [{"value": value, "label": label} for value, label in zip(column, full, strict=True)])
        return chart

    return _draw(title, series, build)


def rate_chart(title: str, labels: Sequence[str], series: Sequence[Series]) -> Chart:
    """Rates from 0 to 100 %; a period without a denominator leaves a gap."""

    def build(layout: Layout) -> pygal.graph.graph.Graph:
        names = [one.name for one in series]
        chart = pygal.Line(
            **_config(layout, labels, names, range=(0, 1), value_formatter=_whole_percent, formatter=percent),
            y_labels=[0, 0.25, 0.5, 0.75, 1],
            allow_interruptions=True,
        )
        chart.x_labels = list(labels)
        for one in series:
            chart.add(one.name, list(one.values))
        return chart

    return _draw(title, series, build)


def short_day(period_start: str) -> str:
    day = datetime.strptime(period_start, "%Y-%m-%d")
    return f"{day:%b} {day.day}"


def charts(figures: Figures) -> list[Chart]:
    periods = figures.periods
    labels = [short_day(row.period_start) for row in periods]

    def each(get: Callable[[pb.ChannelInsights], float | None]) -> list[float | None]:
        return [get(row) for row in periods]

    def rate(path: str) -> list[float | None]:
        return each(lambda row: figure(row, path))

    found = [
        bar_chart(
            "Orders by fulfilment method",
            labels,
            [
                Series("ship", each(lambda row: row.orders.ship)),
                Series("pickup", each(lambda row: row.orders.pickup)),
                Series("carry-out", each(lambda row: row.orders.carry_out)),
            ],
            stacked=True,
        ),
        _revenue_chart(figures, labels),
        bar_chart(
            "Reservations",
            labels,
            [
                Series("created", each(lambda row: row.reservations.created)),
                Series("collected", each(lambda row: row.reservations.collected)),
                Series("expired", each(lambda row: row.reservations.expired)),
                Series("cancelled", each(lambda row: row.reservations.cancelled)),
            ],
        ),
        rate_chart(
            "Rates",
            labels,
            [
                Series("pickup conversion", rate("reservations.pickup_conversion_rate")),
                Series("no-show", rate("reservations.no_show_rate")),
                Series("split shipments", rate("orders.split_shipment_rate")),
                Series("re-routed", rate("orders.reroute_rate")),
                Series("short picks", rate("fulfilment.short_pick_rate")),
            ],
        ),
        _time_chart(labels, rate("reservations.average_ready_seconds"), rate("orders.average_ship_seconds")),
    ]
    # Stock checks belong to no channel: only the channels that sold or reserved are compared.
    channels = [row for row in figures.channels if row.orders.orders or row.reservations.created or row.demand.refused]
    found.append(
        bar_chart(
            "By channel",
            [channel_label(row.channel) for row in channels],
            [
                Series("orders", [row.orders.orders for row in channels]),
                Series("reservations", [row.reservations.created for row in channels]),
                Series("refused demand", [row.demand.refused for row in channels]),
            ],
        )
    )
    shortfalls = top_shortfalls(figures.locations)
    if shortfalls:
        # One location is named once, beside the title, rather than on every bar.
        places = {location for _, location, _, _ in shortfalls}
        chart = bar_chart(
            "Most units refused for lack of stock",
            [sku if len(places) == 1 else f"{sku}{_AT}{location}" for sku, location, _, _ in shortfalls],
            [Series("units short", [short for _, _, _, short in shortfalls])],
            lambda value: f"{value:,.0f} units",
            horizontal=True,
        )
        found.append(replace(chart, note=f"at {places.pop()}") if len(places) == 1 else chart)
    return found


def _revenue_chart(figures: Figures, labels: Sequence[str]) -> Chart:
    # One currency per chart: amounts in different currencies do not add up.
    revenue = figures.total.orders.revenue if figures.total is not None else []
    currency = max(revenue, key=lambda r: r.amount_minor).currency if revenue else ""
    unit = 10 ** _digits(currency)
    values = [
        sum(r.amount_minor for r in row.orders.revenue if r.currency == currency) / unit for row in figures.periods
    ]
    return bar_chart(
        f"Revenue ({currency})" if currency else "Revenue",
        labels,
        [Series(currency or "revenue", values)],
        lambda value: money(value * unit, currency),
        whole=False,
    )


def _time_chart(labels: Sequence[str], ready: Sequence[float | None], ship: Sequence[float | None]) -> Chart:
    unit = time_unit(max((value for value in (*ready, *ship) if value is not None), default=0.0))
    return bar_chart(
        f"Average time, in {unit.name}",
        labels,
        [
            Series("reservation → ready", [unit.of(value) for value in ready]),
            Series("order → ship", [unit.of(value) for value in ship]),
        ],
        lambda value: f"{value:,.1f} {unit.name}",
        whole=False,
    )


def top_shortfalls(locations: Iterable[pb.ChannelInsights], limit: int = 10) -> list[tuple[str, str, int, int]]:
    """(sku, location, refusals, units short): the most units short first."""
    found = [
        (shortfall.sku, row.location_id, shortfall.refusals, shortfall.units_short)
        for row in locations
        for shortfall in row.demand.shortfalls
    ]
    found.sort(key=lambda item: (-item[3], -item[2], item[0], item[1]))
    return found[:limit]


# ---------------------------------------------------------------------------------------------
# The page.

_COLUMNS = [
    ("Period", "text"), ("Channel", "text"), ("Location", "text"), ("Orders", "num"), ("Units", "num"),
    ("Revenue", "text"), ("Pickup conv.", "num"), ("No-show", "num"), ("Split", "num"), ("Re-routed", "num"),
    ("Short picks", "num"), ("Refused", "num"), ("Stock checks", "num"), ("Oversells", "num"),
]  # fmt: skip
_RATE_COLUMNS = (
    "reservations.pickup_conversion_rate",
    "reservations.no_show_rate",
    "orders.split_shipment_rate",
    "orders.reroute_rate",
    "fulfilment.short_pick_rate",
)
NOTES = [
    ("Days", "Reservations, orders and tasks count on the UTC day they were created, so a rate compares like "
     "with like: Monday's conversion is how many of Monday's reservations were collected, whenever that was."),
    ("Pickup conversion", "Reservations collected ÷ reservations created."),
    ("No-show rate", "Reservations that expired ÷ (collected + expired)."),
    ("Split shipments", "Orders whose first allocation used more than one location ÷ orders allocated."),
    ("Re-routed orders", "Orders re-routed at least once (after a short pick) ÷ orders."),
    ("Short picks", "Pick tasks short-picked ÷ tasks picked in full or short."),
    ("Refused demand", "Reservations and orders refused for lack of stock, by SKU at the location that was short."),
    ("Oversells", "Stock changes showing more units held than on hand (beyond stock on its way, for backorder "
     "items) or a negative on hand. Every change is checked; the number is counted, not assumed."),
    ("Locations", "An order counts at its store (pickup, carry-out) or at the location of its first allocation."),
    ("Orders on hold", "Orders put on a fulfilment hold (payment pending, fraud review, address check) ÷ orders; "
     "and how many of them were cancelled because the hold was never released."),
    ("Count accuracy", "Lines of completed cycle counts where the shelf matched the book ÷ lines counted, on the "
     "day the count was posted, at its location."),
    ("Return rate", "Units returned (received and inspected) ÷ units sold, for the channel the units were sold on. "
     "A return counts at the location that received it on the day it was received; over a channel's rows summed "
     "it is the share of the units the channel sold that came back."),
]  # fmt: skip


def _cells(row: pb.ChannelInsights) -> list[tuple[list[str], str | float]]:
    """(lines of text, sort key) of each column; a missing rate sorts below 0 %."""
    rates: list[tuple[list[str], str | float]] = []
    for path in _RATE_COLUMNS:
        value = figure(row, path)
        rates.append(([percent(value)], -1 if value is None else value))
    channel = channel_label(row.channel)
    revenue = revenue_lines(row)
    return [
        ([row.period_start], row.period_start),
        ([channel], channel),
        ([location_label(row)], row.location_id),
        ([str(row.orders.orders)], row.orders.orders),
        ([str(row.orders.units)], row.orders.units),
        (revenue, revenue_text(row)),
        *rates,
        ([str(row.demand.refused)], row.demand.refused),
        ([str(row.stock.changes_checked)], row.stock.changes_checked),
        ([str(row.stock.oversells)], row.stock.oversells),
    ]


_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_html(figures: Figures, *, title: str, subtitle: str) -> str:
    return _TEMPLATES.get_template("insights.html.j2").render(
        title=title,
        subtitle=subtitle,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        headline=headline(figures.total) if figures.rows and figures.total is not None else [],
        charts=charts(figures) if figures.rows else [],
        columns=_COLUMNS,
        rows=[_cells(row) for row in figures.rows],
        notes=NOTES,
    )
