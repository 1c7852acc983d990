"""Services as separate OS processes, for tests that kill them mid-flight or run several copies
of one service side by side, for the benchmark and for the chaos suite."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omnistock_platform.embedded import free_port
from omnistock_platform.logging import get_logger
from omnistock_platform.services import ServiceName
from omnistock_platform.services import service as service_row
from omnistock_platform.settings import Settings

log = get_logger(__name__)
# Where the process finds other services, by name.
Addresses = Mapping[ServiceName, str] | Mapping[str, str]


def environment(
    settings: Settings, service: ServiceName, port: int, addresses: Addresses, metrics_port: int = 0
) -> dict[str, str]:
    """`metrics_port`: 0 gives a free one (never a fixed port: several copies of a service run side
    by side, and other test runs on the same host)."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": settings.database_url or "",
            "NATS_URL": settings.nats_url or "",
            "OMNISTOCK_STREAM_NAME": settings.stream_name,
            "OMNISTOCK_SUBJECT_PREFIX": settings.subject_prefix,
            "OMNISTOCK_HOST": settings.host,
            f"OMNISTOCK_{service.upper()}_PORT": str(port),
            f"OMNISTOCK_{service.upper()}_METRICS_PORT": str(metrics_port or free_port()),
            # No Connect port: copies of a service run side by side, and the tests of Connect run in-process.
            f"OMNISTOCK_{service.upper()}_CONNECT_PORT": "0",
            "OMNISTOCK_LOG_LEVEL": os.environ.get("OMNISTOCK_LOG_LEVEL", "WARNING"),
            "OMNISTOCK_CONSUMER_RETRY_DELAY": str(settings.consumer_retry_delay.total_seconds()),
            "OMNISTOCK_CONSUMER_ACK_WAIT": str(settings.consumer_ack_wait.total_seconds()),
            "OMNISTOCK_SHUTDOWN_GRACE": "2",
        }
    )
    # Inventory's hold sweep, when the run sets one (a setting of inventory's own, kept as given).
    if (sweep := getattr(settings, "sweep_interval", None)) is not None:
        env["OMNISTOCK_SWEEP_INTERVAL"] = str(sweep.total_seconds())
    for name, address in addresses.items():
        env[f"OMNISTOCK_{name.upper()}_ADDRESS"] = address
    return env


class ServiceProcess:
    """One service as an OS process, the one way tests, the benchmark and the chaos suite run one:
    started, waited for until its health check says SERVING, killed (a crash) or stopped (a drain),
    and started again on the same port after a kill.

    `module`: what `python -m` runs instead of the service's entrypoint (the benchmark's empty
    servicer); `extra_env`: more environment, over `environment()`'s."""

    def __init__(
        self,
        settings: Settings,
        service: ServiceName,
        *,
        addresses: Addresses | None = None,
        port: int | None = None,
        log_file: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
        module: str | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.module = module or service_row(service).entrypoint
        self.extra_env = dict(extra_env or {})
        self.port = port or free_port()
        self.metrics_port = free_port()
        self.addresses: dict[str, str] = {str(name): address for name, address in (addresses or {}).items()}
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def start(self, timeout: float = 30.0) -> ServiceProcess:
        env = {
            **environment(self.settings, self.service, self.port, self.addresses, self.metrics_port),
            **self.extra_env,
        }
        with self._output() as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT if self.log_file else subprocess.DEVNULL,
            )
        await self.wait_serving(timeout)
        return self

    @contextlib.contextmanager
    def _output(self) -> Iterator[Any]:
        """The log file for the child (it keeps its own copy of the descriptor), or nowhere."""
        if self.log_file is None:
            yield subprocess.DEVNULL
            return
        with self.log_file.open("ab") as output:
            yield output

    async def restart(self, attempts: int = 5, timeout: float = 30.0) -> None:
        """Start again; a start that fails (NATS or PostgreSQL still coming back) is tried again."""
        for attempt in range(attempts):
            try:
                await self.start(timeout)
                return
            except (RuntimeError, TimeoutError) as error:
                self.kill()
                if attempt == attempts - 1:
                    raise
                log.warning("service_process.restart_failed", service=self.service, error=str(error))
                await asyncio.sleep(1.0)

    async def wait_serving(self, timeout: float) -> None:
        """Until the health check says SERVING, on a channel that retries its connection every
        100 ms: the default backoff grows to seconds while a starting process is still importing."""
        options = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 300)]
        async with grpc.aio.insecure_channel(self.address, options=options) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"{self.service} exited with {self.process.returncode}")
                with contextlib.suppress(grpc.aio.AioRpcError):
                    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"{self.service} did not become SERVING in {timeout} s")
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye — what a crash looks like."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def terminate(self, timeout: float = 15.0) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode or 0)
