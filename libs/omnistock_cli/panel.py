"""What `omnistock up` prints once the system is ready: where each service is,
how to call it, a token per role and a few commands to try."""

from __future__ import annotations

import contextlib
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from omnistock_cli.catalogue import DEMO_SKU, DEMO_STORE, DEMO_WAREHOUSE
from omnistock_cli.context import mint_token
from omnistock_cli.supervisor import metrics_port
from omnistock_platform.auth import Role
from omnistock_platform.settings import ServiceName, Settings

READY_LINE = "Omnistock is running. Press Ctrl-C to stop."

# (role, locations, what the holder is)
DEMO_TOKENS: tuple[tuple[Role, tuple[str, ...], str], ...] = (
    (Role.STOREFRONT, (), "web shop"),
    (Role.APP, (), "mobile app"),
    (Role.CHAT_AGENT, (), "customer-service chat agent"),
    (Role.POS, (DEMO_STORE,), "store till"),
    (Role.WAREHOUSE, (DEMO_WAREHOUSE,), "warehouse staff"),
    (Role.ADMIN, (), "back office"),
)


@dataclass
class ReadyReport:
    settings: Settings
    data_dir: Path
    statuses: dict[ServiceName, str]
    embedded: list[str]
    seed_note: str
    examples: list[str]
    console_url: str = ""


def command_name() -> str:
    """How to run `omnistock` from here: the bare name when it is on PATH (an active venv),
    else the path of the script that is running (`make run` does not activate the venv)."""
    running = Path(sys.argv[0])
    found = shutil.which("omnistock")
    if running.name != "omnistock" or (found is not None and Path(found).resolve() == running.resolve()):
        return "omnistock"
    with contextlib.suppress(ValueError):
        return str(running.resolve().relative_to(Path.cwd()))
    return str(running)


def demo_tokens(settings: Settings) -> list[tuple[Role, tuple[str, ...], str, str]]:
    return [
        (role, locations, about, mint_token(settings, role, locations=locations, subject=f"demo-{role}"))
        for role, locations, about in DEMO_TOKENS
    ]


def grpcurl_flags(settings: Settings) -> str:
    if settings.tls_ca_file or settings.tls_cert_file:
        return f"-cacert {settings.tls_ca_file or settings.tls_cert_file}"
    return "-plaintext"


def grpcurl_examples(settings: Settings, services: list[ServiceName]) -> list[str]:
    """Shell lines, each short enough for the panel (long commands continue with a backslash)."""
    flags = grpcurl_flags(settings)
    lines = [f"grpcurl {flags} {settings.address(service)} list" for service in services[:1]]
    if "inventory" in services:
        lines += [
            f"TOKEN=$({command_name()} token --role chat_agent)",
            f'grpcurl {flags} -H "authorization: Bearer $TOKEN" \\',
            f'  -d \'{{"sku": "{DEMO_SKU}"}}\' \\',
            f"  {settings.address('inventory')} omnistock.inventory.v1.InventoryService/GetStock",
        ]
    return lines


def render(report: ReadyReport) -> Panel:
    settings = report.settings
    services = Table(box=None, header_style="bold", pad_edge=False)
    columns = ["service", "address", "health"] + (["metrics"] if settings.metrics_port else [])
    for column in columns:
        services.add_column(column)
    for service, status in report.statuses.items():
        colour = "green" if status == "SERVING" else "red"
        metrics = [f"http://127.0.0.1:{metrics_port(settings, service)}/metrics"] if settings.metrics_port else []
        services.add_row(service, settings.address(service), f"[{colour}]{status}[/]", *metrics)
    if not report.statuses:
        services.add_row("(no service installed yet)", "", "")

    backing = Table(box=None, show_header=False, pad_edge=False)
    backing.add_column(style="bold")
    backing.add_column(overflow="fold")
    embedded = {name: " (embedded)" if name in report.embedded else "" for name in ("PostgreSQL", "NATS")}
    backing.add_row("PostgreSQL", _redact(settings.database_url or "") + embedded["PostgreSQL"])
    backing.add_row("NATS", f"{settings.nats_url}{embedded['NATS']}")
    backing.add_row("data", str(report.data_dir))
    backing.add_row("logs", str(report.data_dir / "logs"))
    if report.seed_note:
        backing.add_row("demo data", report.seed_note)
    if report.console_url:
        backing.add_row("console", f"{report.console_url} (staff console: open it in a browser)")

    parts: list[Any] = [services, Text(""), backing]
    calls = grpcurl_examples(settings, list(report.statuses))
    if calls:
        parts += [Text(""), Text("Call the API with grpcurl (server reflection is on):", style="bold")]
        parts += [Text(f"  {line}") for line in calls]
    if report.examples:
        parts += [Text(""), Text("Or with the omnistock command:", style="bold")]
        name = command_name()
        parts += [Text(f"  {name}{line.removeprefix('omnistock')}") for line in report.examples]
    parts += [Text(""), Text("Ready tokens, one per role, follow below the panel.", style="bold")]
    # Top and bottom rules only: lines copy out of the terminal without border characters.
    return Panel(Group(*parts), title="Omnistock", title_align="left", box=box.HORIZONTALS, border_style="green")


def print_ready(console: Console, report: ReadyReport) -> None:
    console.print(render(report))
    console.print("[bold]Tokens[/] (valid 8 h; send as `authorization: Bearer <token>`):")
    for role, locations, about, token in demo_tokens(report.settings):
        scope = f" at {', '.join(locations)}" if locations else ""
        console.print(f"  [bold]{role}[/] ({about}{scope}):")
        # Never wrapped by rich, so a token copies as one piece.
        console.print(f"    {token}", soft_wrap=True, markup=False, highlight=False)
    console.print(f"[bold green]{READY_LINE}[/]")


def _redact(url: str) -> str:
    """A password in a URL stays out of the terminal."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    credentials, _, host = rest.partition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials and credentials.split(":", 1)[1] else url
