"""The server interceptor every service runs: request id, authentication and
authorization, logging, metrics, and the mapping of errors to gRPC status."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import asyncpg
import grpc
import jwt
from google.protobuf.message import Message
from prometheus_client import Counter, Histogram

from omnistock_platform import deadlines, errors, paging
from omnistock_platform.auth import ANONYMOUS_ADMIN, Principal, Role, TokenAuthority, principal_var
from omnistock_platform.db import database_lost, database_unavailable
from omnistock_platform.grpc.errors import internal_status, to_status
from omnistock_platform.idempotency import caller_key
from omnistock_platform.logging import get_logger, request_id_var
from omnistock_platform.validation import MAX_REQUEST_ID, Validator

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

# Verified tokens are remembered this many seconds at most, and this many at once.
VERIFIED_FOR = 10.0
VERIFIED_TOKENS = 10_000

# method name (e.g. "Hold") -> roles allowed to call it.
AccessPolicy = Mapping[str, frozenset[Role]]


# How long a caller at its stream limit is told to wait before opening another.
STREAM_RETRY_SECONDS = 1.0


class _Malformed:
    """Stands in for a request whose bytes are not the method's message: refused after
    authentication, as INVALID_ARGUMENT, instead of grpc's UNKNOWN."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as error:  # DecodeError, bad UTF-8 in a string field, ...
            return _Malformed(error)

    return deserialize


# An error travels in trailing metadata, which clients refuse beyond 8 KiB (RESOURCE_EXHAUSTED
# instead of the answer). Errors echo what the caller sent, so they are cut down to size here.
MAX_VIOLATIONS = 10
MAX_FIELD = 120
MAX_DESCRIPTION = 200
MAX_MESSAGE = 1000


def _short(text: str, limit: int, *, ascii_only: bool = False) -> str:
    """At most `limit` characters. Cut before anything else is done with it: an echoed value may
    be megabytes long, and the work spent on it must not grow with what the caller sent."""
    if len(text) > limit:
        text = f"{text[: limit - 3]}..."
    if ascii_only:  # echoed input: no control characters, nothing that percent-encodes to many bytes
        text = text.encode("unicode_escape").decode("ascii")
        if len(text) > limit:
            text = f"{text[: limit - 3]}..."
    return text


def bounded(error: errors.OmnistockError) -> errors.OmnistockError:
    """The error as it can be sent: at most MAX_VIOLATIONS violations, every text it echoes short."""
    if isinstance(error, errors.InvalidArgument):
        shown = error.violations[:MAX_VIOLATIONS]
        violations = [
            errors.FieldViolation(
                _short(v.field, MAX_FIELD, ascii_only=True), _short(v.description, MAX_DESCRIPTION, ascii_only=True)
            )
            for v in shown
        ]
        if len(error.violations) > len(shown):
            hidden = len(error.violations) - len(shown)
            field = _short(error.violations[len(shown)].field, MAX_FIELD, ascii_only=True)
            violations.append(errors.FieldViolation(field, f"and {hidden} more violations not shown"))
        return errors.InvalidArgument(
            violations, _short(errors.InvalidArgument(violations).message, MAX_MESSAGE), reason=error.reason
        )
    if isinstance(error, errors.NotFound):
        error.kind = _short(error.kind, MAX_FIELD, ascii_only=True)
        error.key = _short(error.key, MAX_DESCRIPTION, ascii_only=True)
        error.field = _short(error.field, MAX_FIELD, ascii_only=True)
    if isinstance(error, errors.FailedPrecondition):
        shown_violations = error.violations[:MAX_VIOLATIONS]
        error.violations = [
            errors.PreconditionViolation(
                _short(v.type, MAX_FIELD, ascii_only=True),
                _short(v.subject, MAX_FIELD, ascii_only=True),
                _short(v.description, MAX_DESCRIPTION, ascii_only=True),
            )
            for v in shown_violations
        ]
    error.message = _short(error.message, MAX_MESSAGE)
    return error


class ServerInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        service: str,
        authority: TokenAuthority | None,
        policy: AccessPolicy,
        max_in_flight: int = 0,
        max_streams_per_caller: int = 0,
        default_deadline: float = 0.0,
    ) -> None:
        self.service = service
        # Seconds a unary call that came without a deadline is given (0: unbounded).
        self.default_deadline = default_deadline
        self.authority = authority
        self.policy = policy
        self._slots = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        # token -> (who it names, until when that answer stands): see _verified.
        self._tokens: dict[str, tuple[Principal, float]] = {}
        # method -> (the servicer's handler, our wrapper of it): built once, not on every call.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler | None]] = {}
        self.max_streams_per_caller = max_streams_per_caller
        # Open server streams per token subject, in this process.
        self._streams: dict[str, int] = {}
        # method -> its OK counter and latency histogram: prometheus finds a labelled child under a
        # lock on every labels() call (3.7 us against 1.2 us for the two a call, timed in-process).
        self._succeeded: dict[str, tuple[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method in PUBLIC_METHODS:
            return handler
        cached = self._wrapped.get(details.method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(details.method, handler)
        self._wrapped[details.method] = (handler, wrapped)
        return wrapped

    def _wrap(self, full_method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler | None:
        method = full_method.rsplit("/", 1)[-1]
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, handler.unary_unary),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, handler.unary_stream),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        # Client-streaming kinds are not wrapped, so serving them would skip authentication:
        # refuse them (UNIMPLEMENTED) until they are.
        log.error("rpc.unsupported_kind", method=full_method)
        return None

    def _begin(self, method: str, request: Any, context: grpc.aio.ServicerContext) -> None:
        metadata = dict(context.invocation_metadata() or ())
        # Every request id is checked here, once for all services: it is logged and stored.
        check = Validator()
        given = getattr(request, "request_id", "")
        check.request_id("request_id", given if isinstance(given, str) else "")
        header = str(metadata.get("x-request-id", ""))
        if check.violations or not given:
            given = header if header and len(header) <= MAX_REQUEST_ID else ""
        request_id_var.set(given or str(uuid.uuid4()))
        principal = self._authenticate(method, metadata)
        principal_var.set(principal)
        if isinstance(request, _Malformed):
            raise errors.InvalidArgument(
                errors.FieldViolation("", f"the request is not a valid {method} request: {request.error}"),
                reason=errors.Reason.REQUEST_MALFORMED,
            )
        check.raise_if_invalid()
        if isinstance(request, Message) and "page_token" in request.DESCRIPTOR.fields_by_name:
            # A list: its page tokens are good only for this method, query and caller (AIP-158).
            paging.bind(f"{self.service}.{method}", caller_key(principal), request)

    def _authenticate(self, method: str, metadata: Mapping[str, Any]) -> Principal:
        if self.authority is None:
            log.debug("auth.disabled", method=f"{self.service}.{method}", detail="caller treated as admin")
            return ANONYMOUS_ADMIN
        header = str(metadata.get("authorization", ""))
        if not header.lower().startswith("bearer "):
            raise errors.Unauthenticated(
                "missing bearer token in the authorization metadata", reason=errors.Reason.TOKEN_MISSING
            )
        principal = self._verified(header[7:].strip())
        allowed = self.policy.get(method)
        if allowed is None or principal.role not in allowed:
            raise errors.PermissionDenied(f"role {principal.role} may not call {self.service}.{method}")
        return principal

    def _verified(self, token: str) -> Principal:
        """`TokenAuthority.verify`, remembered per token: checking a signature costs more than an empty
        call's own work. A token is remembered until it would expire (its exp plus the leeway) and never
        longer than VERIFIED_FOR, so a key withdrawn from the JWKS stops working within that time."""
        assert self.authority is not None
        now = time.time()
        known = self._tokens.get(token)
        if known is not None and known[1] > now:
            return known[0]
        principal = self.authority.verify(token)
        try:
            expires = float(jwt.decode(token, options={"verify_signature": False})["exp"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            return principal  # verified but odd: not remembered
        if len(self._tokens) >= VERIFIED_TOKENS:
            self._tokens.clear()
        leeway = self.authority.settings.jwt_leeway.total_seconds()
        self._tokens[token] = (principal, min(expires + leeway, now + VERIFIED_FOR))
        return principal

    async def _fail(self, context: grpc.aio.ServicerContext, method: str, error: Exception) -> None:
        if database_lost(error):  # a read straight on the pool while the database was away
            log.warning("rpc.database_lost", method=method, error=repr(error))
            error = database_unavailable()
        elif isinstance(error, asyncpg.exceptions.TransactionRollbackError):
            # A deadlock or serialization failure: the database rolled the change back whole, and the
            # same request again can only succeed or be answered as it was.
            log.warning("rpc.rolled_back", method=method, error=repr(error))
            error = errors.Aborted(
                f"{self.service}.{method} collided with another change and was rolled back; retry it",
                0.1,
                reason=errors.Reason.CONFLICT,
            )
        if isinstance(error, errors.OmnistockError):
            error = bounded(error)
            status = to_status(error, self.service)
            log.info("rpc.refused", method=method, code=status.code.name, reason=error.reason, message=error.message)
        else:
            log.exception("rpc.failed", method=method)
            status = internal_status(request_id_var.get(), self.service)
        RPC_TOTAL.labels(self.service, method, status.code.name).inc()
        await context.abort_with_status(status)

    def _wrap_unary(self, method: str, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            budget = self._budget(context)
            try:
                self._begin(method, request, context)
                if self._slots is not None and self._slots.locked():
                    raise errors.ResourceExhausted(f"{self.service} is at its concurrency limit", 0.2)
                async with asyncio.timeout(budget):
                    if self._slots is None:
                        response = await behavior(request, context)
                    else:
                        async with self._slots:
                            response = await behavior(request, context)
            except TimeoutError:
                error = errors.DeadlineExceeded(f"{self.service}.{method} found no answer within {budget:.3g} s")
                await self._fail(context, method, error)
                raise  # unreachable: abort raises
            except (asyncio.CancelledError, grpc.aio.AbortError):
                raise
            except Exception as error:
                await self._fail(context, method, error)
                raise  # unreachable: abort raises
            succeeded = self._succeeded.get(method)
            if succeeded is None:
                succeeded = (RPC_TOTAL.labels(self.service, method, "OK"), RPC_SECONDS.labels(self.service, method))
                self._succeeded[method] = succeeded
            succeeded[0].inc()
            succeeded[1].observe(time.perf_counter() - started)
            return response

        return unary

    def _budget(self, context: grpc.aio.ServicerContext) -> float | None:
        """Seconds this call may take: the caller's deadline, or the default when it set none.
        Onward calls to other services inherit what is left of it (omnistock_platform.deadlines)."""
        remaining = context.time_remaining()
        budget = remaining if remaining is not None else (self.default_deadline or None)
        if budget is not None:
            deadlines.serve_until(time.monotonic() + budget)
        return budget

    def _wrap_stream(
        self, method: str, behavior: Callable[..., AsyncIterator[Any]]
    ) -> Callable[..., AsyncIterator[Any]]:
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            caller: str | None = None
            try:
                self._begin(method, request, context)
                caller = self._open_stream()
                async for response in behavior(request, context):
                    yield response
            except (asyncio.CancelledError, grpc.aio.AbortError):
                raise
            except Exception as error:
                await self._fail(context, method, error)
            finally:
                if caller is not None:
                    self._close_stream(caller)

        return stream

    def _open_stream(self) -> str:
        """Counts a stream against its caller; refused beyond max_streams_per_caller. Returns the key."""
        caller = principal_var.get().subject
        open_now = self._streams.get(caller, 0)
        if self.max_streams_per_caller and open_now >= self.max_streams_per_caller:
            raise errors.ResourceExhausted(
                f"{caller!r} already has {open_now} streams open on {self.service}, the most one caller may;"
                " close one first",
                STREAM_RETRY_SECONDS,
                reason=errors.Reason.STREAM_LIMIT,
            )
        self._streams[caller] = open_now + 1
        return caller

    def _close_stream(self, caller: str) -> None:
        left = self._streams.get(caller, 1) - 1
        if left > 0:
            self._streams[caller] = left
        else:
            self._streams.pop(caller, None)
