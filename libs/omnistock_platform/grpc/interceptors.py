"""The server interceptor every service runs: request id, authentication and
authorization, logging, metrics, and the mapping of errors to gRPC status."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

from omnistock_platform import errors
from omnistock_platform.auth import ANONYMOUS_ADMIN, Principal, Role, TokenAuthority, principal_var
from omnistock_platform.grpc.errors import internal_status, to_status
from omnistock_platform.logging import get_logger, request_id_var

log = get_logger(__name__)

RPC_TOTAL = Counter("omnistock_rpc_total", "Finished RPCs", ["service", "method", "code"])
RPC_SECONDS = Histogram(
    "omnistock_rpc_seconds",
    "RPC latency",
    ["service", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

# Methods of the standard services that need no token (load balancers, grpcurl).
PUBLIC_METHODS = frozenset(
    {
        "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    }
)

# method name (e.g. "Hold") -> roles allowed to call it.
AccessPolicy = Mapping[str, frozenset[Role]]


class ServerInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self, service: str, authority: TokenAuthority | None, policy: AccessPolicy, max_in_flight: int = 0
    ) -> None:
        self.service = service
        self.authority = authority
        self.policy = policy
        self._slots = asyncio.Semaphore(max_in_flight) if max_in_flight else None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method in PUBLIC_METHODS:
            return handler
        method = details.method.rsplit("/", 1)[-1]
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        # Client-streaming kinds are not wrapped, so serving them would skip authentication:
        # refuse them (UNIMPLEMENTED) until they are.
        log.error("rpc.unsupported_kind", method=details.method)
        return None

    def _begin(self, method: str, request: Any, context: grpc.aio.ServicerContext) -> None:
        metadata = dict(context.invocation_metadata() or ())
        request_id = getattr(request, "request_id", "") or str(metadata.get("x-request-id", "")) or str(uuid.uuid4())
        request_id_var.set(request_id)
        principal_var.set(self._authenticate(method, metadata))

    def _authenticate(self, method: str, metadata: Mapping[str, Any]) -> Principal:
        if self.authority is None:
            return ANONYMOUS_ADMIN
        header = str(metadata.get("authorization", ""))
        if not header.lower().startswith("bearer "):
            raise errors.Unauthenticated("missing bearer token in the authorization metadata")
        principal = self.authority.verify(header[7:].strip())
        allowed = self.policy.get(method)
        if allowed is None or principal.role not in allowed:
            raise errors.PermissionDenied(f"role {principal.role} may not call {self.service}.{method}")
        return principal

    async def _fail(self, context: grpc.aio.ServicerContext, method: str, error: Exception) -> None:
        if isinstance(error, errors.OmnistockError):
            status = to_status(error)
            log.info("rpc.refused", method=method, code=status.code.name, message=error.message)
        else:
            log.exception("rpc.failed", method=method)
            status = internal_status(request_id_var.get())
        RPC_TOTAL.labels(self.service, method, status.code.name).inc()
        await context.abort_with_status(status)

    def _wrap_unary(self, method: str, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            try:
                self._begin(method, request, context)
                if self._slots is not None and self._slots.locked():
                    raise errors.ResourceExhausted(f"{self.service} is at its concurrency limit", 0.2)
                if self._slots is None:
                    response = await behavior(request, context)
                else:
                    async with self._slots:
                        response = await behavior(request, context)
            except (asyncio.CancelledError, grpc.aio.AbortError):
                raise
            except Exception as error:
                await self._fail(context, method, error)
                raise  # unreachable: abort raises
            RPC_TOTAL.labels(self.service, method, "OK").inc()
            RPC_SECONDS.labels(self.service, method).observe(time.perf_counter() - started)
            return response

        return unary

    def _wrap_stream(
        self, method: str, behavior: Callable[..., AsyncIterator[Any]]
    ) -> Callable[..., AsyncIterator[Any]]:
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            try:
                self._begin(method, request, context)
                async for response in behavior(request, context):
                    yield response
            except (asyncio.CancelledError, grpc.aio.AbortError):
                raise
            except Exception as error:
                await self._fail(context, method, error)

        return stream
