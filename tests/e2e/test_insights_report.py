"""`omnistock insights` against the running stack: tables, JSON, and an HTML report that
headless Chromium renders without a single console message."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import typer
from google.protobuf import json_format
from typer.testing import CliRunner, Result

from omnistock.insights.v1 import insights_pb2 as pb
from omnistock_cli import insights as insights_cli
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.insights.conftest import rows_at
from tests.integration.insights.journeys import DAY, Publisher, store_day

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
    assert printed["rows"][1]["orders"]["orders"] == "0"  # every figure is there, zeros too (int64 as text)


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
