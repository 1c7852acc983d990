"""`omnistock insights` against the running stack: tables, JSON, and an HTML report that
headless Chromium renders without a single console message."""

from __future__ import annotations

import asyncio
import html
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import typer
from google.protobuf import json_format
from typer.testing import CliRunner, Result

from omnistock.common.v1 import common_pb2
from omnistock.insights.v1 import insights_pb2 as pb
from omnistock_cli import insights as insights_cli
from omnistock_cli.insights_view import Figures, render_html
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.insights.conftest import rows_at
from tests.integration.insights.journeys import DAY, Publisher, store_day

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A phone held upright, and a laptop.
PHONE, DESKTOP = 390, 1280

# Added to a copy of the report: what a reader would see, measured once the page has laid out, and
# sent to the page that frames it (headless Chromium's window is at least 500 pixels wide, so a
# phone's width is a frame's).
MEASURE = """
<script>
(function () {
  function box(r) { return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; }
  var out = {viewport: window.innerWidth, page: document.documentElement.scrollWidth, charts: [], cells: [], tiles: []};
  function overlap(a, b) {
    return Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 &&
      Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  }
  document.querySelectorAll("figure.chart svg").forEach(function (svg) {
    var frame = svg.getBoundingClientRect();
    if (frame.width === 0) { return; }  // the drawing for the other kind of screen
    var chart = {title: svg.getAttribute("aria-label"), box: box(frame), outside: [], overlapping: [], small: [],
                 axis: []};
    var seen = [];
    svg.querySelectorAll("text").forEach(function (text) {
      var r = text.getBoundingClientRect();
      if (!text.textContent.trim() || (r.width === 0 && r.height === 0)) { return; }
      var inside = r.left >= frame.left - 1 && r.right <= frame.right + 1;
      if (!inside || r.top < frame.top - 1 || r.bottom > frame.bottom + 1) {
        chart.outside.push({text: text.textContent, box: box(r)});
      }
      seen.forEach(function (other) {
        if (overlap(other.box, r)) { chart.overlapping.push([other.text, text.textContent]); }
      });
      seen.push({text: text.textContent, box: r});
      var size = parseFloat(getComputedStyle(text).fontSize) * frame.width / svg.viewBox.baseVal.width;
      if (size < 9) { chart.small.push({text: text.textContent, size: size}); }
    });
    svg.querySelectorAll("g.axis.y text").forEach(function (text) { chart.axis.push(text.textContent); });
    out.charts.push(chart);
  });
  document.querySelectorAll(".kpi").forEach(function (tile) {
    if (tile.scrollWidth > tile.clientWidth + 1) { out.tiles.push(tile.textContent); }
  });
  var table = document.getElementById("detail");
  if (table) {
    var wrap = table.parentElement;
    out.table = {right: table.getBoundingClientRect().right, scroll: wrap.scrollWidth, width: wrap.clientWidth};
    table.querySelectorAll("td, th").forEach(function (cell) {
      if (cell.offsetParent !== null && cell.scrollWidth > cell.clientWidth + 1) { out.cells.push(cell.textContent); }
    });
  }
  window.parent.postMessage(JSON.stringify(out), "*");
})();
</script>
"""
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<script>
window.addEventListener("message", function (event) {
  var pre = document.createElement("pre");
  pre.id = "measured";
  pre.textContent = event.data;
  document.body.appendChild(pre);
});
</script>
<iframe src="PAGE" style="display:block;border:0;width:WIDTHpx;height:6000px"></iframe>
</body></html>
"""


@pytest.fixture
def publisher(bus: Any) -> Publisher:
    return Publisher(bus)


async def omnistock(stack: Stack, *args: str) -> Result:
    """The CLI as a user runs it, pointed at the test stack (in a thread: it runs its own event loop)."""
    app = typer.Typer()
    insights_cli.register(app)
    env = {"OMNISTOCK_INSIGHTS_ADDRESS": stack.addresses["insights"], "OMNISTOCK_TOKEN": stack.token()}
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


async def a_store_with_a_day(publisher: Publisher) -> str:
    store = unique_id("STORE-")
    await publisher.publish_all(store_day(store, unique_id("WH-")))
    return store


async def test_json_is_what_the_service_answers(stack: Stack, publisher: Publisher) -> None:
    store = await a_store_with_a_day(publisher)
    day = DAY.isoformat()

    result = await omnistock(stack, "insights", "--location", store, "--from", day, "--to", day, "--json")

    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    answered = await rows_at(stack.stub("insights"), store)
    assert [row["channel"] for row in printed["rows"]] == ["CHANNEL_CHAT", "CHANNEL_UNSPECIFIED", "CHANNEL_WEB"]
    assert [json_format.ParseDict(row, pb.ChannelInsights()) for row in printed["rows"]] == answered
    assert printed["rows"][1]["orders"]["orders"] == 0  # every figure is there, zeros too, counts as numbers


async def test_tables_show_the_figures_a_manager_asks_for(stack: Stack, publisher: Publisher) -> None:
    store = await a_store_with_a_day(publisher)
    day = DAY.isoformat()

    result = await omnistock(stack, "insights", "-l", store, "--from", day, "--to", day, "--group-by", "week")

    assert result.exit_code == 0, result.output
    for expected in ("Orders", "Reservations", "Oversells", "104.97 EUR", "34.99 EUR", "50.0%", "33.3%", "26 h 00"):
        assert expected in result.stdout, expected


async def test_an_unknown_channel_is_a_clear_error(stack: Stack) -> None:
    result = await omnistock(stack, "insights", "--channel", "fax")
    assert result.exit_code == 1
    assert "unknown channel" in result.output


async def chromium(*args: str, timeout: float = 90.0) -> tuple[int, str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("the HTML report test needs Chromium: apt-get install -y chromium")
    process = await asyncio.create_subprocess_exec(
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


async def render_in_chromium(report: Path, profile: Path) -> tuple[str, list[str], bytes]:
    """The DOM after the page's script ran, every console message, and a screenshot."""
    url = report.as_uri()
    code, dom, log = await chromium(
        f"--user-data-dir={profile / 'dom'}", "--enable-logging=stderr", "--v=0", "--dump-dom", url
    )
    assert code == 0, log
    console = [line for line in log.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    screenshot = profile / "report.png"
    code, _, log = await chromium(
        f"--user-data-dir={profile / 'shot'}", f"--screenshot={screenshot}", "--window-size=1280,2400", url
    )
    assert code == 0, log
    return dom, console, screenshot.read_bytes()


async def test_the_html_report_renders_in_a_browser(stack: Stack, publisher: Publisher, tmp_path: Path) -> None:
    store = await a_store_with_a_day(publisher)
    report = tmp_path / "report.html"
    day = DAY.isoformat()

    result = await omnistock(stack, "insights", "-l", store, "--from", day, "--to", day, "--html", str(report))
    assert report.is_absolute()

    assert result.exit_code == 0, result.output
    page = report.read_text("utf-8")
    # Self-contained: nothing to fetch when it is opened (no CDN, no font, no image).
    assert "://" not in page
    assert page.count("<svg") >= 6
    dom, console, png = await render_in_chromium(report, tmp_path)
    assert console == []
    assert 'data-sortable="ready"' in dom  # the page's script ran to its end
    assert store in dom and "104.97 EUR" in dom
    assert png.startswith(PNG_SIGNATURE) and len(png) > 10_000


async def measured(report: Path, profile: Path, width: int) -> dict[str, Any]:
    """The report laid out `width` pixels wide: chart labels outside their chart, the detail table's
    reach, cells whose text is cut; and a screenshot beside the report, to look at."""
    probe = report.with_name(f"{report.stem}-{width}.html")
    framed = report.with_name(f"{report.stem}-{width}-framed.html")
    page = await asyncio.to_thread(report.read_text, "utf-8")
    await asyncio.to_thread(probe.write_text, page.replace("</body>", MEASURE + "</body>"), "utf-8")
    await asyncio.to_thread(framed.write_text, FRAME.replace("PAGE", probe.name).replace("WIDTH", str(width)), "utf-8")
    window = f"--window-size={width + 40},6100"
    code, dom, log = await chromium(
        f"--user-data-dir={profile / f'measure-{width}'}", window, "--virtual-time-budget=10000", "--dump-dom",
        framed.as_uri(),
    )  # fmt: skip
    assert code == 0, log
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found is not None, dom[-2000:]
    shot = report.with_name(f"{report.stem}-{width}.png")
    code, _, log = await chromium(
        f"--user-data-dir={profile / f'shot-{width}'}", f"--screenshot={shot}", window, framed.as_uri()
    )
    assert code == 0, log
    assert (await asyncio.to_thread(shot.read_bytes)).startswith(PNG_SIGNATURE)
    return json.loads(html.unescape(found.group(1)))  # type: ignore[no-any-return]


def assert_reads_well(seen: dict[str, Any], width: int) -> None:
    assert seen["viewport"] == width
    titles = [chart["title"] for chart in seen["charts"]]
    assert len(titles) >= 7 and "Most units refused for lack of stock" in titles, titles
    for chart in seen["charts"]:
        # Every label, legend and axis figure lies within its chart's box, clear of the others, and
        # large enough to read.
        assert chart["outside"] == [], (width, chart["title"], chart["outside"])
        assert chart["overlapping"] == [], (width, chart["title"], chart["overlapping"])
        assert chart["small"] == [], (width, chart["title"], chart["small"])
        assert chart["box"]["right"] <= width, (width, chart["title"])
    # No page-wide sideways scrolling, no figure sticking out of its tile, no table running off the
    # screen or scrolling inside its frame, no cell whose text is cut.
    assert seen["tiles"] == [], (width, seen["tiles"])
    assert seen["page"] <= width, (width, seen["page"])
    assert seen["table"]["right"] <= width and seen["table"]["scroll"] <= seen["table"]["width"], (width, seen)
    assert seen["cells"] == [], (width, seen["cells"])


def time_axis(seen: dict[str, Any]) -> tuple[str, float]:
    """The title of the chart of average times, and the largest mark on its axis."""
    (times,) = [chart for chart in seen["charts"] if chart["title"].startswith("Average time")]
    return times["title"], max(float(mark.replace(",", "")) for mark in times["axis"])


async def test_the_report_reads_well_on_a_phone_and_a_laptop(
    stack: Stack, publisher: Publisher, tmp_path: Path
) -> None:
    store = await a_store_with_a_day(publisher)
    report = tmp_path / "report.html"
    day = DAY.isoformat()
    result = await omnistock(stack, "insights", "-l", store, "--from", day, "--to", day, "--html", str(report))
    assert result.exit_code == 0, result.output

    for width in (PHONE, DESKTOP):
        seen = await measured(report, tmp_path, width)
        assert_reads_well(seen, width)
        # Times in a unit that fits them: this day's averages are 3 and 26 hours, so the axis reads
        # hours up to a round mark above 26, not a fraction of a day or thousands of minutes.
        title, top = time_axis(seen)
        assert title == "Average time, in hours" and 26 <= top <= 100, (title, top)


def a_busy_month() -> Figures:
    """A month at two stores with long names, three channels and three currencies, ten refused SKUs
    with long names, and times of minutes: the most a report has to fit."""
    stores = ["STORE-MANCHESTER-ARNDALE-0014", "STORE-BIRMINGHAM-BULLRING-0007"]
    channels = [common_pb2.CHANNEL_WEB, common_pb2.CHANNEL_CHAT, common_pb2.CHANNEL_POS]
    currencies = ["EUR", "GBP", "JPY"]
    days = [f"2026-07-{day:02d}" for day in range(1, 32)]

    def row(day: str, channel: int, location: str, n: int) -> pb.ChannelInsights:
        return pb.ChannelInsights(
            period_start=day,
            period_end=day,
            channel=channel,  # type: ignore[arg-type]
            location_id=location,
            reservations=pb.ReservationFigures(
                created=40 * n,
                collected=31 * n,
                expired=6 * n,
                pickup_conversion_rate=0.775,
                no_show_rate=0.162,
                ready=30 * n,
                average_ready_seconds=1500 + 10 * n,
            ),
            orders=pb.OrderFigures(
                orders=120 * n,
                units=310 * n,
                ship=70 * n,
                pickup=30 * n,
                carry_out=20 * n,
                allocated=120 * n,
                split=9 * n,
                split_shipment_rate=0.075,
                rerouted=4 * n,
                reroute_rate=0.033,
                shipped=60 * n,
                average_ship_seconds=2700 + 20 * n,
                revenue=[
                    pb.Revenue(currency=c, amount_minor=987_654_32 * n, orders=40 * n, average_order_value_minor=24_691)
                    for c in currencies
                ],
            ),
            fulfilment=pb.FulfilmentFigures(tasks_picked=200 * n, tasks_short_picked=9 * n, short_pick_rate=0.043),
            demand=pb.DemandFigures(
                refused=12 * n,
                short_lines=15 * n,
                shortfalls=[
                    pb.Shortfall(sku=f"SKU-SOFA-VELVET-GREEN-{k}-SEAT", refusals=k * n, units_short=3 * k * n)
                    for k in range(1, 6)
                ],
            ),
            stock=pb.StockFigures(changes_checked=900 * n, oversells=0),
        )

    rows = [
        row(day, channel, location, 1 + (index + number) % 4)
        for index, day in enumerate(days)
        for number, channel in enumerate(channels)
        for location in stores
    ]
    return Figures(
        rows=rows,
        total=row(days[0], common_pb2.CHANNEL_UNSPECIFIED, "", 400),
        periods=[row(day, common_pb2.CHANNEL_UNSPECIFIED, "", 30 + index) for index, day in enumerate(days)],
        channels=[row(days[0], channel, "", 130) for channel in channels],
        locations=[row(days[0], common_pb2.CHANNEL_UNSPECIFIED, location, 190) for location in stores],
    )


async def test_a_busy_month_reads_well_on_a_phone_and_a_laptop(tmp_path: Path) -> None:
    report = tmp_path / "month.html"
    page = render_html(a_busy_month(), title="Omnistock channel insights", subtitle="July, every channel")
    await asyncio.to_thread(report.write_text, page, "utf-8")

    for width in (PHONE, DESKTOP):
        seen = await measured(report, tmp_path, width)
        assert_reads_well(seen, width)
        # Averages of 25 to 47 minutes read in minutes.
        title, top = time_axis(seen)
        assert title == "Average time, in minutes" and 47 <= top <= 100, (title, top)


async def test_an_empty_report_renders_too(stack: Stack, tmp_path: Path) -> None:
    report = tmp_path / "empty.html"

    result = await omnistock(stack, "insights", "-l", unique_id("NOWHERE-"), "--html", str(report))

    assert result.exit_code == 0, result.output
    dom, console, png = await render_in_chromium(report, tmp_path)
    assert console == []
    assert "No figures" in dom
    assert png.startswith(PNG_SIGNATURE)


async def test_store_staff_read_their_store_and_an_admin_rebuilds(stack: Stack, publisher: Publisher) -> None:
    store = await a_store_with_a_day(publisher)
    day = DAY.isoformat()

    mine = await omnistock(stack, "insights", "--role", "pos", "-l", store, "--from", day, "--to", day, "--json")
    assert mine.exit_code == 0, mine.output
    assert {row["location_id"] for row in json.loads(mine.stdout)["rows"]} == {store}
    everywhere = await omnistock(stack, "insights", "--role", "pos", "--json")
    assert everywhere.exit_code == 1
    assert "PERMISSION_DENIED" in everywhere.output or "permission" in everywhere.output.lower()

    rebuilt = await omnistock(stack, "insights-rebuild", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert int(json.loads(rebuilt.stdout)["events_applied"]) > 0
