"""Running services for tests: in-process on free ports, or at given addresses.

When OMNISTOCK_E2E_ADDRESSES is set (for example
"inventory=127.0.0.1:50051,reservations=127.0.0.1:50052,..."), tests talk to
services that run elsewhere (separate processes, the compose stack) instead of
starting them in-process.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import grpc

from omnistock_platform.auth import Principal, Role, TokenAuthority, principal_var
from omnistock_platform.grpc.client import open_channel
from omnistock_platform.grpc.server import ServiceApp
from omnistock_platform.registry import bootstrap_of
from omnistock_platform.services import SERVICES, ServiceName
from omnistock_platform.services import service as service_row
from omnistock_platform.settings import Settings


def stub_class(service: ServiceName) -> Any:
    module, name = service_row(service).stub_path
    return getattr(importlib.import_module(module), name)


def addresses_from_env(variable: str = "OMNISTOCK_E2E_ADDRESSES") -> dict[ServiceName, str]:
    """`service=address,...` of a deployed stack; OMNISTOCK_E2E_CONNECT_URLS: its Connect URLs."""
    raw = os.environ.get(variable, "")
    found: dict[ServiceName, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, _, address = item.partition("=")
        found[name] = address  # type: ignore[index]
    return found


def unique_id(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}".upper() if prefix else uuid.uuid4().hex


@dataclass
class Stack:
    settings: Settings
    addresses: dict[ServiceName, str] = field(default_factory=dict)
    apps: dict[ServiceName, ServiceApp] = field(default_factory=dict)
    # Connect and gRPC-Web of the services started here: http://host:port
    connect_urls: dict[ServiceName, str] = field(default_factory=dict)
    _channels: list[grpc.aio.Channel] = field(default_factory=list)

    async def start(self, *services: ServiceName) -> None:
        for service in SERVICES:
            if service in services and service not in self.addresses:
                await self.start_service(service)

    async def start_service(self, service: ServiceName) -> ServiceApp:
        app = bootstrap_of(service)(self.wired_settings())
        port = await app.start(port=0, connect_port=0)
        self.apps[service] = app
        self.addresses[service] = f"{self.settings.host}:{port}"
        self.connect_urls[service] = f"http://{self.settings.host}:{app.connect_port}"
        return app

    async def stop_service(self, service: ServiceName, grace: float = 1.0) -> None:
        app = self.apps.pop(service)
        await app.stop(grace)
        del self.addresses[service]
        self.connect_urls.pop(service, None)

    def wired_settings(self, **overrides: Any) -> Settings:
        """Settings that point every service at the addresses started so far."""
        update = {f"{name}_address": address for name, address in self.addresses.items()}
        return self.settings.model_copy(update={**update, **overrides})

    def token(
        self,
        role: Role | str = Role.ADMIN,
        *,
        locations: list[str] | None = None,
        channel: str = "",
        subject: str = "test",
        ttl: timedelta = timedelta(hours=1),
    ) -> str:
        return TokenAuthority(self.settings).mint(
            Role(role), subject, locations=locations or [], channel=channel, ttl=ttl
        )

    @contextmanager
    def acting_as(
        self, role: Role | str = Role.ADMIN, *, locations: list[str] | None = None, subject: str = "test"
    ) -> Iterator[Principal]:
        """Code a test runs directly (a use case, a store) acts as the caller a token from `token` with
        the same arguments names: a request id it begins is that caller's (answers belong to callers)."""
        principal = Principal(subject=subject, role=Role(role), locations=frozenset(locations or ()))
        acting = principal_var.set(principal)
        try:
            yield principal
        finally:
            principal_var.reset(acting)

    def channel(self, service: ServiceName, token: str | None = None, address: str | None = None) -> grpc.aio.Channel:
        value = self.token() if token is None else token
        channel = open_channel(self.settings, service, lambda: value, address=address or self.addresses[service])
        self._channels.append(channel)
        return channel

    def stub(
        self,
        service: ServiceName,
        role: Role | str = Role.ADMIN,
        *,
        locations: list[str] | None = None,
        token: str | None = None,
    ) -> Any:
        chosen = token if token is not None else self.token(role, locations=locations)
        return stub_class(service)(self.channel(service, chosen))

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
        self._channels.clear()
        # All at once: each waits up to its grace for calls and loops to end, and nothing the test
        # checks is left to see once the stack closes.
        await asyncio.gather(*(self.stop_service(service) for service in reversed(SERVICES) if service in self.apps))
