"""Services as separate OS processes, for tests that kill them mid-flight or
run several copies of one service side by side."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omnistock_platform.embedded import free_port
from omnistock_platform.settings import ServiceName, Settings


def environment(
    settings: Settings, service: ServiceName, port: int, addresses: dict[str, str], metrics_port: int = 0
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
            "OMNISTOCK_SWEEP_INTERVAL": str(settings.sweep_interval.total_seconds()),
            "OMNISTOCK_CONSUMER_RETRY_DELAY": str(settings.consumer_retry_delay.total_seconds()),
            "OMNISTOCK_CONSUMER_ACK_WAIT": str(settings.consumer_ack_wait.total_seconds()),
            "OMNISTOCK_SHUTDOWN_GRACE": "2",
        }
    )
    for name, address in addresses.items():
        env[f"OMNISTOCK_{name.upper()}_ADDRESS"] = address
    return env


class ServiceProcess:
    def __init__(
        self,
        settings: Settings,
        service: ServiceName,
        *,
        addresses: dict[str, str] | None = None,
        port: int | None = None,
        log_file: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.extra_env = extra_env or {}
        self.service = service
        self.port = port or free_port()
        self.metrics_port = free_port()
        self.addresses = addresses or {}
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.port}"

    async def start(self, timeout: float = 30.0) -> ServiceProcess:
        output = self.log_file.open("ab") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"omnistock_{self.service}.entrypoints.main"],
            env={
                **environment(self.settings, self.service, self.port, self.addresses, self.metrics_port),
                **self.extra_env,
            },
            stdout=output,
            stderr=subprocess.STDOUT if self.log_file else subprocess.DEVNULL,
        )
        await self.wait_serving(timeout)
        return self

    async def wait_serving(self, timeout: float) -> None:
        async with grpc.aio.insecure_channel(self.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"{self.service} exited with {self.process.returncode}")
                try:
                    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
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
