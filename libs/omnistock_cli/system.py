"""`omnistock up` (alias `run`) and `omnistock migrate`: the whole local system
in one command, on PostgreSQL and NATS at DATABASE_URL / NATS_URL, or embedded
ones under the data directory when those are unset."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from omnistock_client import OmnistockClient
from omnistock_console.server import EmbeddedConsole
from rich.markup import escape

from omnistock_cli import lifecycle
from omnistock_cli.context import fail, load_settings, mint_token
from omnistock_cli.health import SERVING, probe_all
from omnistock_cli.infrastructure import Backing, DataDirBusy, DataDirLock, ProcessRecord
from omnistock_cli.output import console, err_console
from omnistock_cli.panel import ReadyReport, print_ready
from omnistock_cli.seed import describe, seed_with_progress
from omnistock_cli.supervisor import (
    NATS_PROGRAM,
    STOP_LATE_GRACE,
    Supervisor,
    nats_answers,
    nats_program,
    service_program,
)
from omnistock_platform.auth import Role
from omnistock_platform.embedded import EMBEDDED_NATS_PORT, EmbeddedPostgres, port_open
from omnistock_platform.logging import configure_logging
from omnistock_platform.migrations import upgrade, upgrade_async
from omnistock_platform.registry import installed_services
from omnistock_platform.services import ServiceName
from omnistock_platform.settings import Settings, parse_duration
from omnistock_storefront.server import EmbeddedStorefront

# Where the root command leaves the examples of every area in the context (Context.obj).
READY_EXAMPLES = "ready_examples"
NATS_STARTS_WITHIN = 20.0
NATS_STOPS_WITHIN = 10.0
# `up --detach` waits this long beyond the ready timeout (embedded PostgreSQL, migrations, seeding).
DETACH_MARGIN = 120.0

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Where embedded PostgreSQL and NATS keep their data, and where logs go. "
        "Default: OMNISTOCK_DATA_DIR or .omnistock.",
        file_okay=False,
    ),
]
NatsPortOption = Annotated[
    int,
    typer.Option(
        "--nats-port",
        envvar="OMNISTOCK_EMBEDDED_NATS_PORT",
        show_envvar=True,
        help="Port of the embedded NATS server (used only when NATS_URL is unset).",
    ),
]


def say(message: str) -> None:
    err_console.print(f"[dim]{datetime.now().astimezone():%H:%M:%S %Z}[/] {message}")


class Stopping(Exception):
    """Ctrl-C or SIGTERM arrived while starting up."""


class Up:
    def __init__(
        self,
        settings: Settings,
        data_dir: Path,
        nats_port: int,
        seed: bool,
        ready_timeout: float,
        only: list[str] | None = None,
        health_timeout: float = 0.0,
        examples: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        self.examples = list(examples)
        self.only = only or []
        self.data_dir = data_dir
        self.seed = seed
        self.ready_timeout = ready_timeout
        self.record = ProcessRecord(data_dir / "run")
        self.backing = Backing(data_dir, nats_port)
        self.lock = DataDirLock(data_dir)
        self.supervisor = Supervisor(
            self.record,
            say,
            health_timeout=health_timeout,
            start_timeout=ready_timeout,
            stop_grace=settings.shutdown_grace.total_seconds() + STOP_LATE_GRACE,
        )
        self.console: EmbeddedConsole | None = None
        self.storefront: EmbeddedStorefront | None = None
        self.stop = asyncio.Event()

    def _on_signal(self, name: str) -> None:
        if self.stop.is_set():
            say(f"{name} again: stopping without waiting for the services to drain")
            self.supervisor.kill()
            return
        say(f"{name}: stopping")
        self.stop.set()

    def _check(self) -> None:
        if self.stop.is_set():
            raise Stopping()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig.name)
        try:
            self.lock.acquire()
        except DataDirBusy as error:
            fail(str(error), hint="stop it first, or pass another --data-dir")
        try:
            return await self._run()
        except Stopping:
            return 0
        finally:
            lifecycle.clear_state(self.data_dir)
            await self._shutdown()
            self.lock.release()

    async def _run(self) -> int:
        leftovers = await asyncio.to_thread(self.record.stop_leftovers)
        if leftovers:
            say(f"stopped what an earlier run left behind: {escape(', '.join(leftovers))}")
        self._check()
        services = self._services()
        self._check_ports(services)
        try:
            self.settings = await asyncio.to_thread(self.backing.start, self.settings)
            if self.backing.nats_dir is not None:
                await self._start_nats(self.backing.nats_dir)
        except RuntimeError as error:
            fail(f"could not start the embedded servers: {error}", hint="set DATABASE_URL / NATS_URL, or --nats-port")
        for name in self.backing.embedded:
            say(f"embedded {name} running (data in {escape(str(self.data_dir))})")
        self._check()
        if not services:
            say("[yellow]no service is installed yet; running PostgreSQL and NATS only[/]")
        try:
            await upgrade_async(self.settings, services)
        except Exception as error:  # Alembic raises many kinds; any of them stops the start
            fail(f"migrations failed: {type(error).__name__}: {error}")
        say(f"migrated {', '.join(services) or 'nothing'}")
        self._check()
        await self.supervisor.start([service_program(self.settings, self.data_dir, service) for service in services])
        statuses = await self._wait_ready(services)
        self._check()
        seed_note = await self._seed(statuses) if self.seed else "not loaded (--no-seed)"
        self._check()
        console_url = await self._start_console()
        self._check()
        storefront_url = await self._start_storefront(services)
        self._check()
        print_ready(
            console,
            ReadyReport(
                self.settings,
                self.data_dir,
                statuses,
                self.backing.embedded,
                seed_note,
                self.examples,
                console_url,
                storefront_url,
            ),
        )
        lifecycle.write_state(self.data_dir, self.settings, services, self.backing.embedded)
        await self.stop.wait()
        return 0

    async def _start_nats(self, nats_dir: Path) -> None:
        """Embedded NATS, supervised like the services; ready once it greets a client."""
        await self.supervisor.start([nats_program(nats_dir, self.backing.nats_port)])
        nats = self.supervisor.children[NATS_PROGRAM]
        deadline = time.monotonic() + NATS_STARTS_WITHIN
        while not await nats_answers(self.backing.nats_port, timeout=1.0):
            if nats.process is not None and nats.process.returncode is not None and not nats.restarts:
                raise RuntimeError(f"nats-server exited; see {nats.program.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"nats-server did not answer within {NATS_STARTS_WITHIN:g} s")
            self._check()
            await asyncio.sleep(0.05)

    def _services(self) -> list[ServiceName]:
        installed = installed_services()
        missing = sorted(set(self.only) - set(installed))
        if missing:
            fail(f"not installed: {', '.join(missing)}", hint=f"installed services: {', '.join(installed) or 'none'}")
        return [service for service in installed if not self.only or service in self.only]

    def _check_ports(self, services: list[ServiceName]) -> None:
        # The services bind with SO_REUSEPORT: a busy port would be shared silently, not refused.
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "::", "") else self.settings.host
        for service in services:
            port = self.settings.port(service)
            if port_open(host, port):
                fail(
                    f"port {port} for {service} is already in use",
                    hint=f"is another `omnistock up` running? or set OMNISTOCK_{service.upper()}_PORT",
                )
            connect = self.settings.connect_port(service)
            if connect and port_open(host, connect):
                fail(
                    f"port {connect} for {service}'s Connect is already in use",
                    hint=f"another `omnistock up` running? or set OMNISTOCK_{service.upper()}_CONNECT_PORT (0: none)",
                )

    async def _wait_ready(self, services: list[ServiceName]) -> dict[ServiceName, str]:
        deadline = time.monotonic() + self.ready_timeout
        statuses: dict[ServiceName, str] = dict.fromkeys(services, "STARTING")
        while services:
            statuses = await probe_all(self.settings, services, timeout=1.0)
            if all(status == SERVING for status in statuses.values()):
                say(f"serving: {', '.join(services)}")
                break
            if time.monotonic() > deadline:
                waiting = [s for s, status in statuses.items() if status != SERVING]
                say(
                    f"[yellow]not serving after {self.ready_timeout:g} s: {', '.join(waiting)}[/] "
                    f"(see {escape(str(self.data_dir / 'logs'))}); still supervising"
                )
                break
            self._check()
            await asyncio.sleep(0.2)
        return statuses

    async def _seed(self, statuses: dict[ServiceName, str]) -> str:
        if statuses.get("inventory") != SERVING:
            return "not loaded (inventory is not serving)"
        token = mint_token(self.settings, Role.ADMIN, subject="omnistock-up")
        async with OmnistockClient.connect(self.settings, token) as client:
            try:
                result = await seed_with_progress(client)
            except Exception as error:  # gRPC errors and the like: the system still runs
                say(f"[yellow]seeding failed:[/] {escape(str(error))}")
                return "seeding failed (run `omnistock seed` to try again)"
        say(escape(describe(result)))
        return "already there (seed skipped)" if result.skipped else "demo catalogue loaded"

    async def _start_console(self) -> str:
        """The staff console, in this process; its address, or "" when it could not start."""
        # The development stack: demo sign-in, unless OMNISTOCK_CONSOLE_DEMO_SIGN_IN says otherwise.
        demo = "OMNISTOCK_CONSOLE_DEMO_SIGN_IN" not in os.environ or self.settings.console_demo_sign_in
        self.console = EmbeddedConsole(self.settings.model_copy(update={"console_demo_sign_in": demo}))
        try:
            url = await self.console.start()
        except OSError as error:
            self.console = None
            say(f"[yellow]the console did not start:[/] {escape(str(error))} (OMNISTOCK_CONSOLE_PORT chooses its port)")
            return ""
        say(f"console serving at {url}")
        return url

    async def _start_storefront(self, services: list[ServiceName]) -> str:
        """The storefront demo page (calls inventory and reservations over Connect from the browser);
        its address, or "" when it could not start or those services are not running."""
        if not {"inventory", "reservations"} <= set(services) or not self.settings.storefront_port:
            return ""
        self.storefront = EmbeddedStorefront(self.settings)
        try:
            url = await self.storefront.start()
        except OSError as error:
            self.storefront = None
            say(
                f"[yellow]the storefront did not start:[/] {escape(str(error))}"
                " (OMNISTOCK_STOREFRONT_PORT chooses its port)"
            )
            return ""
        say(f"storefront demo serving at {url}")
        return url

    async def _shutdown(self) -> None:
        if self.storefront is not None:
            await self.storefront.stop()
        if self.console is not None:
            await self.console.stop()
        services = [name for name in self.supervisor.children if name != NATS_PROGRAM]
        if services:
            say("stopping the services (they drain in-flight calls)")
            await self.supervisor.stop(self.settings.shutdown_grace.total_seconds() + STOP_LATE_GRACE, services)
        # NATS after the services that used it; PostgreSQL last.
        await self.supervisor.stop(NATS_STOPS_WITHIN, [NATS_PROGRAM])
        if self.backing.embedded:
            say(f"stopping embedded {' and '.join(reversed(self.backing.embedded))}")
        await asyncio.to_thread(self.backing.stop)
        say("stopped")


def _data_dir(settings: Settings, data_dir: Path | None) -> Path:
    return (data_dir or settings.data_dir).expanduser().resolve()


def up(
    ctx: typer.Context,
    data_dir: DataDirOption = None,
    no_seed: Annotated[bool, typer.Option("--no-seed", help="Do not load the demo catalogue.")] = False,
    nats_port: NatsPortOption = EMBEDDED_NATS_PORT,
    ready_timeout: Annotated[float, typer.Option(help="Seconds to wait for every service to be SERVING.")] = 60.0,
    service: Annotated[
        list[str] | None,
        typer.Option("--service", help="Start only this service; repeat for more. Default: every installed one."),
    ] = None,
    health_timeout: Annotated[
        str,
        typer.Option(
            "--health-timeout",
            envvar="OMNISTOCK_UP_HEALTH_TIMEOUT",
            show_envvar=True,
            help="Restart a service (or embedded NATS) that has not answered its health check for this long, "
            "like one that exited (30s, 2m; 0 turns it off). Right after a start it gets --ready-timeout if longer.",
        ),
    ] = "30s",
    detach: Annotated[
        bool,
        typer.Option(
            "--detach", "-d", help="Run in the background: return once ready (`omnistock status`, `omnistock down`)."
        ),
    ] = False,
) -> None:
    """Run the whole local system until Ctrl-C (or `omnistock down`).

    Starts PostgreSQL and NATS (embedded when their URLs are unset), migrates, runs each service, seeds once.
    """
    settings = load_settings()
    configure_logging("WARNING", json=False)
    directory = _data_dir(settings, data_dir)
    unanswered = _health_timeout(health_timeout)
    if detach:
        arguments = [
            *(["--no-seed"] if no_seed else []),
            *("--nats-port", str(nats_port)),
            *("--ready-timeout", str(ready_timeout)),
            *(option for name in service or [] for option in ("--service", name)),
            *("--health-timeout", health_timeout),
        ]
        raise typer.Exit(lifecycle.detach(arguments, directory, wait=ready_timeout + DETACH_MARGIN))
    code = asyncio.run(
        Up(
            settings,
            directory,
            nats_port,
            not no_seed,
            ready_timeout,
            service,
            unanswered.total_seconds(),
            examples=examples_of(ctx),
        ).run()
    )
    raise typer.Exit(code)


def examples_of(ctx: typer.Context) -> list[str]:
    """The commands worth trying that the ready panel shows: every area's, as `omnistock` (the
    root command, which knows the areas) put them in the context."""
    state = ctx.find_root().obj
    return list(state.get(READY_EXAMPLES, ())) if isinstance(state, dict) else []


def _health_timeout(text: str) -> timedelta:
    parsed = parse_duration(text.strip())
    if not isinstance(parsed, timedelta) or parsed < timedelta(0):
        fail(f"--health-timeout {text!r} is not a duration", hint="write it like 30s or 2m; 0 turns the check off")
    return parsed


def migrate(data_dir: DataDirOption = None) -> None:
    """Apply every installed service's migrations.

    Uses embedded PostgreSQL under the data directory when DATABASE_URL is unset.
    """
    settings = load_settings()
    configure_logging("WARNING", json=False)
    services = installed_services()
    postgres: EmbeddedPostgres | None = None
    try:
        if not settings.database_url:
            postgres = EmbeddedPostgres(_data_dir(settings, data_dir) / "postgres")
            settings = settings.model_copy(update={"database_url": postgres.start()})
        upgrade(settings, services)
    except Exception as error:  # connection refused, a broken revision, ...: say what, no traceback
        fail(f"migrations failed: {type(error).__name__}: {error}")
    finally:
        if postgres is not None:
            postgres.stop()
    console.print(f"Migrated: {', '.join(services) or 'no service installed'}.")


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("run", help="Alias of `omnistock up` (what `make run` calls).")(up)
    app.command("migrate")(migrate)
