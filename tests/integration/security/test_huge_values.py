"""No request can stall a service: a 1 MB value in every string field and every map key of every RPC
(found from the proto descriptors), sent with a valid token of each role, is answered properly
(never UNKNOWN or INTERNAL), while the health of every service is probed all along and no probe
waits more than 2 s. Today's gRPC limit on a request is 4 MiB, so each such request reaches the
service; the services' own limits refuse it."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.protobuf import descriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omnistock_platform.auth import Role
from omnistock_platform.embedded import free_port
from omnistock_platform.errors import Reason
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.registry import installed_services
from omnistock_platform.testing.processes import ServiceProcess
from tests.integration.security.scenarios import SCENARIOS, Fixtures
from tests.integration.security.support import QuietStack, call, every_rpc, method_descriptor

MEGABYTE = 1 << 20
# Letters: the input that made the log redaction's URL-password pattern quadratic.
HUGE = "a" * MEGABYTE
PROBE_EVERY = 0.05
MAX_PROBE_WAIT = 2.0
FD = descriptor.FieldDescriptor
NEVER = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
WELL_KNOWN = ("google.protobuf.Timestamp", "google.protobuf.Duration")

# A step into a message: ("field", name), ("item", name) for the first of a repeated field,
# ("key", name) / ("value", name) for an entry of a map.
Path = tuple[tuple[str, str], ...]


def string_paths(message: descriptor.Descriptor, prefix: Path = (), depth: int = 0) -> Iterator[Path]:
    """Every place in a request a string goes: fields, items of repeated fields, map keys and values."""
    if depth > 4 or message.full_name in WELL_KNOWN:
        return
    for field in message.fields:
        if field.type == FD.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            if key.type == FD.TYPE_STRING:
                yield (*prefix, ("key", field.name))
            if value.type == FD.TYPE_STRING:
                yield (*prefix, ("value", field.name))
        elif field.type == FD.TYPE_MESSAGE:
            step = ("item" if field.is_repeated else "field", field.name)
            yield from string_paths(field.message_type, (*prefix, step), depth + 1)
        elif field.type == FD.TYPE_STRING:
            yield (*prefix, ("item" if field.is_repeated else "field", field.name))


def with_huge(request: Message, path: Path) -> Message:
    """A copy of the request with the 1 MB value at `path` (nested messages are created on the way)."""
    copy = type(request)()
    copy.CopyFrom(request)
    target: Any = copy
    for index, (kind, name) in enumerate(path):
        last = index == len(path) - 1
        if kind == "key":
            entries = getattr(target, name)
            if target.DESCRIPTOR.fields_by_name[name].message_type.fields_by_name["value"].type == FD.TYPE_MESSAGE:
                entries[HUGE].SetInParent()
            else:
                entries[HUGE] = _empty_value(target, name)
            return copy
        if kind == "value":
            getattr(target, name)["k"] = HUGE
            return copy
        if kind == "item":
            items = getattr(target, name)
            if last:
                if len(items):
                    items[0] = HUGE
                else:
                    items.append(HUGE)
                return copy
            target = items[0] if len(items) else items.add()
        elif last:
            setattr(target, name, HUGE)
        else:
            target = getattr(target, name)
    return copy


def _empty_value(target: Any, name: str) -> Any:
    value_field = target.DESCRIPTOR.fields_by_name[name].message_type.fields_by_name["value"]
    return "v" if value_field.type == FD.TYPE_STRING else value_field.default_value


def shown(path: Path) -> str:
    return ".".join(f"{name}[{'0' if kind == 'item' else kind}]" if kind != "field" else name for kind, name in path)


CASES = [
    (service, method, path)
    for service, method in every_rpc()
    for path in string_paths(method_descriptor(service, method).input_type)
]


class HealthProbe:
    """Asks every service's health every PROBE_EVERY seconds, and keeps the longest wait."""

    def __init__(self, quiet: QuietStack, addresses: dict[str, str]) -> None:
        self.stubs = {
            service: health_pb2_grpc.HealthStub(quiet.stack.channel(service, address=address))  # type: ignore[arg-type]
            for service, address in addresses.items()
        }
        self.longest: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def _probe(self, service: str, stub: Any) -> None:
        started = time.monotonic()
        try:
            await stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
        finally:
            waited = time.monotonic() - started
            self.longest[service] = max(self.longest.get(service, 0.0), waited)

    async def _run(self) -> None:
        while True:
            await asyncio.gather(*(self._probe(s, stub) for s, stub in self.stubs.items()), return_exceptions=True)
            await asyncio.sleep(PROBE_EVERY)

    def __enter__(self) -> HealthProbe:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


@pytest_asyncio.fixture(scope="module")
async def processes(quiet: QuietStack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, str]]:
    """Every service as a process of its own on the quiet stack's database and stream, logging at
    INFO as a service does by default (refusals are logged: the log processors run on them).
    Returns their addresses."""
    logs = tmp_path_factory.mktemp("huge-values")
    ports = {service: free_port() for service in installed_services()}
    addresses = {service: f"{quiet.settings.host}:{port}" for service, port in ports.items()}
    started: list[ServiceProcess] = []
    # INFO as by default; few database connections (the machine's PostgreSQL is shared).
    env = {"OMNISTOCK_LOG_LEVEL": "INFO", "OMNISTOCK_DB_POOL_MIN": "1", "OMNISTOCK_DB_POOL_MAX": "3"}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        for service in installed_services():
            process = ServiceProcess(
                quiet.settings, service, addresses=addresses, port=ports[service], log_file=logs / f"{service}.log"
            )
            started.append(await process.start())
        yield addresses
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for process in started:
            process.terminate()


@pytest_asyncio.fixture(scope="module")
async def bases(quiet: QuietStack) -> AsyncIterator[tuple[list[str], dict[tuple[str, str], Message]]]:
    """One plausible request per RPC (built as admin at a location of its kind), to put the value in;
    and the locations they act at (store and warehouse staff tokens name them, to get past scope)."""
    fixtures = await Fixtures(quiet).setup()
    built = {}
    for (service, method), scenario in SCENARIOS.items():
        built[(service, method)] = await scenario.build(fixtures, Role.ADMIN, fixtures.home[scenario.at])
    yield sorted(fixtures.home.values()), built


def test_a_huge_value_is_tried_in_every_string_of_every_rpc() -> None:
    """The paths come from the descriptors: a string added to any request is tried without anyone
    listing it; a request with no string at all is the only kind left out."""
    covered = {(service, method) for service, method, _ in CASES}
    for service, method in every_rpc():
        if any(True for _ in string_paths(method_descriptor(service, method).input_type)):
            assert (service, method) in covered


@pytest.mark.parametrize(("service", "method"), every_rpc(), ids=[f"{s}.{m}" for s, m in every_rpc()])
async def test_a_megabyte_in_any_string_stalls_nothing(
    quiet: QuietStack,
    processes: dict[str, str],
    bases: tuple[list[str], dict[tuple[str, str], Message]],
    service: str,
    method: str,
) -> None:
    locations, requests = bases
    base = requests[(service, method)]
    paths = [path for s, m, path in CASES if (s, m) == (service, method)]
    tokens = {role: quiet.stack.token(role, locations=locations, subject="huge") for role in Role}
    channels = {
        role: quiet.stack.channel(service, token=token, address=processes[service])  # type: ignore[arg-type]
        for role, token in tokens.items()
    }
    failures = []
    with HealthProbe(quiet, processes) as probe:
        for path in paths:
            request = with_huge(base, path)
            assert request.ByteSize() >= MEGABYTE
            for role, channel in channels.items():
                code, error = await call(channel, service, method, request, timeout=30)
                case = f"{shown(path)} as {role}"
                if code in NEVER:
                    failures.append(f"{case}: {code.name} {error.details() if error else ''}")
                elif error is not None and code != grpc.StatusCode.OK:
                    infos = details_of(error, error_details_pb2.ErrorInfo)
                    if not infos or infos[0].reason not in Reason.__members__:
                        failures.append(f"{case}: {code.name} without an ErrorInfo reason")
    slow = {name: round(waited, 2) for name, waited in probe.longest.items() if waited > MAX_PROBE_WAIT}
    assert not slow, f"health probes waited longer than {MAX_PROBE_WAIT} s during {service}.{method}: {slow}"
    assert not failures, f"{service}.{method}:\n  " + "\n  ".join(failures)
