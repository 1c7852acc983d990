"""What `omnistock up` stands on: PostgreSQL and NATS (given by URL, or embedded
under the data directory), one `up` per data directory, and a record of the
processes it started so a later run can stop what a killed run left behind."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from omnistock_platform.embedded import EmbeddedPostgres, port_open
from omnistock_platform.settings import Settings


class DataDirBusy(RuntimeError):
    pass


class DataDirLock:
    """An advisory lock on the data directory; the kernel drops it if `up` dies."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "up.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise DataDirBusy(f"another `omnistock up` is already running on {self.path.parent}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited; only its parent has not collected it yet.
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


class ProcessRecord:
    """`run/processes.json`: name -> pid and command line of each process `up` started."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "processes.json"

    def read(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, dict[str, object]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2))
        temporary.replace(self.path)

    def add(self, name: str, pid: int) -> None:
        data = self.read()
        data[name] = {"pid": pid, "cmdline": _cmdline(pid) or []}
        self._write(data)

    def remove(self, name: str) -> None:
        data = self.read()
        if data.pop(name, None) is not None:
            self._write(data)

    def stop_leftovers(self, timeout: float = 10.0) -> list[str]:
        """Stop processes an earlier `up` started and could not stop (it was killed).
        A pid counts only while its command line is still the recorded one."""
        stopped: list[str] = []
        for name, entry in self.read().items():
            pid = entry.get("pid")
            if not isinstance(pid, int) or not alive(pid) or _cmdline(pid) != entry.get("cmdline"):
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            stopped.append(f"{name} (pid {pid})")
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        return stopped


@dataclass
class Backing:
    """PostgreSQL and NATS for the services: the given URLs, or embedded servers. Embedded
    PostgreSQL is started here; embedded NATS only gets its place (`nats_dir`): `up` runs it
    under its supervisor, like the services, so that it is started again when it dies."""

    data_dir: Path
    nats_port: int
    embedded: list[str] = field(default_factory=list)
    nats_dir: Path | None = None
    _postgres: EmbeddedPostgres | None = None

    def start(self, settings: Settings) -> Settings:
        """Blocking; returns the settings with both URLs filled in."""
        database_url, nats_url = settings.database_url, settings.nats_url
        if not nats_url and port_open("127.0.0.1", self.nats_port):
            # Otherwise the services would use whatever already listens there as our server.
            raise RuntimeError(f"port {self.nats_port} is already in use; cannot start an embedded nats-server there")
        if not database_url:
            self._postgres = EmbeddedPostgres(self.data_dir / "postgres")
            database_url = self._postgres.start()
            self.embedded.append("PostgreSQL")
        if not nats_url:
            self.nats_dir = self.data_dir / "nats"
            nats_url = f"nats://127.0.0.1:{self.nats_port}"
            self.embedded.append("NATS")
        return settings.model_copy(update={"database_url": database_url, "nats_url": nats_url})

    def stop(self) -> None:
        """PostgreSQL, last of all: the services and NATS are gone by now."""
        if self._postgres is not None:
            self._postgres.stop()
            self._postgres = None
