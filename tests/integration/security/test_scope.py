"""The access walk: every RPC of every service x every role x (its own location, another location),
from the services' POLICY tables, the proto descriptors and the walk's knowledge of each RPC
(`scenarios.py`). Both directions: what is allowed works, what is not is PERMISSION_DENIED with
google.rpc.ErrorInfo and changes nothing. And a request id's answer belongs to its caller: another
caller replaying it is refused, never answered with the first caller's data."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from omnistock_platform.auth import LOCATION_SCOPED, Role
from omnistock_platform.errors import Reason
from omnistock_platform.grpc.errors import details_of
from tests.integration.security.scenarios import SCENARIOS, Fixtures
from tests.integration.security.support import QuietStack, call, every_rpc, method_descriptor, policy_of

RPCS = every_rpc()
IDS = [f"{service}.{method}" for service, method in RPCS]


@pytest_asyncio.fixture(scope="module")
async def fixtures(quiet: QuietStack) -> AsyncIterator[Fixtures]:
    yield await Fixtures(quiet).setup()


class Callers:
    """One channel per (service, token), kept for the module."""

    def __init__(self, quiet: QuietStack) -> None:
        self.quiet = quiet
        self._channels: dict[tuple[str, Role, str, str], grpc.aio.Channel] = {}

    def channel(self, service: str, role: Role, location_id: str, subject: str = "walk") -> grpc.aio.Channel:
        key = (service, role, location_id, subject)
        if key not in self._channels:
            token = self.quiet.stack.token(role, locations=[location_id], subject=f"{subject}-{role}")
            self._channels[key] = self.quiet.stack.channel(service, token=token)  # type: ignore[arg-type]
        return self._channels[key]


@pytest.fixture(scope="module")
def callers(quiet: QuietStack) -> Callers:
    return Callers(quiet)


def reason_of(error: grpc.aio.AioRpcError | None) -> tuple[str, str]:
    infos = details_of(error, error_details_pb2.ErrorInfo) if error is not None else []
    return (infos[0].reason, infos[0].domain) if infos else ("", "")


def test_the_walk_knows_every_rpc() -> None:
    """A new RPC needs its entry in scenarios.SCENARIOS (how it is called, whether it is scoped)."""
    missing = sorted(set(RPCS) - set(SCENARIOS))
    stale = sorted(set(SCENARIOS) - set(RPCS))
    assert not missing, f"the access walk does not know {missing}: add them to scenarios.SCENARIOS"
    assert not stale, f"scenarios.SCENARIOS names RPCs that do not exist: {stale}"


@pytest.mark.parametrize(("service", "method"), RPCS, ids=IDS)
async def test_each_role_acts_only_where_it_may(
    quiet: QuietStack, fixtures: Fixtures, callers: Callers, service: str, method: str
) -> None:
    scenario = SCENARIOS.get((service, method))
    assert scenario is not None, f"{service}.{method} is not in scenarios.SCENARIOS"
    allowed_roles = policy_of(service)[method]
    at = fixtures.home[scenario.at]
    failures: list[str] = []
    for role in Role:
        for direction, token_location in (("own", at), ("other", fixtures.away[scenario.at])):
            allowed = role in allowed_roles
            in_scope = not (role in LOCATION_SCOPED and scenario.scoped and direction == "other")
            request = await scenario.build(fixtures, role, at)
            channel = callers.channel(service, role, token_location)
            case = f"{role} at {direction} location"
            if allowed and in_scope:
                code, error = await call(channel, service, method, request, scenario.timeout)
                if code != grpc.StatusCode.OK:
                    failures.append(f"{case}: allowed, but {code.name} {error.details() if error else ''}")
                continue
            await quiet.settle()
            before = await quiet.snapshot()
            code, error = await call(channel, service, method, request)
            changed = await quiet.changed_since(before)
            reason, domain = reason_of(error)
            wanted = Reason.ROLE_NOT_ALLOWED if not allowed else Reason.LOCATION_NOT_ALLOWED
            if code != grpc.StatusCode.PERMISSION_DENIED:
                failures.append(f"{case}: forbidden, but {code.name} {error.details() if error else ''}")
            elif (reason, domain) != (wanted, f"omnistock.{service}"):
                failures.append(f"{case}: PERMISSION_DENIED with ErrorInfo {reason!r} {domain!r}, not {wanted}")
            if changed:
                failures.append(f"{case}: refused, but changed {changed}")
    assert not failures, f"{service}.{method}:\n  " + "\n  ".join(failures)


CHANGES = [
    (service, method)
    for service, method in RPCS
    if "request_id" in method_descriptor(service, method).input_type.fields_by_name
]


@pytest.mark.parametrize(("service", "method"), CHANGES, ids=[f"{s}.{m}" for s, m in CHANGES])
async def test_a_stored_answer_belongs_to_its_caller(
    quiet: QuietStack, fixtures: Fixtures, callers: Callers, service: str, method: str
) -> None:
    """Another caller (here: another admin) replaying a request id gets REQUEST_ID_REUSED and changes
    nothing; the first caller's retry still gets its answer."""
    scenario = SCENARIOS[(service, method)]
    at = fixtures.home[scenario.at]
    request: Message = await scenario.build(fixtures, Role.ADMIN, at)
    first = callers.channel(service, Role.ADMIN, at, subject="first")
    other = callers.channel(service, Role.ADMIN, at, subject="other")
    code, error = await call(first, service, method, request, scenario.timeout)
    assert code == grpc.StatusCode.OK, error.details() if error else ""
    await quiet.settle()
    before = await quiet.snapshot()
    code, error = await call(other, service, method, request)
    assert code == grpc.StatusCode.FAILED_PRECONDITION, f"another caller's replay: {code.name}"
    assert reason_of(error) == (Reason.REQUEST_ID_REUSED, f"omnistock.{service}")
    assert not await quiet.changed_since(before)
    code, error = await call(first, service, method, request, scenario.timeout)
    assert code == grpc.StatusCode.OK, f"the first caller's retry: {code.name} {error.details() if error else ''}"
