"""Address-driven e2e mode: every installed service runs as a separate OS process, as it
does in a container, and the test reaches them only through OMNISTOCK_E2E_ADDRESSES, the
way the e2e suite reaches the compose stack. Also the container health check against a
live service, and a clean exit on SIGTERM (what `docker stop` and Kubernetes send)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_platform.embedded import free_port
from omnistock_platform.registry import installed_services
from omnistock_platform.services import SERVICES, ServiceName
from omnistock_platform.settings import Settings
from omnistock_platform.testing.processes import ServiceProcess
from omnistock_platform.testing.stack import Stack, addresses_from_env, unique_id

HEALTHCHECK = Path(__file__).resolve().parents[2] / "deploy" / "healthcheck.py"

pytestmark = pytest.mark.timeout(90)


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


@contextlib.asynccontextmanager
async def started(
    settings: Settings, services: list[ServiceName], logs: Path
) -> AsyncIterator[dict[ServiceName, ServiceProcess]]:
    """Each service in its own process, told where the others are; stopped on the way out."""
    ports = {service: free_port() for service in services}
    addresses: dict[str, str] = {service: f"{settings.host}:{port}" for service, port in ports.items()}
    running = {
        service: ServiceProcess(
            settings, service, addresses=addresses, port=ports[service], log_file=logs / f"{service}.log"
        )
        for service in services
    }
    try:
        outcomes = await asyncio.gather(
            *(process.start(timeout=45) for process in running.values()), return_exceptions=True
        )
        failures = [
            f"{service}: {outcome}\n{tail(logs / f'{service}.log')}"
            for service, outcome in zip(running, outcomes, strict=True)
            if isinstance(outcome, BaseException)
        ]
        if failures:
            pytest.fail("services did not start:\n" + "\n\n".join(failures))
        yield running
    finally:
        await asyncio.gather(*(asyncio.to_thread(process.terminate) for process in running.values()))


@pytest_asyncio.fixture(scope="module")
async def processes(
    omnistock_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[ServiceName, ServiceProcess]]:
    """Every installed service, as the compose stack runs them."""
    services = [service for service in SERVICES if service in installed_services()]
    async with started(omnistock_settings, services, tmp_path_factory.mktemp("services")) as running:
        yield running


async def test_same_client_code_against_separate_processes(processes, omnistock_settings, tap, monkeypatch) -> None:
    monkeypatch.setenv(
        "OMNISTOCK_E2E_ADDRESSES", ",".join(f"{service}={process.address}" for service, process in processes.items())
    )
    stack = Stack(omnistock_settings, addresses=addresses_from_env())
    await stack.start(*processes)
    try:
        assert stack.apps == {}, "nothing may run in the test process"
        for service in processes:
            health = health_pb2_grpc.HealthStub(stack.channel(service))
            reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, service

        inventory = stack.stub("inventory", role="admin")
        store, sku = unique_id("LOC-"), unique_id("SKU-")
        await inventory.UpsertLocation(
            pb.UpsertLocationRequest(
                request_id=unique_id(),
                location=pb.Location(
                    location_id=store,
                    name=f"Store {store}",
                    kind=pb.LOCATION_KIND_STORE,
                    city="Berlin",
                    point=common_pb2.GeoPoint(latitude=52.52, longitude=13.405),
                    routing_rank=10,
                    ships=True,
                    pickup=True,
                    till_sales=True,
                    active=True,
                ),
            )
        )
        await inventory.UpsertSku(
            pb.UpsertSkuRequest(
                request_id=unique_id(),
                sku=pb.Sku(sku=sku, title="Green velvet sofa", price_minor=129900, currency="EUR"),
            )
        )
        received = await inventory.ReceiveStock(
            pb.ReceiveStockRequest(request_id=unique_id(), location_id=store, sku=sku, quantity=5)
        )
        assert received.level.on_hand == 5

        held = await inventory.Hold(
            pb.HoldRequest(
                request_id=unique_id(),
                owner=f"reservation:{unique_id()}",
                channel=common_pb2.CHANNEL_CHAT,
                lines=[pb.HoldLineRequest(location_id=store, sku=sku, quantity=2)],
            )
        )
        assert held.hold.state == pb.HOLD_STATE_ACTIVE

        levels = await inventory.GetStock(
            pb.GetStockRequest(sku=sku, location_id=store, channel=common_pb2.CHANNEL_CHAT)
        )
        (level,) = levels.levels
        assert (level.on_hand, level.held, level.available) == (5, 2, 3)
        fetched = await inventory.GetHold(pb.GetHoldRequest(hold_id=held.hold.hold_id))
        assert fetched.hold.owner == held.hold.owner
        # The separate process's outbox relay publishes to the run's stream, where the tests listen.
        envelope, _ = await tap.wait_for(
            lambda envelope, payload: (
                envelope.type == "inventory.hold.created" and payload.hold.hold_id == held.hold.hold_id
            )
        )
        assert envelope.source == "inventory"
    finally:
        await stack.close()


async def test_container_health_check_against_a_live_service(processes) -> None:
    inventory = processes["inventory"]
    check = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HEALTHCHECK),
        "inventory",
        env={**os.environ, "OMNISTOCK_INVENTORY_PORT": str(inventory.port)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(check.communicate(), timeout=20)
    assert check.returncode == 0, (out + err).decode()
    assert b"SERVING" in out


async def test_a_service_exits_cleanly_on_sigterm(omnistock_settings, tmp_path) -> None:
    async with started(omnistock_settings, ["inventory"], tmp_path) as running:
        assert await asyncio.to_thread(running["inventory"].terminate) == 0, tail(tmp_path / "inventory.log")
