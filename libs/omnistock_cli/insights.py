"""`omnistock insights`: channel figures as tables, as JSON, or as an HTML report a store
manager can open anywhere (one file: inline CSS, SVG charts and a little script, nothing
fetched when it is viewed). `omnistock insights-rebuild` replays the stream into the figures.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from google.protobuf import json_format
from omnistock_client import OmnistockClient
from omnistock_client.client import new_request_id
from rich.console import Group
from rich.table import Table

from omnistock.common.v1 import common_pb2
from omnistock.insights.v1 import insights_pb2 as pb
from omnistock_cli.context import Caller, JsonOption, RoleOption, TokenOption, call_services, fail
from omnistock_cli.output import console, emit, print_json

CHANNELS = {"web": 1, "app": 2, "chat": 3, "pos": 4, "backoffice": 5}
REBUILD_DEADLINE_SECONDS = 600.0


class GroupBy(StrEnum):
    DAY = "day"
    WEEK = "week"


# ---------------------------------------------------------------------------------------------
# Sums over rows: every rate is made again from the summed counts, so totals are exact.


def channel_label(channel: int) -> str:
    if channel == common_pb2.CHANNEL_UNSPECIFIED:
        return "(stock)"
    return common_pb2.Channel.Name(channel).removeprefix("CHANNEL_").lower()  # type: ignore[arg-type]


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class Totals:
    counts: Counter[str] = field(default_factory=Counter)
    revenue: dict[str, list[int]] = field(default_factory=dict)  # currency -> [amount_minor, orders]
    shortfalls: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (sku, location) -> counts

    @classmethod
    def of(cls, rows: Iterable[pb.ChannelInsights]) -> Totals:
        totals = cls()
        for row in rows:
            totals.add(row)
        return totals

    def add(self, row: pb.ChannelInsights) -> None:
        for part in ("reservations", "orders", "fulfilment", "demand", "stock"):
            figures = getattr(row, part)
            for descriptor, value in figures.ListFields():
                if descriptor.type in (descriptor.TYPE_INT64, descriptor.TYPE_INT32):
                    self.counts[f"{part}.{descriptor.name}"] += value
        for revenue in row.orders.revenue:
            amount = self.revenue.setdefault(revenue.currency, [0, 0])
            amount[0] += revenue.amount_minor
            amount[1] += revenue.orders
        for shortfall in row.demand.shortfalls:
            short = self.shortfalls.setdefault((shortfall.sku, row.location_id), [0, 0, 0])
            short[0] += shortfall.refusals
            short[1] += shortfall.units_requested
            short[2] += shortfall.units_short

    def __getitem__(self, name: str) -> int:
        return self.counts[name]

    @property
    def conversion(self) -> float | None:
        return _ratio(self["reservations.collected"], self["reservations.created"])

    @property
    def no_show(self) -> float | None:
        return _ratio(self["reservations.expired"], self["reservations.collected"] + self["reservations.expired"])

    @property
    def split(self) -> float | None:
        return _ratio(self["orders.split"], self["orders.allocated"])

    @property
    def reroute(self) -> float | None:
        return _ratio(self["orders.rerouted"], self["orders.orders"])

    @property
    def short_pick(self) -> float | None:
        return _ratio(
            self["fulfilment.tasks_short_picked"],
            self["fulfilment.tasks_picked"] + self["fulfilment.tasks_short_picked"],
        )

    def share(self, method: str) -> float | None:
        return _ratio(self[f"orders.{method}"], self["orders.orders"])

    @property
    def average_ready_seconds(self) -> float | None:
        average = _ratio(self["reservations.ready_time_ms_sum"], self["reservations.ready"])
        return None if average is None else average / 1000

    @property
    def average_ship_seconds(self) -> float | None:
        average = _ratio(self["orders.ship_time_ms_sum"], self["orders.shipped"])
        return None if average is None else average / 1000

    def average_order_value(self, currency: str) -> float | None:
        amount, orders = self.revenue[currency]
        return _ratio(amount, orders)

    def top_shortfalls(self, limit: int = 10) -> list[tuple[str, str, int, int, int]]:
        ranked = sorted(self.shortfalls.items(), key=lambda item: (-item[1][2], -item[1][0], item[0]))
        return [(sku, location, *counts) for (sku, location), counts in ranked[:limit]]  # type: ignore[misc]


def by_period(rows: Sequence[pb.ChannelInsights]) -> dict[str, Totals]:
    periods: dict[str, Totals] = {}
    for row in rows:
        periods.setdefault(row.period_start, Totals()).add(row)
    return dict(sorted(periods.items()))


def by_channel(rows: Sequence[pb.ChannelInsights]) -> dict[str, Totals]:
    channels: dict[str, Totals] = {}
    for row in rows:
        channels.setdefault(channel_label(row.channel), Totals()).add(row)
    return dict(sorted(channels.items()))


# ---------------------------------------------------------------------------------------------
# Formats shared by the tables and the report.

_ZERO_DECIMAL = frozenset({"JPY", "KRW", "ISK", "CLP", "VND", "HUF"})


# Shown where a rate or an average has nothing to be made of.
MISSING = "\N{EN DASH}"


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


def revenue_text(totals: Totals) -> str:
    return ", ".join(money(amount, currency) for currency, (amount, _) in sorted(totals.revenue.items())) or MISSING


def aov_text(totals: Totals) -> str:
    values = [(currency, totals.average_order_value(currency)) for currency in sorted(totals.revenue)]
    return ", ".join(money(value, currency) for currency, value in values if value is not None) or MISSING


# ---------------------------------------------------------------------------------------------
# Terminal tables.


def _table(title: str, columns: Sequence[str]) -> Table:
    """Period, channel and location first, never cut short; the figures after them, right-aligned."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for index, column in enumerate(columns):
        if index < 3:
            table.add_column(column, no_wrap=True, min_width=10 if index == 0 else None)
        else:
            table.add_column(column, justify="right")
    return table


def render_tables(rows: Sequence[pb.ChannelInsights]) -> Group:
    if not rows:
        return Group("No figures for this range.")
    keyed = [(row.period_start, channel_label(row.channel), row.location_id or "(none yet)", row) for row in rows]
    orders = _table(
        "Orders",
        [
            "period",
            "channel",
            "location",
            "orders",
            "units",
            "revenue",
            "avg order",
            "ship",
            "pickup",
            "carry-out",
            "split",
            "re-routed",
            "order→ship",
        ],
    )
    reservations = _table(
        "Reservations",
        [
            "period",
            "channel",
            "location",
            "created",
            "collected",
            "expired",
            "cancelled",
            "conversion",
            "no-show",
            "→ready",
        ],
    )
    operations = _table(
        "Fulfilment, refused demand and stock",
        [
            "period",
            "channel",
            "location",
            "picked",
            "short",
            "short-pick",
            "refused",
            "units short",
            "stock checks",
            "oversells",
        ],
    )
    for period, channel, location, row in keyed:
        one = Totals.of([row])
        if one["orders.orders"]:
            orders.add_row(
                period, channel, location, str(one["orders.orders"]), str(one["orders.units"]), revenue_text(one),
                aov_text(one), percent(one.share("ship")), percent(one.share("pickup")),
                percent(one.share("carry_out")), percent(one.split), percent(one.reroute),
                duration(one.average_ship_seconds),
            )  # fmt: skip
        if one["reservations.created"] or one["reservations.collected"]:
            reservations.add_row(
                period, channel, location, str(one["reservations.created"]), str(one["reservations.collected"]),
                str(one["reservations.expired"]), str(one["reservations.cancelled"]), percent(one.conversion),
                percent(one.no_show), duration(one.average_ready_seconds),
            )  # fmt: skip
        picks = one["fulfilment.tasks_picked"] + one["fulfilment.tasks_short_picked"]
        if picks or one["demand.refused"] or one["demand.short_lines"] or one["stock.changes_checked"]:
            units_short = sum(s.units_short for s in row.demand.shortfalls)
            operations.add_row(
                period, channel, location, str(one["fulfilment.tasks_picked"]),
                str(one["fulfilment.tasks_short_picked"]), percent(one.short_pick), str(one["demand.refused"]),
                str(units_short), str(one["stock.changes_checked"]), str(one["stock.oversells"]),
            )  # fmt: skip
    totals = Totals.of(rows)
    summary = Table(title="Over the whole range", title_justify="left", header_style="bold")
    summary.add_column("figure", no_wrap=True)
    summary.add_column("value")
    for name, value, note in headline(totals):
        summary.add_row(name, f"{value} ({note})" if note else value)
    parts = [table for table in (orders, reservations, operations) if table.row_count]
    return Group(*parts, summary)


def headline(totals: Totals) -> list[tuple[str, str, str]]:
    """(figure, value, what it is out of) over the whole range."""
    return [
        ("Orders", str(totals["orders.orders"]), f"{totals['orders.units']} units"),
        ("Revenue", revenue_text(totals), ""),
        ("Average order", aov_text(totals), ""),
        ("Pickup conversion", percent(totals.conversion), f"of {totals['reservations.created']} reservations"),
        ("No-show rate", percent(totals.no_show), ""),
        ("Split shipments", percent(totals.split), f"of {totals['orders.allocated']} orders allocated"),
        ("Re-routed orders", percent(totals.reroute), ""),
        ("Short picks", percent(totals.short_pick), ""),
        ("Reservation → ready", duration(totals.average_ready_seconds), "on average"),
        ("Order → ship", duration(totals.average_ship_seconds), "on average, to the first shipment"),
        ("Refused demand", str(totals["demand.refused"]), "for lack of stock"),
        ("Oversells", str(totals["stock.oversells"]), f"of {totals['stock.changes_checked']} stock changes checked"),
    ]


# ---------------------------------------------------------------------------------------------
# The HTML report: inline SVG charts, no external resource of any kind.

PALETTE = ("#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2")


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    color: str


def _scale(value: float, *, whole: bool) -> float:
    """The top of an axis of four even steps, each a round number (a whole one for counts)."""
    if value <= 0:
        return 4.0 if whole else 1.0
    magnitude = 10.0 ** math.floor(math.log10(value / 4))
    for factor in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5, 8, 10):
        step = factor * magnitude
        if whole and (step < 1 or step != int(step)):
            continue
        if step * 4 >= value:
            return step * 4
    return 40 * magnitude


def compact(value: float) -> str:
    """An axis label: 950, 1.2k, 35k, 2.5M."""
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def short_day(period_start: str) -> str:
    day = datetime.strptime(period_start, "%Y-%m-%d")
    return f"{day:%b} {day.day}"


def _legend(series: Sequence[Series]) -> str:
    items = "".join(f'<span class="key"><i style="background:{s.color}"></i>{esc(s.name)}</span>' for s in series)
    return f'<div class="legend">{items}</div>'


def _frame(title: str, body: str, series: Sequence[Series] = ()) -> str:
    legend = _legend(series) if len(series) > 1 else ""
    return f'<figure class="chart"><figcaption>{esc(title)}</figcaption>{legend}{body}</figure>'


_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 720, 260, 64, 12, 12, 44


def _axes(labels: Sequence[str], top: float, axis: Callable[[float], str]) -> tuple[list[str], float, float]:
    """Grid lines and labels; returns the parts, the band width and the plot height."""
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    parts = []
    for tick in range(5):
        value = top * tick / 4
        y = _TOP + plot_h - plot_h * tick / 4
        parts.append(f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{esc(axis(value))}</text>')
    band = plot_w / max(1, len(labels))
    every = -(-len(labels) // 8)  # at most 8 labels under the axis
    for index, label in enumerate(labels):
        if index % every == 0:
            x = _LEFT + band * (index + 0.5)
            parts.append(f'<text x="{x:.1f}" y="{_H - _BOTTOM + 16}" text-anchor="middle">{esc(label)}</text>')
    return parts, band, plot_h


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str],
    *,
    stacked: bool,
    whole: bool = True,
) -> str:
    """Bars per label, side by side or stacked; `fmt` writes a value in a tooltip."""
    heights = (
        [sum(s.values[i] for s in series) for i in range(len(labels))]
        if stacked
        else [max((s.values[i] for s in series), default=0) for i in range(len(labels))]
    )
    top = _scale(max(heights, default=0), whole=whole)
    parts, band, plot_h = _axes(labels, top, compact)
    base = _TOP + plot_h
    for index, label in enumerate(labels):
        x0 = _LEFT + band * index + band * 0.15
        width = band * 0.7
        offset = 0.0
        for number, one in enumerate(series):
            value = one.values[index]
            if not value:
                continue
            height = plot_h * value / top
            if stacked:
                x, w, y = x0, width, base - offset - height
                offset += height
            else:
                w = width / len(series)
                x, y = x0 + w * number, base - height
            tip = f"{label} · {one.name}: {fmt(value)}"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w - 1, 1):.1f}" height="{height:.1f}"'
                f' fill="{one.color}"><title>{esc(tip)}</title></rect>'
            )
    svg = f'<svg viewBox="0 0 {_W} {_H}" role="img" aria-label="{esc(title)}">{"".join(parts)}</svg>'
    return _frame(title, svg, series)


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series]) -> str:
    """Rates from 0 to 100 %; a period without a denominator leaves a gap (NaN)."""
    parts, band, plot_h = _axes(labels, 1.0, lambda value: f"{value * 100:.0f}%")
    for one in series:
        points = []
        for index, value in enumerate(one.values):
            if value != value:  # NaN: nothing to show for this period
                continue
            x = _LEFT + band * (index + 0.5)
            y = _TOP + plot_h - plot_h * value
            points.append((x, y))
            tip = f"{labels[index]} · {one.name}: {value * 100:.1f}%"
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{one.color}"><title>{esc(tip)}</title></circle>'
            )
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.insert(0, f'<polyline points="{path}" fill="none" stroke="{one.color}" stroke-width="2"/>')
    svg = f'<svg viewBox="0 0 {_W} {_H}" role="img" aria-label="{esc(title)}">{"".join(parts)}</svg>'
    return _frame(title, svg, series)


def hbar_chart(title: str, items: Sequence[tuple[str, float, str]], fmt: Callable[[float], str]) -> str:
    """One bar per item: (label, value, tooltip)."""
    row_h, label_w = 26, 220
    height = _TOP + row_h * len(items) + 8
    top = max((value for _, value, _ in items), default=0) or 1
    plot_w = _W - label_w - _RIGHT - 60
    parts = []
    for index, (label, value, tip) in enumerate(items):
        y = _TOP + row_h * index
        width = plot_w * value / top
        parts.append(f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{esc(label)}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{max(width, 1):.1f}" height="{row_h - 8}"'
            f' fill="{PALETTE[3]}"><title>{esc(tip)}</title></rect>'
        )
        parts.append(f'<text x="{label_w + width + 6:.1f}" y="{y + 17}">{esc(fmt(value))}</text>')
    svg = f'<svg viewBox="0 0 {_W} {height}" role="img" aria-label="{esc(title)}">{"".join(parts)}</svg>'
    return _frame(title, svg)


def _rate_or_gap(value: float | None) -> float:
    return float("nan") if value is None else value


def _kpis(totals: Totals) -> str:
    tiles = "".join(
        f'<div class="kpi"><div class="label">{esc(name)}</div><div class="value">{esc(value)}</div>'
        f'<div class="note">{esc(note)}</div></div>'
        for name, value, note in headline(totals)
    )
    return f'<section class="kpis">{tiles}</section>'


def _detail_table(rows: Sequence[pb.ChannelInsights]) -> str:
    columns = [
        ("Period", "text"), ("Channel", "text"), ("Location", "text"), ("Orders", "num"), ("Units", "num"),
        ("Revenue", "text"), ("Pickup conv.", "num"), ("No-show", "num"), ("Split", "num"), ("Re-routed", "num"),
        ("Short picks", "num"), ("Refused", "num"), ("Stock checks", "num"), ("Oversells", "num"),
    ]  # fmt: skip
    head = "".join(f'<th data-kind="{kind}" tabindex="0">{esc(name)}</th>' for name, kind in columns)
    body = []
    for row in rows:
        one = Totals.of([row])
        cells: list[tuple[str, str | float]] = [
            (row.period_start, row.period_start),
            (channel_label(row.channel), channel_label(row.channel)),
            (row.location_id or "(none yet)", row.location_id),
            (str(one["orders.orders"]), one["orders.orders"]),
            (str(one["orders.units"]), one["orders.units"]),
            (revenue_text(one), revenue_text(one)),
            (percent(one.conversion), one.conversion if one.conversion is not None else -1),
            (percent(one.no_show), one.no_show if one.no_show is not None else -1),
            (percent(one.split), one.split if one.split is not None else -1),
            (percent(one.reroute), one.reroute if one.reroute is not None else -1),
            (percent(one.short_pick), one.short_pick if one.short_pick is not None else -1),
            (str(one["demand.refused"]), one["demand.refused"]),
            (str(one["stock.changes_checked"]), one["stock.changes_checked"]),
            (str(one["stock.oversells"]), one["stock.oversells"]),
        ]
        body.append("<tr>" + "".join(f'<td data-sort="{esc(key)}">{esc(text)}</td>' for text, key in cells) + "</tr>")
    return (
        '<table id="detail" class="detail"><thead><tr>' + head + "</tr></thead><tbody>" + "".join(body)
        + "</tbody></table>"
    )  # fmt: skip


_STYLE = """
:root { color-scheme: light; --ink: #0f172a; --muted: #64748b; --line: #e2e8f0; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: #f8fafc; }
header { padding: 24px 32px 8px; }
h1 { margin: 0 0 4px; font-size: 24px; }
h2 { margin: 28px 0 8px; font-size: 18px; }
.meta { color: var(--muted); }
main { padding: 0 32px 32px; max-width: 1280px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 12px; margin-top: 16px; }
.kpi { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.kpi .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.kpi .value { font-size: 20px; font-weight: 600; margin-top: 4px; }
.kpi .note { color: var(--muted); font-size: 12px; }
.scroll { overflow-x: auto; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px; }
figure.chart { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
figcaption { font-weight: 600; margin-bottom: 4px; }
svg { width: 100%; height: auto; display: block; }
svg text { font-size: 11px; fill: var(--muted); }
svg .grid { stroke: var(--line); }
.legend { display: flex; flex-wrap: wrap; gap: 12px; color: var(--muted); font-size: 12px; margin-bottom: 4px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; }
table.detail { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
.detail th, .detail td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: right;
                         white-space: nowrap; }
.detail th:nth-child(-n+3), .detail td:nth-child(-n+3) { text-align: left; }
.detail th { cursor: pointer; user-select: none; background: #f1f5f9; position: sticky; top: 0; }
.detail th[aria-sort="ascending"]::after { content: " ▲"; }
.detail th[aria-sort="descending"]::after { content: " ▼"; }
.empty { background: #fff; border: 1px dashed var(--line); border-radius: 8px; padding: 24px; color: var(--muted); }
dl.notes { color: var(--muted); font-size: 13px; }
dl.notes dt { font-weight: 600; color: var(--ink); margin-top: 6px; }
dl.notes dd { margin: 0; }
"""

# Sorting the detail table by a click on a column heading. It marks the table once it is ready.
_SCRIPT = """
(function () {
  var table = document.getElementById("detail");
  if (!table) { return; }
  var heads = table.tHead.rows[0].cells;
  function sortBy(index) {
    var head = heads[index];
    var ascending = head.getAttribute("aria-sort") !== "ascending";
    var numeric = head.getAttribute("data-kind") === "num";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].getAttribute("data-sort"), y = b.cells[index].getAttribute("data-sort");
      var order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    head.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  Array.prototype.forEach.call(heads, function (head, index) {
    head.addEventListener("click", function () { sortBy(index); });
    head.addEventListener("keydown", function (event) { if (event.key === "Enter") { sortBy(index); } });
  });
  table.setAttribute("data-sortable", "ready");
})();
"""

_NOTES = [
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
]  # fmt: skip


def render_html(rows: Sequence[pb.ChannelInsights], *, title: str, subtitle: str) -> str:
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>"
        f'<header><h1>{esc(title)}</h1><div class="meta">{esc(subtitle)} · generated {esc(generated)}</div></header>'
    )
    if not rows:
        body = '<main><p class="empty">No figures for this range and these filters.</p></main>'
        return head + body + f"<script>{_SCRIPT}</script></body></html>"
    totals = Totals.of(rows)
    periods = by_period(rows)
    labels = [short_day(period) for period in periods]
    charts = [_orders_chart(labels, periods), _revenue_chart(labels, periods, totals)]
    charts.append(
        bar_chart(
            "Reservations",
            labels,
            [
                Series("created", [p["reservations.created"] for p in periods.values()], PALETTE[0]),
                Series("collected", [p["reservations.collected"] for p in periods.values()], PALETTE[1]),
                Series("expired", [p["reservations.expired"] for p in periods.values()], PALETTE[3]),
                Series("cancelled", [p["reservations.cancelled"] for p in periods.values()], PALETTE[2]),
            ],
            lambda value: f"{value:.0f}",
            stacked=False,
        )
    )
    charts.append(
        line_chart(
            "Rates",
            labels,
            [
                Series("pickup conversion", [_rate_or_gap(p.conversion) for p in periods.values()], PALETTE[1]),
                Series("no-show", [_rate_or_gap(p.no_show) for p in periods.values()], PALETTE[3]),
                Series("split shipments", [_rate_or_gap(p.split) for p in periods.values()], PALETTE[0]),
                Series("re-routed", [_rate_or_gap(p.reroute) for p in periods.values()], PALETTE[4]),
                Series("short picks", [_rate_or_gap(p.short_pick) for p in periods.values()], PALETTE[2]),
            ],
        )
    )
    charts.append(
        bar_chart(
            "Average time, in hours",
            labels,
            [
                Series(
                    "reservation → ready", [(p.average_ready_seconds or 0) / 3600 for p in periods.values()], PALETTE[5]
                ),
                Series("order → ship", [(p.average_ship_seconds or 0) / 3600 for p in periods.values()], PALETTE[4]),
            ],
            lambda value: f"{value:.1f} h",
            stacked=False,
            whole=False,
        )
    )
    # Stock checks belong to no channel: only the channels that sold or reserved are compared.
    channels = {
        name: c
        for name, c in by_channel(rows).items()
        if c["orders.orders"] or c["reservations.created"] or c["demand.refused"]
    }
    charts.append(
        bar_chart(
            "By channel",
            list(channels),
            [
                Series("orders", [c["orders.orders"] for c in channels.values()], PALETTE[0]),
                Series("reservations", [c["reservations.created"] for c in channels.values()], PALETTE[1]),
                Series("refused demand", [c["demand.refused"] for c in channels.values()], PALETTE[3]),
            ],
            lambda value: f"{value:.0f}",
            stacked=False,
        )
    )
    shortfalls = totals.top_shortfalls()
    if shortfalls:
        charts.append(
            hbar_chart(
                "Most units refused for lack of stock",
                [
                    (f"{sku} @ {location}", short, f"{sku} at {location}: {short} units short in {refusals} refusals")
                    for sku, location, refusals, _, short in shortfalls
                ],
                lambda value: f"{value:.0f} units",
            )
        )
    notes = "".join(f"<dt>{esc(term)}</dt><dd>{esc(text)}</dd>" for term, text in _NOTES)
    body = (
        f'<main>{_kpis(totals)}<h2>Trends</h2><section class="charts">{"".join(charts)}</section>'
        f'<h2>Every channel and location</h2><div class="scroll">{_detail_table(rows)}</div>'
        f'<h2>How the figures are made</h2><dl class="notes">{notes}</dl></main>'
    )
    return head + body + f"<script>{_SCRIPT}</script></body></html>"


def _orders_chart(labels: list[str], periods: dict[str, Totals]) -> str:
    return bar_chart(
        "Orders by fulfilment method",
        labels,
        [
            Series("ship", [p["orders.ship"] for p in periods.values()], PALETTE[0]),
            Series("pickup", [p["orders.pickup"] for p in periods.values()], PALETTE[1]),
            Series("carry-out", [p["orders.carry_out"] for p in periods.values()], PALETTE[2]),
        ],
        lambda value: f"{value:.0f}",
        stacked=True,
    )


def _revenue_chart(labels: list[str], periods: dict[str, Totals], totals: Totals) -> str:
    # One currency per chart: amounts in different currencies do not add up.
    currency = max(totals.revenue, key=lambda c: totals.revenue[c][0], default="")
    unit = 10 ** _digits(currency)
    values = [p.revenue.get(currency, [0, 0])[0] / unit for p in periods.values()]
    return bar_chart(
        f"Revenue ({currency})" if currency else "Revenue",
        labels,
        [Series(currency or "revenue", values, PALETTE[4])],
        lambda value: money(value * unit, currency),
        stacked=False,
        whole=False,
    )


# ---------------------------------------------------------------------------------------------
# The commands.


async def fetch_rows(client: OmnistockClient, request: pb.GetChannelInsightsRequest) -> list[pb.ChannelInsights]:
    """Every page of the answer."""
    rows: list[pb.ChannelInsights] = []
    page = pb.GetChannelInsightsRequest()
    page.CopyFrom(request)
    while True:
        reply = await client.call(client.insights.GetChannelInsights, page)
        rows.extend(reply.rows)
        if not reply.next_page_token:
            return rows
        page.page_token = reply.next_page_token


def insights(
    channel: Annotated[str | None, typer.Option("--channel", help="web, app, chat, pos or backoffice.")] = None,
    location: Annotated[
        str | None, typer.Option("--location", "-l", help="One location (pos and warehouse staff must name one).")
    ] = None,
    from_date: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")] = None,
    to_date: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (UTC). Default: today.")] = None,
    group_by: Annotated[GroupBy, typer.Option("--group-by", case_sensitive=False, help="day or week.")] = GroupBy.DAY,
    html_file: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report with charts to this file.")
    ] = None,
    role: RoleOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Channel figures: reservations, orders, revenue, fulfilment, refused demand and oversells."""
    if channel is not None and channel.lower() not in CHANNELS:
        fail(f"unknown channel {channel!r}", hint=f"one of {', '.join(CHANNELS)}")
    request = pb.GetChannelInsightsRequest(
        channel=CHANNELS[channel.lower()] if channel else 0,  # type: ignore[arg-type]
        location_id=location or "",
        from_date=from_date or "",
        to_date=to_date or "",
        group_by=pb.GROUP_BY_WEEK if group_by is GroupBy.WEEK else pb.GROUP_BY_DAY,
    )

    async def work(client: OmnistockClient) -> list[pb.ChannelInsights]:
        return await fetch_rows(client, request)

    # Staff tokens name the location they ask about.
    caller = Caller.of(role, [location] if location else None, token)
    rows = call_services(work, caller, as_json=as_json)
    if html_file is not None:
        described = ", ".join(
            part
            for part in (
                f"{rows[0].period_start} to {rows[-1].period_end}" if rows else "",
                f"channel {channel}" if channel else "every channel",
                f"location {location}" if location else "every location",
                f"by {group_by.value}",
            )
            if part
        )
        html_file.write_text(render_html(rows, title="Omnistock channel insights", subtitle=described), "utf-8")
        console.print(f"wrote {html_file}")
        return
    emit({"rows": [row_data(row) for row in rows]}, as_json=as_json, render=render_tables(rows))


def row_data(row: pb.ChannelInsights) -> dict[str, object]:
    """A row as JSON with every figure, zeros included: a script reading it finds every key."""
    return json_format.MessageToDict(row, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def insights_rebuild(role: RoleOption = None, token: TokenOption = None, as_json: JsonOption = False) -> None:
    """Empty the insights and count the whole event stream again (admin)."""

    async def work(client: OmnistockClient) -> pb.RebuildInsightsResponse:
        request = pb.RebuildInsightsRequest(request_id=new_request_id())
        return await client.call(client.insights.RebuildInsights, request, deadline=REBUILD_DEADLINE_SECONDS)

    reply = call_services(work, Caller.of(role, None, token), as_json=as_json)
    if as_json:
        print_json(reply)
    else:
        console.print(
            f"rebuilt from {reply.events_read} events up to sequence {reply.through_sequence}:"
            f" {reply.events_applied} counted, {reply.events_rejected} rejected"
        )


EXAMPLES = ("omnistock insights --group-by week", "omnistock insights --html insights.html")


def register(app: typer.Typer) -> None:
    app.command("insights")(insights)
    app.command("insights-rebuild")(insights_rebuild)
