"""Running `omnistock` commands against the test stack, and making the little world they act on.

A command runs its own event loop (as it does in a terminal), so it runs in a thread while
the stack's services keep serving on the test's loop. Its environment points it at the stack:
the services' addresses, the database and the stack's token secret."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock_cli.main import app
from omnistock_platform.testing.stack import Stack, unique_id


def cli_env(stack: Stack) -> dict[str, str]:
    settings = stack.settings
    env = {f"OMNISTOCK_{name.upper()}_ADDRESS": address for name, address in stack.addresses.items()}
    env.update(
        {
            "OMNISTOCK_JWT_SECRET": settings.jwt_secret,
            "OMNISTOCK_JWT_ISSUER": settings.jwt_issuer,
            "OMNISTOCK_JWT_AUDIENCE": settings.jwt_audience,
            "DATABASE_URL": settings.database_url or "",
            "COLUMNS": "220",  # rich tables keep every cell on one line
            "OMNISTOCK_LOG_LEVEL": "WARNING",
            # Never the profiles of whoever runs the tests.
            "OMNISTOCK_CONFIG": os.devnull,
        }
    )
    return env


@dataclass
class Cli:
    stack: Stack

    async def run(self, *args: str, expect: int | None = 0, env: dict[str, str | None] | None = None) -> Result:
        """`omnistock ARGS...`; fails the test unless it exits with `expect` (None: any code).
        `env` adds to (or, with None, takes away from) the environment it runs in."""
        runner = CliRunner()
        env = {**cli_env(self.stack), "OMNISTOCK_TOKEN": None, "OMNISTOCK_PROFILE": None, **(env or {})}
        result = await asyncio.to_thread(runner.invoke, app, list(args), env=env, catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, (
                f"omnistock {' '.join(args)} exited {result.exit_code}, not {expect}:\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    async def json(self, *args: str, expect: int | None = 0, env: dict[str, str | None] | None = None) -> Any:
        result = await self.run(*args, "--json", expect=expect, env=env)
        return json.loads(result.stdout)

    def process_env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key != "OMNISTOCK_TOKEN"}
        env.update(cli_env(self.stack))
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        return env

    async def shell(
        self, script: str, *, cwd: Path | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """A shell command line as a person types it (`$(...)`, pipes), with `omnistock` on the PATH."""
        return await asyncio.to_thread(
            subprocess.run,
            ["bash", "-c", script],
            env=self.process_env(),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@dataclass
class World:
    """Locations, SKUs and stock of one test, with ids no other test uses."""

    stack: Stack

    @property
    def inventory(self) -> Any:
        return self.stack.stub("inventory", role="admin")

    async def location(
        self,
        city: str,
        point: tuple[float, float],
        *,
        kind: str = "store",
        name: str = "",
        rank: int = 10,
    ) -> str:
        location_id = unique_id("STORE-" if kind == "store" else "WH-")
        store = kind == "store"
        await self.inventory.UpsertLocation(
            ipb.UpsertLocationRequest(
                request_id=unique_id("loc-"),
                location=ipb.Location(
                    location_id=location_id,
                    name=name or f"{city} {location_id}",
                    kind=ipb.LOCATION_KIND_STORE if store else ipb.LOCATION_KIND_WAREHOUSE,
                    city=city,
                    point=common_pb2.GeoPoint(latitude=point[0], longitude=point[1]),
                    routing_rank=rank,
                    ships=not store,
                    pickup=store,
                    till_sales=store,
                    active=True,
                ),
            )
        )
        return location_id

    async def sku(self, title: str = "Velvet sofa", **attributes: str) -> str:
        code = unique_id("SKU-")
        await self.inventory.UpsertSku(
            ipb.UpsertSkuRequest(
                request_id=unique_id("sku-"),
                sku=ipb.Sku(sku=code, title=f"{title} {code}", attributes=attributes, price_minor=9900, currency="EUR"),
            )
        )
        return code

    async def receive(self, location_id: str, sku: str, quantity: int, safety_stock: int = 0) -> None:
        await self.inventory.ReceiveStock(
            ipb.ReceiveStockRequest(request_id=unique_id("rcv-"), location_id=location_id, sku=sku, quantity=quantity)
        )
        if safety_stock:
            await self.inventory.SetSafetyStock(
                ipb.SetSafetyStockRequest(
                    request_id=unique_id("ss-"), location_id=location_id, sku=sku, safety_stock=safety_stock
                )
            )

    async def level(self, location_id: str, sku: str) -> ipb.StockLevel:
        reply = await self.inventory.GetStock(ipb.GetStockRequest(sku=sku, location_id=location_id))
        return reply.levels[0] if reply.levels else ipb.StockLevel(location_id=location_id, sku=sku)
