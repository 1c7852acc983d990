"""Walks the whole authorization table: every RPC of every service, for every
role, is allowed or refused exactly as its service's POLICY says; and a call
without a valid token is refused before anything else happens."""

from __future__ import annotations

import importlib
from datetime import timedelta

import grpc
import jwt
import pytest
from google.protobuf import descriptor_pool, message_factory
from google.rpc import error_details_pb2

from omnistock_platform.auth import Role
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.registry import installed_services, module_name
from omnistock_platform.testing.stack import Stack

SERVICES = installed_services()


def policy_of(service: str) -> dict[str, frozenset[Role]]:
    return importlib.import_module(f"{module_name(service)}.entrypoints.main").POLICY  # type: ignore[no-any-return]


def methods_of(stack: Stack, service: str) -> list[tuple[str, object, bool]]:
    """(method name, empty request, server-streaming) for every RPC the service's servicer serves."""
    app = stack.apps.get(service)
    assert app is not None, f"{service} is not running in-process"
    found = []
    for servicer in app.servicers:
        descriptor = descriptor_pool.Default().FindServiceByName(servicer.full_name)
        for method in descriptor.methods:
            request = message_factory.GetMessageClass(method.input_type)()
            found.append((method.name, request, method.server_streaming))
    return found


def reason_of(error: grpc.aio.AioRpcError) -> tuple[str, str]:
    infos = details_of(error, error_details_pb2.ErrorInfo)
    return (infos[0].reason, infos[0].domain) if infos else ("", "")


async def invoke(
    stack: Stack, service: str, method: str, request: object, streaming: bool, token: str
) -> tuple[grpc.StatusCode, str]:
    channel = stack.channel(service, token=token)
    full = f"/{stack.apps[service].servicers[0].full_name}/{method}"
    serialize = type(request).SerializeToString  # type: ignore[attr-defined]
    try:
        if streaming:
            call = channel.unary_stream(full, request_serializer=serialize, response_deserializer=bytes)(
                request, timeout=5
            )
            async for _ in call:
                break
            call.cancel()
        else:
            await channel.unary_unary(full, request_serializer=serialize, response_deserializer=bytes)(
                request, timeout=5
            )
    except grpc.aio.AioRpcError as error:
        reason, domain = reason_of(error)
        # Every refusal says why, in the service's domain: the reason travels with the details.
        return error.code(), f"{error.details() or ''} [{reason} {domain}]"
    return grpc.StatusCode.OK, ""


def refused_by_table(code: grpc.StatusCode, details: str) -> bool:
    # The table's refusal; a staff member outside their locations is refused later, by the service.
    return code == grpc.StatusCode.PERMISSION_DENIED and "may not call" in details and "[ROLE_NOT_ALLOWED " in details


@pytest.mark.parametrize("service", SERVICES)
async def test_every_method_is_in_the_table(stack, service) -> None:
    names = {name for name, _, _ in methods_of(stack, service)}
    assert names == set(policy_of(service)), "every RPC needs a row in POLICY, and no row may name a missing RPC"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("role", list(Role))
async def test_each_role_is_allowed_or_refused_as_the_table_says(stack, service, role) -> None:
    policy = policy_of(service)
    token = stack.token(role, locations=["LOC-SCOPE-TEST"])
    for method, request, streaming in methods_of(stack, service):
        code, details = await invoke(stack, service, method, request, streaming, token)
        if role in policy[method]:
            # An empty request is invalid or unknown, but the caller got past the door.
            assert not refused_by_table(code, details), f"{service}.{method} refused {role}: {details}"
            assert code != grpc.StatusCode.UNAUTHENTICATED, f"{service}.{method}: {details}"
            assert code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), f"{service}.{method}: {code}"
        else:
            assert refused_by_table(code, details), f"{service}.{method} let {role} in: {code} {details}"


@pytest.mark.parametrize("service", SERVICES)
async def test_missing_expired_or_forged_tokens_are_unauthenticated(stack, service) -> None:
    expired = stack.token(Role.ADMIN, ttl=timedelta(seconds=-120))
    claims = jwt.decode(stack.token(Role.ADMIN), options={"verify_signature": False})
    forged = jwt.encode(claims, "not-the-secret", algorithm="HS256")
    unsigned = jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]
    for method, request, streaming in methods_of(stack, service):
        for token, reason in (
            ("", "TOKEN_MISSING"),
            ("garbage", "TOKEN_INVALID"),
            (expired, "TOKEN_EXPIRED"),
            (forged, "TOKEN_INVALID"),
            (unsigned, "TOKEN_INVALID"),
        ):
            code, details = await invoke(stack, service, method, request, streaming, token)
            assert code == grpc.StatusCode.UNAUTHENTICATED, f"{service}.{method} with a bad token: {code}"
            assert details.endswith(f"[{reason} omnistock.{service}]"), details
