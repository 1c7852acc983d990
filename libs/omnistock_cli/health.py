"""`omnistock health`: the standard gRPC health check of each service."""

from __future__ import annotations

import asyncio
from typing import Annotated

import grpc
import typer
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.text import Text

from omnistock_cli.context import JsonOption, load_settings, run_async
from omnistock_cli.output import emit, styled, table
from omnistock_platform.grpc.client import open_channel
from omnistock_platform.registry import installed_services
from omnistock_platform.services import SERVICES, ServiceName
from omnistock_platform.settings import Settings

SERVING = "SERVING"
UNREACHABLE = "UNREACHABLE"


async def probe(settings: Settings, service: ServiceName, timeout: float = 1.0) -> str:
    """SERVING, NOT_SERVING, ... as the service answers; UNREACHABLE when it does not."""
    # Health needs no token; open_channel brings TLS when the settings ask for it.
    async with open_channel(settings, service, lambda: "") as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                return UNREACHABLE
            return error.code().name
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


async def probe_all(settings: Settings, services: list[ServiceName], timeout: float = 1.0) -> dict[ServiceName, str]:
    statuses = await asyncio.gather(*(probe(settings, service, timeout) for service in services))
    return dict(zip(services, statuses, strict=True))


def health(
    service: Annotated[
        list[str] | None,
        typer.Option("--service", help="Check only this service; repeat for more. Default: installed ones."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each answer.")] = 2.0,
    as_json: JsonOption = False,
) -> None:
    """Show whether each service answers the gRPC health check as SERVING (exit 1 if one does not)."""
    unknown = sorted(set(service or []) - set(SERVICES))
    if unknown:
        raise typer.BadParameter(f"unknown service {', '.join(unknown)}; choose from {', '.join(SERVICES)}")
    chosen: list[ServiceName] = [s for s in SERVICES if s in (service or [])] or installed_services() or list(SERVICES)
    settings = load_settings()
    statuses = run_async(probe_all(settings, chosen, timeout), as_json=as_json)
    rows = [(name, settings.address(name), _coloured(status)) for name, status in statuses.items()]
    emit(
        [{"service": name, "address": settings.address(name), "status": status} for name, status in statuses.items()],
        as_json=as_json,
        render=table(None, ["service", "address", "status"], rows),
    )
    if any(status != SERVING for status in statuses.values()):
        raise typer.Exit(1)


def _coloured(status: str) -> Text:
    return styled(status, "green" if status == SERVING else "red")


EXAMPLES = ("omnistock health", "omnistock health --json")


def register(app: typer.Typer) -> None:
    app.command("health")(health)
