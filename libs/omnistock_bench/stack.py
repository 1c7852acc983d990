"""The stack a benchmark run stands on, started for the run and stopped after it:
PostgreSQL (a fresh database on the server at DATABASE_URL, or an embedded server),
an embedded NATS (never a system one), and every service as its own OS process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.db import create_database, drop_database, with_database
from omnistock_platform.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from omnistock_platform.migrations import upgrade_async
from omnistock_platform.registry import installed_services
from omnistock_platform.settings import Settings
from omnistock_platform.testing.processes import ServiceProcess

# Seconds a service process of the run may take to answer SERVING (a loaded machine starts slowly).
START_TIMEOUT = 60.0


@dataclass
class StackOptions:
    database_url: str | None = None
    nats_url: str | None = None
    inventory_processes: int = 1
    keep_database: bool = False
    # The pool of each service process; the hold path holds one connection per transaction.
    db_pool_max: int = 10
    extra_env: dict[str, str] = field(default_factory=dict)
    # More environment for one kind of process ("trivial", "inventory", ...): to run one service
    # from another tree (PYTHONPATH) and measure before against after.
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class BenchStack:
    options: StackOptions
    work_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="omnistock-bench-")))
    settings: Settings | None = None
    admin_url: str = ""
    database: str = ""
    processes: dict[str, list[ServiceProcess]] = field(default_factory=dict)
    _postgres: EmbeddedPostgres | None = None
    _nats: EmbeddedNats | None = None

    @property
    def ready(self) -> Settings:
        assert self.settings is not None, "BenchStack.start() has not run"
        return self.settings

    def token(self, role: Role = Role.ADMIN) -> str:
        return TokenAuthority(self.ready).mint(role, "omnistock-bench")

    def address(self, name: str) -> str:
        return self.processes[name][0].address

    def pids(self, name: str) -> list[int]:
        return [process.pid for process in self.processes.get(name, [])]

    async def start(self) -> Settings:
        admin_url = self.options.database_url or os.environ.get("DATABASE_URL", "")
        if not admin_url:
            # Its own temporary folder: PostgreSQL runs as its own user and must reach it.
            self._postgres = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="omnistock-bench-pg-")))
            admin_url = await asyncio.to_thread(self._postgres.start)
        nats_url = self.options.nats_url
        if not nats_url:
            self._nats = EmbeddedNats(self.work_dir / "nats", port=free_port())
            nats_url = await asyncio.to_thread(self._nats.start)
        run_id = uuid.uuid4().hex[:8]
        self.admin_url = admin_url
        self.database = f"omnistock_bench_{run_id}"
        await create_database(admin_url, self.database)
        self.settings = Settings(
            database_url=with_database(admin_url, self.database),
            nats_url=nats_url,
            stream_name=f"OMNISTOCK_BENCH_{run_id.upper()}",
            subject_prefix=f"omnistock_bench_{run_id}",
            data_dir=self.work_dir,
        )
        await upgrade_async(self.settings, installed_services())
        return self.settings

    async def start_services(self) -> None:
        settings = self.ready
        env = {"OMNISTOCK_DB_POOL_MAX": str(self.options.db_pool_max), **self.options.extra_env}
        logs = self.work_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        # The empty servicer of ceiling A, on the same bootstrap.
        trivial_port = free_port()
        trivial = ServiceProcess(
            settings,
            "inventory",
            module="omnistock_bench.trivial",
            port=trivial_port,
            extra_env={**env, **self._env("trivial"), "OMNISTOCK_BENCH_PORT": str(trivial_port)},
            log_file=logs / "trivial.log",
        )
        inventory_port = free_port()
        inventory = [
            ServiceProcess(
                settings,
                "inventory",
                port=inventory_port,
                extra_env={**env, **self._env("inventory")},
                log_file=logs / f"inventory-{index}.log",
            )
            for index in range(max(1, self.options.inventory_processes))
        ]
        self.processes["trivial"] = [await trivial.start(START_TIMEOUT)]
        # Several inventory processes share one port (SO_REUSEPORT): the kernel spreads connections.
        self.processes["inventory"] = [await process.start(START_TIMEOUT) for process in inventory]
        addresses = {"inventory": inventory[0].address}
        reservations = ServiceProcess(
            settings,
            "reservations",
            addresses=addresses,
            extra_env={**env, **self._env("reservations")},
            log_file=logs / "reservations.log",
        )
        self.processes["reservations"] = [await reservations.start(START_TIMEOUT)]
        addresses["reservations"] = reservations.address
        orders = ServiceProcess(
            settings,
            "orders",
            addresses=addresses,
            extra_env={**env, **self._env("orders")},
            log_file=logs / "orders.log",
        )
        self.processes["orders"] = [await orders.start(START_TIMEOUT)]

    def _env(self, name: str) -> dict[str, str]:
        return self.options.service_env.get(name, {})

    def nats_pid(self) -> int | None:
        return self._nats.pid if self._nats is not None else None

    async def stop(self) -> None:
        for group in reversed(list(self.processes.values())):
            for process in group:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(process.terminate, 10.0)
        self.processes.clear()
        if self.database and not self.options.keep_database:
            with contextlib.suppress(Exception):
                await drop_database(self.admin_url, self.database)
        if self._nats is not None:
            await asyncio.to_thread(self._nats.stop)
        if self._postgres is not None:
            await asyncio.to_thread(self._postgres.stop)
            shutil.rmtree(self._postgres.data_dir, ignore_errors=True)
        shutil.rmtree(self.work_dir, ignore_errors=True)
