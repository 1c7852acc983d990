"""The access log: a line per call with its method, status code, duration, caller role, request
id and trace id. Successful calls are sampled (`OMNISTOCK_ACCESS_LOG_SAMPLE`, the share written);
a call that ended in any other status is always written.

It runs outside the interceptor that authenticates and maps errors, so it sees the status that
interceptor sent, and who it found the caller to be."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from omnistock_platform import telemetry
from omnistock_platform.auth import principal_var
from omnistock_platform.logging import get_logger, request_id_var

log = get_logger("omnistock.access")

# Load balancers ask for health every few seconds; those lines would drown the rest.
UNLOGGED_PREFIXES = ("/grpc.health.v1.Health/",)
# The caller's fault, not the service's: logged at info like a success.
CALLER_ERRORS = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


def _status(context: grpc.aio.ServicerContext, error: BaseException | None) -> grpc.StatusCode:
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.UNKNOWN if error is not None else grpc.StatusCode.OK


class AccessLogInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, service: str, sample: float = 1.0) -> None:
        self.service = service
        self.sample = sample
        # method -> (the inner handler, our wrapper of it): built once per method.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(UNLOGGED_PREFIXES):
            return handler
        cached = self._wrapped.get(details.method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(details.method, handler)
        if wrapped is None:
            return handler
        self._wrapped[details.method] = (handler, wrapped)
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler | None:
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return None

    def _unary(self, method: str, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            telemetry.call_started(self.service)
            try:
                response = await behavior(request, context)
            except BaseException as error:
                self._write(method, context, started, error)
                raise
            self._write(method, context, started, None)
            return response

        return unary

    def _stream(self, method: str, behavior: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started = time.perf_counter()
            telemetry.call_started(self.service)
            try:
                async for response in behavior(request, context):
                    yield response
            except BaseException as error:
                self._write(method, context, started, error)
                raise
            self._write(method, context, started, None)

        return stream

    def _write(
        self, method: str, context: grpc.aio.ServicerContext, started: float, error: BaseException | None
    ) -> None:
        code = _status(context, error)
        request_id = request_id_var.get()
        trace_id = telemetry.call_finished(code, request_id)
        if code is grpc.StatusCode.OK and self.sample < 1.0 and random.random() >= self.sample:
            return
        quiet = code is grpc.StatusCode.OK or code in CALLER_ERRORS
        # Below the configured level the line is dropped anyway: not built either.
        if not log.is_enabled_for(logging.INFO if quiet else logging.WARNING):
            return
        principal = principal_var.get(None)
        fields = {
            "method": method,
            "code": code.name,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "role": str(principal.role) if principal is not None else "",
            "request_id": request_id,
            "trace_id": trace_id,
        }
        if quiet:
            log.info("rpc.access", **fields)
        else:
            log.warning("rpc.access", **fields)
