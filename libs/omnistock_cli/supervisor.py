"""Each service, and the embedded NATS server, as its own OS process: started again with backoff
when it exits, and also when it stops answering its health check for a set time (a frozen or
blocked process never exits by itself); stopped with SIGTERM (a service drains) when `up` ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.markup import escape

from omnistock_cli.health import SERVING, probe
from omnistock_cli.infrastructure import ProcessRecord
from omnistock_platform.embedded import EmbeddedNats, nats_server_binary
from omnistock_platform.services import ServiceName
from omnistock_platform.services import service as service_row
from omnistock_platform.settings import Settings

FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0
# A process that ran this long before crashing starts the backoff from the beginning again.
STABLE_AFTER = 60.0
STOP_LATE_GRACE = 5.0
NATS_PROGRAM = "nats-server"


def service_command(service: ServiceName) -> list[str]:
    return [sys.executable, "-m", service_row(service).entrypoint]


def storefront_origins(settings: Settings) -> list[str]:
    return [f"http://{host}:{settings.storefront_port}" for host in ("127.0.0.1", "localhost")]


def service_environment(settings: Settings, data_dir: Path, service: ServiceName) -> dict[str, str]:
    """The caller's environment (every OMNISTOCK_* setting passes through) plus the URLs
    of the servers `up` chose, which may be embedded ones, and webhooks open to local receivers
    unless the environment says otherwise."""
    env = dict(os.environ)
    # Local development: webhook receivers on this machine or the office network are fine.
    env.setdefault("OMNISTOCK_WEBHOOK_ALLOWED_NETWORKS", '["public", "private", "loopback"]')
    env.setdefault("OMNISTOCK_WEBHOOK_REQUIRE_HTTPS", "false")
    # Local development: the storefront demo page `up` serves may call the Connect ports.
    env.setdefault("OMNISTOCK_CONNECT_ALLOWED_ORIGINS", json.dumps(storefront_origins(settings)))
    env.update(
        {
            "DATABASE_URL": settings.database_url or "",
            "NATS_URL": settings.nats_url or "",
            "OMNISTOCK_DATA_DIR": str(data_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def last_line(path: Path) -> str:
    with contextlib.suppress(OSError), path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - 4096))
        lines = [line.strip() for line in handle.read().decode(errors="replace").splitlines() if line.strip()]
        return lines[-1] if lines else ""
    return ""


def exit_reason(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


# Asked with a timeout in seconds: True when the process answered its health check within it.
Probe = Callable[[float], Awaitable[bool]]


@dataclass(frozen=True)
class Program:
    """A process `up` keeps running: a service, or the embedded NATS server."""

    name: str
    command: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    # True while the process answers its health check; None: only an exit counts.
    answers: Probe | None = None


def service_program(settings: Settings, data_dir: Path, service: ServiceName) -> Program:
    async def answers(timeout: float) -> bool:
        return await probe(settings, service, timeout=timeout) == SERVING

    return Program(
        service,
        service_command(service),
        data_dir / "logs" / f"{service}.log",
        service_environment(settings, data_dir, service),
        answers,
    )


async def nats_answers(port: int, timeout: float) -> bool:
    """A NATS server greets every connection with its INFO line at once: one that does not
    within `timeout` is not serving, whether it is gone, frozen or swamped."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    except (OSError, TimeoutError):
        return False
    try:
        return (await asyncio.wait_for(reader.readline(), timeout)).startswith(b"INFO ")
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def nats_program(data_dir: Path, port: int) -> Program:
    """The embedded NATS server (JetStream, durable on every write) under `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "nats.conf"
    config.write_text(EmbeddedNats(data_dir, port=port).config())

    async def answers(timeout: float) -> bool:
        return await nats_answers(port, timeout)

    return Program(NATS_PROGRAM, [nats_server_binary(), "-c", str(config)], data_dir / "nats.log", None, answers)


@dataclass
class Supervised:
    program: Program
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    # When the current process last answered its health check (0: not yet).
    answered_at: float = 0.0
    # Stopped by the supervisor because it stopped answering, not by itself.
    unresponsive: bool = False
    restarts: int = 0
    task: asyncio.Task[None] | None = None
    watchdog: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.program.name


@dataclass
class Supervisor:
    """Starts programs, starts each again when it exits, and, with `health_timeout` > 0, stops
    and starts again one whose health check has gone unanswered that long (`start_timeout`, if
    longer, right after a start)."""

    record: ProcessRecord
    say: Callable[[str], None]
    health_timeout: float = 0.0
    start_timeout: float = 60.0
    # How long a process that stopped answering may take to exit on SIGTERM before SIGKILL.
    stop_grace: float = STOP_LATE_GRACE
    children: dict[str, Supervised] = field(default_factory=dict)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def probe_timeout(self) -> float:
        return min(2.0, self.health_timeout / 2) if self.health_timeout else 2.0

    @property
    def probe_interval(self) -> float:
        return min(5.0, max(0.2, self.health_timeout / 5))

    async def start(self, programs: list[Program]) -> None:
        for program in programs:
            program.log_path.parent.mkdir(parents=True, exist_ok=True)
            child = Supervised(program)
            self.children[program.name] = child
            await self._spawn(child)
            child.task = asyncio.create_task(self._watch(child), name=f"supervise-{program.name}")
            if self.health_timeout > 0 and program.answers is not None:
                child.watchdog = asyncio.create_task(self._watchdog(child), name=f"watchdog-{program.name}")

    async def _spawn(self, child: Supervised) -> None:
        program = child.program
        with program.log_path.open("ab") as log:
            # Its own session: Ctrl-C in the terminal reaches `up` only, which stops the
            # services in order (they drain) before NATS and PostgreSQL go away.
            child.process = await asyncio.create_subprocess_exec(
                *program.command,
                env=program.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        child.started_at, child.answered_at, child.unresponsive = time.monotonic(), 0.0, False
        self.record.add(child.name, child.process.pid)
        self.say(f"{child.name} started (pid {child.process.pid}), log {escape(str(program.log_path))}")

    async def _watch(self, child: Supervised) -> None:
        failures = 0
        while True:
            assert child.process is not None
            code = await child.process.wait()
            if self._stopping.is_set():
                return
            ran = time.monotonic() - child.started_at
            failures = 1 if ran >= STABLE_AFTER else failures + 1
            delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (failures - 1))
            detail = last_line(child.program.log_path)
            why = "stopped answering its health check and was stopped" if child.unresponsive else exit_reason(code)
            self.say(
                f"[red]{child.name} {why} after {ran:.1f} s[/]; restarting in {delay:g} s"
                + (f"\n  last log line: {escape(detail[:300])}" if detail else "")
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return
            child.restarts += 1
            await self._spawn(child)
            if self._stopping.is_set():  # `stop` began while this one was starting
                await self._stop_one(child, STOP_LATE_GRACE)
                return

    async def _watchdog(self, child: Supervised) -> None:
        """A process that is there but does not answer (a blocked event loop, SIGSTOP, a
        deadlock) never exits by itself: stop it, and `_watch` starts it again."""
        answers = child.program.answers
        assert answers is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.probe_interval)
            if self._stopping.is_set():
                return
            process = child.process
            if process is None or process.returncode is not None or child.unresponsive:
                continue  # exited: `_watch` restarts it
            try:
                answered = await answers(self.probe_timeout)
            except Exception:  # a probe that cannot even ask counts as no answer
                answered = False
            if process is not child.process or self._stopping.is_set():
                continue
            now = time.monotonic()
            if answered:
                child.answered_at = now
                continue
            since = max(child.answered_at, child.started_at)
            allowed = self.health_timeout if child.answered_at else max(self.health_timeout, self.start_timeout)
            if now - since < allowed:
                continue
            child.unresponsive = True
            self.say(
                f"[red]{child.name} (pid {process.pid}) has not answered its health check for {now - since:.0f} s[/];"
                " stopping it to start it again"
            )
            await self._stop_one(child, self.stop_grace)

    def pids(self) -> dict[str, int]:
        return {s: c.process.pid for s, c in self.children.items() if c.process and c.process.returncode is None}

    def kill(self) -> None:
        """A second Ctrl-C: no more waiting for drains."""
        self._stopping.set()
        for child in self.children.values():
            if child.process is not None and child.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()

    async def stop(self, grace: float, names: list[str] | None = None) -> None:
        """SIGTERM the named programs (default: all), wait for their drain, SIGKILL whatever is
        still there after `grace`. Nothing is restarted from here on."""
        self._stopping.set()
        chosen = [child for name, child in self.children.items() if names is None or name in names]
        await asyncio.gather(*(self._stop_one(child, grace) for child in chosen))
        for child in chosen:
            for task in (child.watchdog, child.task):
                if task is None:
                    continue
                # The watcher sees the exit and returns; one spawned in the meantime is stopped by it.
                try:
                    await asyncio.wait_for(task, grace + 1)
                except TimeoutError:
                    self.say(f"[yellow]{child.name}: supervisor did not finish; giving up on it[/]")
            self.record.remove(child.name)

    async def _stop_one(self, child: Supervised, grace: float) -> None:
        process = child.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
            process.send_signal(signal.SIGCONT)  # a stopped process handles SIGTERM only once continued
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            self.say(f"[yellow]{child.name} did not stop in {grace:g} s; killing it[/]")
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
