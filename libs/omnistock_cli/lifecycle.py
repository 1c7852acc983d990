"""`omnistock up --detach`, `omnistock status` and `omnistock down`: the local system in the
background, looked at and stopped from any terminal.

`up` holds a lock on its data directory (the file names its pid) and, once everything is
started, writes `run/up.json`: its pid, when it was ready, where each service listens and what
PostgreSQL and NATS it uses. `status` reads both and asks each service's health; `down` sends
`up` SIGTERM (it stops the services, which drain, then NATS and PostgreSQL) and waits."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from omnistock_cli.context import JsonOption, fail, load_settings, run_async
from omnistock_cli.health import SERVING, probe_all
from omnistock_cli.infrastructure import ProcessRecord, alive
from omnistock_cli.output import console, emit, err_console, styled, table
from omnistock_cli.panel import READY_LINE
from omnistock_platform.services import SERVICES, ServiceName
from omnistock_platform.settings import Settings

STATE_FILE = "up.json"
LOG_FILE = "up.log"
# How long `down` waits for `up` to stop after SIGTERM, beyond the services' drain.
STOP_MARGIN = 30.0
POLL = 0.1

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="The data directory of the `omnistock up` to look at. Default: OMNISTOCK_DATA_DIR or .omnistock.",
        file_okay=False,
    ),
]


def data_dir_of(settings: Settings, data_dir: Path | None) -> Path:
    return (data_dir or settings.data_dir).expanduser().resolve()


def state_path(data_dir: Path) -> Path:
    return data_dir / "run" / STATE_FILE


def write_state(data_dir: Path, settings: Settings, services: list[ServiceName], embedded: list[str]) -> None:
    """What `up` tells `status` once it is ready (written whole, then moved into place)."""
    state = {
        "pid": os.getpid(),
        "ready_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_dir": str(data_dir),
        "services": {service: settings.address(service) for service in services},
        "embedded": embedded,
        "nats_url": settings.nats_url or "",
    }
    path = state_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2))
    temporary.replace(path)


def clear_state(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        state_path(data_dir).unlink()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def up_pid(data_dir: Path) -> int | None:
    """The pid of the `omnistock up` running on `data_dir`, if one is (its lock file names it)."""
    try:
        text = (data_dir / "up.lock").read_text().strip()
    except OSError:
        return None
    if not text.isdigit():
        return None
    pid = int(text)
    # The file outlives its `up`: the pid counts only while it is an omnistock process.
    return pid if alive(pid) and "omnistock" in _cmdline(pid) else None


@dataclass
class Status:
    data_dir: Path
    pid: int | None
    state: dict[str, Any] = field(default_factory=dict)
    health: dict[str, str] = field(default_factory=dict)
    processes: dict[str, int] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def ready(self) -> bool:
        return self.running and self.state.get("pid") == self.pid

    @property
    def serving(self) -> bool:
        return self.ready and bool(self.health) and all(value == SERVING for value in self.health.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "ready": self.ready,
            "serving": self.serving,
            "pid": self.pid,
            "data_dir": str(self.data_dir),
            "ready_at": self.state.get("ready_at", "") if self.ready else "",
            "services": [
                {
                    "service": service,
                    "address": address,
                    "health": self.health.get(service, ""),
                    "pid": self.processes.get(service),
                }
                for service, address in (self.state.get("services", {}) if self.ready else {}).items()
            ],
            "embedded": self.state.get("embedded", []) if self.ready else [],
            "nats_url": self.state.get("nats_url", "") if self.ready else "",
        }


def read_status(settings: Settings, data_dir: Path) -> Status:
    found = Status(data_dir, up_pid(data_dir))
    if not found.running:
        return found
    with contextlib.suppress(OSError, ValueError):
        found.state = json.loads(state_path(data_dir).read_text())
    if not found.ready:
        return found
    addresses: dict[str, str] = found.state.get("services", {})
    services: list[ServiceName] = [service for service in SERVICES if service in addresses]
    probing = settings.model_copy(update={f"{service}_address": addresses[service] for service in services})
    health: dict[ServiceName, str] = run_async(probe_all(probing, services, timeout=2.0))
    found.health = {str(service): value for service, value in health.items()}
    for name, entry in ProcessRecord(data_dir / "run").read().items():
        pid = entry.get("pid")
        if isinstance(pid, int) and alive(pid):
            found.processes[name] = pid
    return found


def status(data_dir: DataDirOption = None, as_json: JsonOption = False) -> None:
    """Whether `omnistock up` is running here, and each service's address and health (exit 1 unless all serve)."""
    settings = load_settings()
    found = read_status(settings, data_dir_of(settings, data_dir))
    report = found.as_dict()
    if not found.running:
        render: Any = f"Omnistock is not running (data directory {found.data_dir})."
    elif not found.ready:
        render = f"Omnistock is starting (pid {found.pid}); its log: {found.data_dir / 'logs' / LOG_FILE}"
    else:
        rows = [
            [
                item["service"],
                item["address"],
                styled(item["health"], "green" if item["health"] == SERVING else "red"),
                item["pid"] or "",
            ]
            for item in report["services"]
        ]
        title = f"Omnistock is running (pid {found.pid}, ready since {report['ready_at']}, data {found.data_dir})"
        render = table(title, ["service", "address", "health", "pid"], rows)
    emit(report, as_json=as_json, render=render)
    if not found.serving:
        raise typer.Exit(1)


def stop_up(pid: int, grace: float) -> bool:
    """SIGTERM to `up` (it stops the services in order, they drain); a second SIGTERM after
    `grace` (it then kills them); SIGKILL as the last resort. True when it stopped in order."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, grace):
        return True
    err_console.print(f"[yellow]omnistock up (pid {pid}) is still stopping after {grace:g} s; hurrying it[/]")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, STOP_MARGIN):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, STOP_MARGIN)
    return False


def _wait_gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL)
    return True


def down(
    data_dir: DataDirOption = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="Seconds to wait for an orderly stop before hurrying it. Default: drain + 30."),
    ] = 0.0,
) -> None:
    """Stop the `omnistock up` running here (started with --detach or in another terminal)."""
    settings = load_settings()
    directory = data_dir_of(settings, data_dir)
    pid = up_pid(directory)
    if pid is None:
        # An `up` that was killed may have left its services behind.
        leftovers = ProcessRecord(directory / "run").stop_leftovers()
        clear_state(directory)
        said = f"; stopped what it had left: {', '.join(leftovers)}" if leftovers else ""
        console.print(f"Omnistock is not running (data directory {directory}){said}.")
        return
    grace = timeout or settings.shutdown_grace.total_seconds() * 2 + STOP_MARGIN
    err_console.print(f"stopping omnistock up (pid {pid}); the services drain their calls first")
    orderly = stop_up(pid, grace)
    leftovers = ProcessRecord(directory / "run").stop_leftovers()
    clear_state(directory)
    if leftovers:
        err_console.print(f"[yellow]stopped what was left behind: {', '.join(leftovers)}[/]")
    console.print("Omnistock stopped." if orderly else "Omnistock stopped (not in order: see the log).")


# ---------------------------------------------------------------------------------------------
# up --detach


def detach(arguments: list[str], data_dir: Path, wait: float) -> int:
    """Start `omnistock up ARGUMENTS` in the background, show its log until it is ready, and
    return; 1 when it ended (or was still not ready after `wait` seconds) instead."""
    running = up_pid(data_dir)
    if running is not None:
        fail(
            f"omnistock up is already running on {data_dir} (pid {running})",
            hint="`omnistock status` shows it; `omnistock down` stops it",
        )
    log_path = data_dir / "logs" / LOG_FILE
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if log_path.exists():
        log_path.replace(log_path.with_suffix(".previous.log"))
    env = dict(os.environ)
    # The ready panel is drawn for the terminal it is shown in.
    env["COLUMNS"] = str(shutil.get_terminal_size((100, 24)).columns)
    with log_path.open("wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "omnistock_cli", "up", "--data-dir", str(data_dir), *arguments],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C here, or this terminal closing, does not reach it
        )
    shown = 0
    deadline = time.monotonic() + wait
    while True:
        shown = _show_log(log_path, shown)
        if child.poll() is not None:
            _show_log(log_path, shown)
            err_console.print(f"[red]omnistock up ended with exit code {child.returncode}[/]; its log: {log_path}")
            return 1
        if _ready(data_dir, child.pid):
            _show_log(log_path, shown)
            console.print(
                f"Omnistock is running in the background (pid {child.pid}). "
                f"`omnistock status` shows it, `omnistock down` stops it; its log: {log_path}"
            )
            return 0
        if time.monotonic() > deadline:
            err_console.print(
                f"[yellow]omnistock up (pid {child.pid}) is not ready after {wait:g} s[/]; it keeps starting in "
                f"the background: `omnistock status` shows it, `omnistock down` stops it; its log: {log_path}"
            )
            return 1
        time.sleep(POLL)


def _ready(data_dir: Path, pid: int) -> bool:
    with contextlib.suppress(OSError, ValueError):
        return bool(json.loads(state_path(data_dir).read_text()).get("pid") == pid)
    return False


def _show_log(path: Path, offset: int) -> int:
    """Print the log's complete lines after `offset` (but not `up`'s "press Ctrl-C" line)."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except OSError:
        return offset
    complete = chunk[: chunk.rfind(b"\n") + 1]
    for line in complete.decode(errors="replace").splitlines():
        if READY_LINE not in line:
            print(line, flush=True)
    return offset + len(complete)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("down")(down)
