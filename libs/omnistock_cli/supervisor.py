"""Each service as its own OS process, restarted with backoff when it crashes,
and stopped with SIGTERM (the service drains) when `up` ends."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.markup import escape

from omnistock_cli.infrastructure import ProcessRecord
from omnistock_platform.settings import ServiceName, Settings

FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0
# A process that ran this long before crashing starts the backoff from the beginning again.
STABLE_AFTER = 60.0
STOP_LATE_GRACE = 5.0


def service_command(service: ServiceName) -> list[str]:
    return [sys.executable, "-m", f"omnistock_{service}.entrypoints.main"]


def service_environment(settings: Settings, data_dir: Path, service: ServiceName) -> dict[str, str]:
    """The caller's environment (every OMNISTOCK_* setting passes through) plus the URLs
    of the servers `up` chose, which may be embedded ones."""
    env = dict(os.environ)
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


@dataclass
class Supervised:
    service: ServiceName
    log_path: Path
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    restarts: int = 0
    task: asyncio.Task[None] | None = None


@dataclass
class Supervisor:
    services: list[ServiceName]
    env: Callable[[ServiceName], dict[str, str]]
    log_dir: Path
    record: ProcessRecord
    say: Callable[[str], None]
    children: dict[ServiceName, Supervised] = field(default_factory=dict)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for service in self.services:
            child = Supervised(service, self.log_dir / f"{service}.log")
            self.children[service] = child
            await self._spawn(child)
            child.task = asyncio.create_task(self._watch(child), name=f"supervise-{service}")

    async def _spawn(self, child: Supervised) -> None:
        with child.log_path.open("ab") as log:
            # Its own session: Ctrl-C in the terminal reaches `up` only, which stops the
            # services in order (they drain) before NATS and PostgreSQL go away.
            child.process = await asyncio.create_subprocess_exec(
                *service_command(child.service),
                env=self.env(child.service),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        child.started_at = time.monotonic()
        self.record.add(child.service, child.process.pid)
        self.say(f"{child.service} started (pid {child.process.pid}), log {escape(str(child.log_path))}")

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
            detail = last_line(child.log_path)
            self.say(
                f"[red]{child.service} {exit_reason(code)} after {ran:.1f} s[/]; restarting in {delay:g} s"
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

    def pids(self) -> dict[ServiceName, int]:
        return {s: c.process.pid for s, c in self.children.items() if c.process and c.process.returncode is None}

    def kill(self) -> None:
        """A second Ctrl-C: no more waiting for drains."""
        self._stopping.set()
        for child in self.children.values():
            if child.process is not None and child.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()

    async def stop(self, grace: float) -> None:
        """SIGTERM every service, wait for their drain, SIGKILL whatever is still there after `grace`."""
        self._stopping.set()
        await asyncio.gather(*(self._stop_one(child, grace) for child in self.children.values()))
        for child in self.children.values():
            if child.task is not None:
                # The watcher sees the exit and returns; one spawned in the meantime is stopped by it.
                try:
                    await asyncio.wait_for(child.task, grace + 1)
                except TimeoutError:
                    self.say(f"[yellow]{child.service}: supervisor did not finish; giving up on it[/]")
            self.record.remove(child.service)

    async def _stop_one(self, child: Supervised, grace: float) -> None:
        process = child.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            self.say(f"[yellow]{child.service} did not stop in {grace:g} s; killing it[/]")
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
