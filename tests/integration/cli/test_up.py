"""`omnistock up` as a user runs it: embedded PostgreSQL and NATS under a data
directory, every installed service as its own process (restarted when it
crashes), the demo catalogue seeded once; Ctrl-C or SIGTERM stops everything;
a second run finds the data again."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import nats
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omnistock.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from omnistock_cli.panel import READY_LINE
from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.embedded import free_port
from omnistock_platform.registry import installed_services
from omnistock_platform.services import SERVICES
from omnistock_platform.settings import Settings

READY_WITHIN = 45.0
STOP_WITHIN = 20.0


class UpProcess:
    """`python -m omnistock_cli up` with its output collected line by line."""

    def __init__(self, env: dict[str, str], data_dir: Path) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "omnistock_cli", "up", "--data-dir", str(data_dir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_WITHIN
        while READY_LINE not in self.output:
            if self.process.poll() is not None:
                self._reader.join(5)
                pytest.fail(f"omnistock up exited with {self.process.returncode}:\n{self.output}")
            if time.monotonic() > deadline:
                pytest.fail(f"omnistock up was not ready in {READY_WITHIN} s:\n{self.output}")
            time.sleep(0.1)

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        self.process.send_signal(sig)
        try:
            code = self.process.wait(STOP_WITHIN)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"omnistock up did not stop in {STOP_WITHIN} s after {sig.name}:\n{self.output}")
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def child_pids(data_dir: Path) -> dict[str, int]:
    """The services and NATS (recorded by `up`) and the PostgreSQL postmaster."""
    recorded = json.loads((data_dir / "run" / "processes.json").read_text())
    pids = {name: int(entry["pid"]) for name, entry in recorded.items()}
    postmaster = data_dir / "postgres" / "postmaster.pid"
    pids["postgres"] = int(postmaster.read_text().splitlines()[0])
    return pids


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def processes_using(data_dir: Path) -> list[str]:
    """Any process whose command line names the data directory (NATS and PostgreSQL do)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(data_dir) in cmdline and running(int(entry.name)):
            found.append(f"{entry.name}: {cmdline}")
    return found


def health_status(address: str) -> int:
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        return int(reply.status)


def serving_again(address: str, within: float = 20.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if health_status(address) == health_pb2.HealthCheckResponse.SERVING:
                return True
        except grpc.RpcError:
            pass
        time.sleep(0.2)
    return False


@pytest.fixture
def up_env() -> Iterator[tuple[dict[str, str], Path, Settings]]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "NATS_URL") and not key.startswith("OTEL_")
    }
    for service in SERVICES:
        env[f"OMNISTOCK_{service.upper()}_PORT"] = str(free_port())
        env[f"OMNISTOCK_{service.upper()}_METRICS_PORT"] = str(free_port())
        env[f"OMNISTOCK_{service.upper()}_CONNECT_PORT"] = str(free_port())
    env["OMNISTOCK_EMBEDDED_NATS_PORT"] = str(free_port())
    env["OMNISTOCK_CONSOLE_PORT"] = str(free_port())
    env["OMNISTOCK_STOREFRONT_PORT"] = str(free_port())
    env["OMNISTOCK_SHUTDOWN_GRACE"] = "3"
    settings = Settings(
        **{f"{s}_port": int(env[f"OMNISTOCK_{s.upper()}_PORT"]) for s in SERVICES},  # type: ignore[arg-type]
        **{f"{s}_metrics_port": int(env[f"OMNISTOCK_{s.upper()}_METRICS_PORT"]) for s in SERVICES},  # type: ignore[arg-type]
        **{f"{s}_connect_port": int(env[f"OMNISTOCK_{s.upper()}_CONNECT_PORT"]) for s in SERVICES},  # type: ignore[arg-type]
    )
    # Not under pytest's temp folder: every pytest start on the machine makes that owner-only, which
    # locks out the embedded PostgreSQL (it runs as its own user) in the middle of this run.
    base = Path(tempfile.mkdtemp(prefix="omnistock-up-"))
    data_dir = base / "data"
    yield env, data_dir, settings
    for line in processes_using(data_dir):  # never leave servers behind, even when the test failed
        os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
    shutil.rmtree(base, ignore_errors=True)


def test_up_runs_the_system_stops_on_ctrl_c_and_keeps_its_data(
    up_env: tuple[dict[str, str], Path, Settings],
) -> None:
    env, data_dir, settings = up_env
    services = installed_services()

    first = UpProcess(env, data_dir)
    try:
        first.wait_ready()
        pids = child_pids(data_dir)
        assert set(pids) == {*services, "nats-server", "postgres"}
        for service in services:
            assert health_status(settings.address(service)) == health_pb2.HealthCheckResponse.SERVING
            assert settings.address(service) in first.output
            # Where its metrics are, printed, and answering there.
            url = f"http://127.0.0.1:{settings.metrics_port(service)}/metrics"
            assert url in first.output
            with urllib.request.urlopen(url, timeout=5) as page:
                assert b"omnistock_rpc_total" in page.read()
        assert "traces      off (OTEL_TRACES_EXPORTER=" in first.output
        for role in ("storefront", "app", "chat_agent", "pos", "warehouse", "admin"):
            assert f"  {role} (" in first.output
        if "inventory" in services:
            assert "Seeded 14 locations" in first.output
            # The staff console is served and printed, with the development sign-in.
            console = f"http://127.0.0.1:{env['OMNISTOCK_CONSOLE_PORT']}/"
            assert console in first.output
            with urllib.request.urlopen(f"{console}sign-in", timeout=10) as page:
                html = page.read().decode()
            assert "Demo sign-in" in html and "STORE-BER-MITTE" in html
            # The storefront demo page is served too, and its origin may call the Connect ports.
            storefront = f"http://127.0.0.1:{env['OMNISTOCK_STOREFRONT_PORT']}/"
            assert storefront in first.output
            with urllib.request.urlopen(storefront, timeout=10) as page:
                assert "storefront.js" in page.read().decode()
            inventory_connect = f"http://127.0.0.1:{settings.connect_port('inventory')}"
            assert inventory_connect in first.output
            preflight = urllib.request.Request(
                f"{inventory_connect}/omnistock.inventory.v1.InventoryService/GetStock",
                method="OPTIONS",
                headers={"origin": storefront.rstrip("/"), "access-control-request-method": "POST"},
            )
            with urllib.request.urlopen(preflight, timeout=10) as answer:
                assert answer.headers["access-control-allow-origin"] == storefront.rstrip("/")
        if services:  # a crashed service is started again
            victim = services[0]
            os.kill(pids[victim], signal.SIGKILL)
            assert serving_again(settings.address(victim)), first.output
            assert f"{victim} was killed by SIGKILL" in first.output
            assert child_pids(data_dir)[victim] != pids[victim]
            pids = child_pids(data_dir)
    finally:
        code = first.stop(signal.SIGINT)
    assert code == 0, first.output
    assert [name for name, pid in pids.items() if running(pid)] == []
    assert processes_using(data_dir) == []

    second = UpProcess(env, data_dir)
    try:
        second.wait_ready()
        if "inventory" in services:
            assert "seed skipped" in second.output
            assert_demo_data_is_there(settings)
    finally:
        code = second.stop(signal.SIGTERM)
    assert code == 0, second.output
    assert processes_using(data_dir) == []


def assert_demo_data_is_there(settings: Settings) -> None:
    token = TokenAuthority(settings).mint(Role.CHAT_AGENT, "test", channel="chat")
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(settings.address("inventory")) as channel:
        inventory = inventory_pb2_grpc.InventoryServiceStub(channel)
        locations = inventory.ListLocations(inventory_pb2.ListLocationsRequest(page_size=100), metadata=metadata)
        assert len(locations.locations) == 14
        green = inventory.GetStock(inventory_pb2.GetStockRequest(sku="SOFA-VELVET-GREEN"), metadata=metadata)
        assert [(level.location_id, level.on_hand) for level in green.levels if level.on_hand] == [
            ("STORE-BER-MITTE", 1)
        ]


def eventually(condition: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def stream_messages(nats_url: str, stream: str) -> int | None:
    """How many messages the stream holds; None while NATS does not answer."""

    async def ask() -> int:
        client = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False)
        try:
            return int((await client.jetstream().stream_info(stream)).state.messages)
        finally:
            await client.close()

    try:
        return asyncio.run(ask())
    except Exception:  # refused, timed out, no stream yet: not answering as it should
        return None


def test_up_replaces_a_service_that_stops_answering_and_brings_nats_back(
    up_env: tuple[dict[str, str], Path, Settings],
) -> None:
    env, data_dir, settings = up_env
    env = {**env, "OMNISTOCK_UP_HEALTH_TIMEOUT": "3s"}
    services = installed_services()
    nats_url = f"nats://127.0.0.1:{env['OMNISTOCK_EMBEDDED_NATS_PORT']}"

    up = UpProcess(env, data_dir)
    try:
        up.wait_ready()
        pids = child_pids(data_dir)
        # Frozen, not dead: it never exits by itself, and its health check goes unanswered.
        victim = "inventory" if "inventory" in services else services[0]
        os.kill(pids[victim], signal.SIGSTOP)
        assert eventually(lambda: replaced(data_dir, victim, pids[victim]), 60), up.output
        assert serving_again(settings.address(victim), within=60), up.output
        assert not running(pids[victim])
        assert f"{victim} (pid {pids[victim]}) has not answered its health check" in up.output
        assert f"{victim} stopped answering its health check and was stopped" in up.output

        # NATS dies: it is started again on the same data, and the services publish to it again.
        before = stream_messages(nats_url, settings.stream_name)
        assert before is not None and before > 0, up.output
        os.kill(pids["nats-server"], signal.SIGKILL)
        assert eventually(lambda: replaced(data_dir, "nats-server", pids["nats-server"]), 60), up.output
        assert "nats-server was killed by SIGKILL" in up.output
        assert eventually(lambda: (stream_messages(nats_url, settings.stream_name) or 0) >= before, 60), up.output
        if "inventory" in services:
            receive_one(settings)
            assert eventually(lambda: (stream_messages(nats_url, settings.stream_name) or 0) > before, 60), up.output
        pids = child_pids(data_dir)
    finally:
        code = up.stop(signal.SIGINT)
    assert code == 0, up.output
    assert [name for name, pid in pids.items() if running(pid)] == []
    assert processes_using(data_dir) == []


def receive_one(settings: Settings) -> None:
    """A stock change through inventory: its event leaves through the outbox to NATS."""
    token = TokenAuthority(settings).mint(Role.ADMIN, "test")
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(settings.address("inventory")) as channel:
        inventory = inventory_pb2_grpc.InventoryServiceStub(channel)
        inventory.ReceiveStock(
            inventory_pb2.ReceiveStockRequest(
                request_id=str(uuid.uuid4()), location_id="WH-BER", sku="SOFA-VELVET-BLUE", quantity=1
            ),
            metadata=metadata,
            timeout=30,
        )


def replaced(data_dir: Path, name: str, pid: int) -> bool:
    """`up` records another process under `name`, and that one runs."""
    now = child_pids(data_dir).get(name, pid)
    return now != pid and running(now)


def omnistock(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnistock_cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_up_detach_returns_once_ready_and_status_and_down_follow_it(
    up_env: tuple[dict[str, str], Path, Settings],
) -> None:
    env, data_dir, settings = up_env
    services = installed_services()
    where = ("--data-dir", str(data_dir))

    started = omnistock(env, "up", "--detach", "--no-seed", *where)
    said = f"stdout:\n{started.stdout}\nstderr:\n{started.stderr}"
    assert started.returncode == 0, said
    assert "running in the background" in started.stdout and READY_LINE not in started.stdout, said
    assert "  admin (" in started.stdout, said  # what `up` shows when ready, tokens included
    up_pid = int((data_dir / "up.lock").read_text())
    pids = child_pids(data_dir)
    assert running(up_pid) and set(pids) == {*services, "nats-server", "postgres"}
    for service in services:
        assert health_status(settings.address(service)) == health_pb2.HealthCheckResponse.SERVING

    status = omnistock(env, "status", "--json", *where)
    assert status.returncode == 0, status.stdout + status.stderr
    report = json.loads(status.stdout)
    assert (report["running"], report["serving"], report["pid"]) == (True, True, up_pid)
    assert {item["service"]: (item["address"], item["health"]) for item in report["services"]} == {
        service: (settings.address(service), "SERVING") for service in services
    }
    assert omnistock(env, "status", *where).returncode == 0

    twice = omnistock(env, "up", "--detach", *where)
    assert twice.returncode == 1 and "already running" in twice.stderr and str(up_pid) in twice.stderr

    stopped = omnistock(env, "down", *where)
    assert stopped.returncode == 0 and "Omnistock stopped." in stopped.stdout, stopped.stdout + stopped.stderr
    assert not running(up_pid)
    assert [name for name, pid in pids.items() if running(pid)] == []
    assert processes_using(data_dir) == []
    after = omnistock(env, "status", *where)
    assert after.returncode == 1 and "not running" in after.stdout
    assert "not running" in omnistock(env, "down", *where).stdout
