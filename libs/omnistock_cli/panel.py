"""What `omnistock up` prints once the system is ready: where each service is,
how to call it, a token per role and a few commands to try."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Mapping
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
from omnistock_platform.auth import Role
from omnistock_platform.services import ServiceName
from omnistock_platform.settings import FILE_TRACES_EXPORTER, Settings

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
    storefront_url: str = ""


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


def metrics_url(settings: Settings, service: ServiceName) -> str:
    port = settings.metrics_port(service)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{port}/metrics" if port else f"off (OMNISTOCK_{service.upper()}_METRICS_PORT=0)"


def connect_url(settings: Settings, service: ServiceName) -> str:
    port = settings.connect_port(service)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{port}" if port else "off"


def traces_destination(settings: Settings, data_dir: Path, environ: Mapping[str, str] = os.environ) -> str:
    """Where the services send their spans, as the OTEL_* variables they inherit say."""
    names = [name.strip() for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    names = [name for name in names if name != "none"]
    if not names or environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return f"off (OTEL_TRACES_EXPORTER={FILE_TRACES_EXPORTER}, console or otlp turns them on)"
    places = []
    for name in names:
        if name == FILE_TRACES_EXPORTER:
            path = settings.traces_file or data_dir / "traces.jsonl"
            places.append(f"{path} (read one with: {command_name()} trace)")
        elif name == "console":
            places.append(f"each service's log in {data_dir / 'logs'}")
        elif name.startswith("otlp"):
            endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
                "OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4317"
            )
            places.append(f"OTLP to {endpoint}")
        else:
            places.append(name)
    return ", ".join(places)


def render(report: ReadyReport) -> Panel:
    settings = report.settings
    services = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("service", "address", "health", "metrics"):
        services.add_column(column)
    for service, status in report.statuses.items():
        colour = "green" if status == "SERVING" else "red"
        services.add_row(service, settings.address(service), f"[{colour}]{status}[/]", metrics_url(settings, service))
    if not report.statuses:
        services.add_row("(no service installed yet)", "", "")
    # Connect and gRPC-Web beside each gRPC port: a table of its own, so that every URL stays whole at 80 columns.
    web = Table(box=None, header_style="bold", pad_edge=False)
    web.add_column("service")
    web.add_column("Connect and gRPC-Web (browsers, curl, TypeScript)")
    for service in report.statuses:
        web.add_row(service, connect_url(settings, service))

    backing = Table(box=None, show_header=False, pad_edge=False)
    backing.add_column(style="bold")
    backing.add_column(overflow="fold")
    embedded = {name: " (embedded)" if name in report.embedded else "" for name in ("PostgreSQL", "NATS")}
    backing.add_row("PostgreSQL", _redact(settings.database_url or "") + embedded["PostgreSQL"])
    backing.add_row("NATS", f"{settings.nats_url}{embedded['NATS']}")
    backing.add_row("data", str(report.data_dir))
    backing.add_row("logs", str(report.data_dir / "logs"))
    backing.add_row("traces", traces_destination(settings, report.data_dir))
    if report.seed_note:
        backing.add_row("demo data", report.seed_note)
    if report.console_url:
        backing.add_row("console", f"{report.console_url} (staff console: open it in a browser)")
    if report.storefront_url:
        backing.add_row("storefront", f"{report.storefront_url} (demo shop page calling the services over Connect)")

    parts: list[Any] = [services, Text(""), *([web, Text("")] if report.statuses else []), backing]
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
