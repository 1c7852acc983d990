"""Connect and gRPC-Web beside gRPC: browsers, curl and TypeScript programs call the same RPCs over
HTTP/1.1, with JSON or binary protobuf.

Every call is passed on to the service's own gRPC server over loopback, carrying the caller's
authorization, request id and deadline. So a Connect caller meets every rule a gRPC caller meets,
by construction and not by a second copy: the same interceptors authenticate, authorise, admit
(in-flight and stream limits), apply the default deadline and map errors; the same servicers keep
idempotency by request id. A gRPC error comes back as Connect's error JSON (or gRPC-Web trailers)
with the same code, message and google.rpc details (ErrorInfo, BadRequest, RetryInfo...).

The runtime is connect-python 0.9: it reads and writes the Google protobuf messages the services
already use, so one protobuf runtime serves both doors.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import grpc
import uvicorn
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.method import IdempotencyLevel, MethodInfo
from connectrpc.request import RequestContext
from connectrpc.server import ConnectASGIApplication, Endpoint
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.rpc import error_details_pb2, status_pb2
from starlette.middleware.cors import CORSMiddleware

from omnistock_platform import errors
from omnistock_platform.grpc.errors import error_domain
from omnistock_platform.http import EmbeddedHttp
from omnistock_platform.settings import Settings

# Headers a Connect caller sends that the gRPC server reads as metadata.
FORWARDED_HEADERS = ("authorization", "x-request-id", "traceparent", "tracestate")
STATUS_DETAILS = "grpc-status-details-bin"
# What a browser page may send and read across origins (Connect's and gRPC-Web's own headers).
CORS_REQUEST_HEADERS = [
    "authorization",
    "content-type",
    "x-request-id",
    "connect-protocol-version",
    "connect-timeout-ms",
    "connect-content-encoding",
    "connect-accept-encoding",
    "grpc-timeout",
    "x-grpc-web",
    "x-user-agent",
]
CORS_RESPONSE_HEADERS = ["grpc-status", "grpc-message", "grpc-status-details-bin", "connect-content-encoding"]
CORS_MAX_AGE_SECONDS = 7200
GRACEFUL_SECONDS = 2
# What a body may hold beyond a message at the limit: its envelope and gzip's own bytes.
BODY_SLACK_BYTES = 64 * 1024

# A gRPC timeout header: at most 8 digits, then its unit (the gRPC over HTTP/2 protocol's form).
_GRPC_TIMEOUT = re.compile(r"[0-9]{1,8}[HMSmun]")

# Connect spells one code differently from gRPC.
_CODES = {grpc.StatusCode.CANCELLED: Code.CANCELED}


def connect_error(error: grpc.aio.AioRpcError) -> ConnectError:
    """The gRPC server's answer as Connect's error: same code, message and google.rpc details."""
    code = _CODES.get(error.code()) or Code[error.code().name]
    details: list[Any] = []
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS and isinstance(value, bytes):
            details.extend(status_pb2.Status.FromString(value).details)
    return ConnectError(code, error.details() or "", details)


def _metadata(ctx: RequestContext[Any, Any]) -> list[tuple[str, str]]:
    headers = ctx.request_headers()
    return [(name, value) for name in FORWARDED_HEADERS for value in headers.getall(name)]


def _timeout(ctx: RequestContext[Any, Any]) -> float | None:
    left = ctx.timeout_ms()
    return None if left is None else max(left, 0.0) / 1000.0


def _unary(call: grpc.aio.UnaryUnaryMultiCallable) -> Callable[[Any, RequestContext[Any, Any]], Awaitable[Any]]:
    async def forward(request: Any, ctx: RequestContext[Any, Any]) -> Any:
        try:
            return await call(request, metadata=_metadata(ctx), timeout=_timeout(ctx))
        except grpc.aio.AioRpcError as error:
            raise connect_error(error) from None

    return forward


def _server_stream(
    call: grpc.aio.UnaryStreamMultiCallable,
) -> Callable[[Any, RequestContext[Any, Any]], AsyncIterator[Any]]:
    async def forward(request: Any, ctx: RequestContext[Any, Any]) -> AsyncIterator[Any]:
        stream = call(request, metadata=_metadata(ctx), timeout=_timeout(ctx))
        try:
            async for response in stream:
                yield response
        except grpc.aio.AioRpcError as error:
            raise connect_error(error) from None
        finally:
            # The browser went away: the gRPC stream (and its place among the caller's streams) ends too.
            stream.cancel()

    return forward


def _idempotency(method: MethodDescriptor) -> IdempotencyLevel:
    level = method.GetOptions().idempotency_level
    if level == descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS:
        return IdempotencyLevel.NO_SIDE_EFFECTS
    if level == descriptor_pb2.MethodOptions.IDEMPOTENT:
        return IdempotencyLevel.IDEMPOTENT
    return IdempotencyLevel.UNKNOWN


def routes(channel: grpc.aio.Channel, services: Iterable[str]) -> dict[str, Any]:
    """A Connect endpoint (`/<package>.<Service>/<Method>`) for every unary and server-streaming
    RPC of the named services, read from their descriptors: a new RPC is served without a line here.
    Client and bidirectional streams have none (the contract has none; browsers could not send them)."""
    pool = descriptor_pool.Default()
    found: dict[str, Any] = {}
    for name in services:
        service = pool.FindServiceByName(name)
        for method in service.methods:
            if method.client_streaming:
                continue
            request = message_factory.GetMessageClass(method.input_type)
            response = message_factory.GetMessageClass(method.output_type)
            path = f"/{service.full_name}/{method.name}"
            info = MethodInfo(
                name=method.name,
                service_name=service.full_name,
                input=request,
                output=response,
                idempotency_level=_idempotency(method),
            )
            if method.server_streaming:
                stream = channel.unary_stream(
                    path, request_serializer=request.SerializeToString, response_deserializer=response.FromString
                )
                found[path] = Endpoint.server_stream(info, _server_stream(stream))
            else:
                unary = channel.unary_unary(
                    path, request_serializer=request.SerializeToString, response_deserializer=response.FromString
                )
                found[path] = Endpoint.unary(info, _unary(unary))
    return found


def _refused(code: Code, reason: errors.Reason, domain: str, text: str) -> ConnectError:
    """A refusal of what the caller sent, as the gRPC server words one: the code, the ErrorInfo and,
    for a request that is malformed, the BadRequest that says what is wrong."""
    details: list[Any] = [error_details_pb2.ErrorInfo(reason=reason, domain=domain)]
    if code == Code.INVALID_ARGUMENT:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[error_details_pb2.BadRequest.FieldViolation(description=text)]
            )
        )
    return ConnectError(code, text, details)


def _too_large(limit: int, domain: str) -> ConnectError:
    return _refused(
        Code.RESOURCE_EXHAUSTED, errors.Reason.LIMIT_REACHED, domain, f"the request is larger than {limit} bytes"
    )


class _Decoding:
    """A codec whose decoding refuses what is not the method's request message as the gRPC server
    refuses undecodable bytes (INVALID_ARGUMENT, REQUEST_MALFORMED, the method and what is wrong):
    the runtime answers any decoding error as `unknown` (HTTP 500), the service's fault to a caller
    whose JSON has a typo, a duplicate key or a number for a string."""

    def __init__(self, codec: Any, method: MethodInfo[Any, Any]) -> None:
        self.codec = codec
        self.method = method

    def name(self) -> str:
        return str(self.codec.name())

    def encode(self, message: Any) -> bytes:
        return bytes(self.codec.encode(message))

    def decode(self, data: bytes | bytearray, message: Any) -> Any:
        try:
            return self.codec.decode(data, message)
        except Exception as error:  # json_format.ParseError, DecodeError, bad UTF-8, ...
            # protobuf's JSON parser says "Failed to load JSON" twice over, each with its full stop.
            said = str(error).replace("Failed to load JSON: Failed to load JSON: ", "Failed to load JSON: ")
            text = f"the request is not a valid {self.method.name} request: {said.rstrip('.')}"
            domain = error_domain(self.method.service_name.split(".")[1])
            raise _refused(Code.INVALID_ARGUMENT, errors.Reason.REQUEST_MALFORMED, domain, text) from None


class _BoundedGzip:
    """gzip that inflates a request no further than the message limit. The runtime's inflates all of
    it before it measures: a few kilobytes of gzip that inflate to gigabytes (no token needed, the
    body is read before the call reaches the gRPC server) took the service's memory. Bytes that are
    no gzip are the caller's to fix (INVALID_ARGUMENT), not the service's fault (`unknown`)."""

    def __init__(self, limit: int, domain: str) -> None:
        self.limit = limit
        self.domain = domain

    def name(self) -> str:
        return "gzip"

    def compress(self, data: bytes | bytearray | memoryview) -> bytes:
        return gzip.compress(data)

    def decompress(self, data: bytes | bytearray | memoryview) -> bytes:
        inflated = bytearray()
        rest = bytes(data)
        try:
            while rest:  # gzip members one after another, as gzip.decompress reads them
                inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
                inflated += inflater.decompress(rest, self.limit + 1 - len(inflated))
                if len(inflated) > self.limit:
                    raise _too_large(self.limit, self.domain)
                if not inflater.eof:
                    raise zlib.error("the gzip data ends before its end")
                rest = inflater.unused_data
        except zlib.error as error:
            text = f"the request is not valid gzip: {error}"
            raise _refused(Code.INVALID_ARGUMENT, errors.Reason.REQUEST_MALFORMED, self.domain, text) from None
        return bytes(inflated)


class ConnectGateway(ConnectASGIApplication[None]):
    """Connect (JSON and binary) and gRPC-Web for every RPC in `endpoints`."""

    def __init__(self, endpoints: Mapping[str, Any], *, read_max_bytes: int, domain: str = "omnistock") -> None:
        super().__init__(
            service=None,
            endpoints=lambda _: endpoints,
            read_max_bytes=read_max_bytes,
            compressions=[_BoundedGzip(read_max_bytes, domain)],
        )
        self.domain = domain
        self.body_limit = read_max_bytes + BODY_SLACK_BYTES

    @property
    def path(self) -> str:
        return "/"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            refused = self._refused_headers(scope)
            if refused is not None:
                await self._handle_error(refused, None, send)
                return
            receive = self._bounded(scope, receive)
        await super().__call__(scope, receive, send)

    def _refused_headers(self, scope: Any) -> ConnectError | None:
        """Headers the runtime cannot take, refused in words: it answers them as `unknown` (HTTP 500),
        the service's fault, to a gRPC-Web caller whose grpc-timeout is not one ("5 seconds", "5x"),
        and to a gRPC caller that reached this HTTP/1.1 port instead of the gRPC one."""
        headers = {name: value for name, value in scope.get("headers", ())}
        kind = headers.get(b"content-type", b"").decode("latin-1")
        if kind.startswith("application/grpc-web"):
            timeout = headers.get(b"grpc-timeout", b"").decode("latin-1")
            if timeout and not _GRPC_TIMEOUT.fullmatch(timeout):
                text = f"grpc-timeout {timeout[:40]!r} is not 1 to 8 digits and a unit (H, M, S, m, u or n)"
                return _refused(Code.INVALID_ARGUMENT, errors.Reason.REQUEST_MALFORMED, self.domain, text)
        elif kind == "application/grpc" or kind.startswith(("application/grpc+", "application/grpc;")):
            text = "gRPC is served on the service's gRPC port (HTTP/2); this port serves Connect and gRPC-Web"
            return _refused(Code.UNIMPLEMENTED, errors.Reason.REQUEST_MALFORMED, self.domain, text)
        return None

    def _bounded(self, scope: Any, receive: Any) -> Any:
        """The body as the runtime reads it, refused (RESOURCE_EXHAUSTED) once it is larger than a
        message may be: the runtime gathers all of a unary body before it measures, so a body of
        gigabytes was held in memory whole. A Content-Length over the limit is refused unread."""
        declared = next((value for name, value in scope.get("headers", ()) if name == b"content-length"), b"")
        said_too_large = declared.isdigit() and (len(declared) > 18 or int(declared) > self.body_limit)
        taken = 0

        async def bounded() -> Any:
            nonlocal taken
            if said_too_large:
                raise _too_large(self.body_limit, self.domain)
            message = await receive()
            if message["type"] == "http.request":
                taken += len(message.get("body", b""))
                if taken > self.body_limit:
                    raise _too_large(self.body_limit, self.domain)
            return message

        return bounded

    # The runtime's two ways into a call (unary Connect; streams and gRPC-Web), each given the codec
    # that decodes the request: ours refuses an undecodable one as the gRPC server does.
    async def _handle_unary_connect(  # type: ignore[override]
        self, http_method: str, headers: Any, codec: Any, query_params: Any, endpoint: Any, *rest: Any
    ) -> None:
        await super()._handle_unary_connect(
            http_method, headers, _Decoding(codec, endpoint.method), query_params, endpoint, *rest
        )

    async def _handle_stream(  # type: ignore[override]
        self, receive: Any, send: Any, protocol: Any, endpoint: Any, codec: Any, *rest: Any
    ) -> None:
        await super()._handle_stream(receive, send, protocol, endpoint, _Decoding(codec, endpoint.method), *rest)


def web_app(gateway: ConnectGateway, settings: Settings) -> Any:
    """The gateway behind CORS: a storefront page on an allowed origin may call it; the preflight of
    any other origin is refused (400) and its responses carry no CORS headers, so its browser blocks them."""
    origins = list(settings.connect_allowed_origins)
    return CORSMiddleware(
        gateway,
        allow_origins=origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=CORS_REQUEST_HEADERS,
        expose_headers=CORS_RESPONSE_HEADERS,
        max_age=CORS_MAX_AGE_SECONDS,
    )


class ConnectServer:
    """Serves the gateway over HTTP/1.1 on its own port, next to the gRPC server it forwards to."""

    def __init__(
        self,
        settings: Settings,
        services: Iterable[str],
        grpc_target: str,
        credentials: grpc.ChannelCredentials | None,
        *,
        max_message_bytes: int,
        tls_name: str = "",
    ) -> None:
        """`tls_name`: the name the service's certificate is checked against on the loopback hop (the
        one other services dial), when it is not the loopback address itself."""
        options: list[tuple[str, int | str]] = [("grpc.max_receive_message_length", max_message_bytes)]
        if credentials is not None and tls_name:
            options.append(("grpc.ssl_target_name_override", tls_name))
        self.channel = (
            grpc.aio.insecure_channel(grpc_target, options=options)
            if credentials is None
            else grpc.aio.secure_channel(grpc_target, credentials, options=options)
        )
        named = list(services)
        gateway = ConnectGateway(
            routes(self.channel, named),
            read_max_bytes=max_message_bytes,
            domain=error_domain(named[0].split(".")[1] if named else ""),
        )
        self.settings = settings
        config = uvicorn.Config(
            web_app(gateway, settings),
            host=settings.host,
            log_config=None,
            access_log=False,  # the gRPC server's access log records every call
            lifespan="off",
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
            proxy_headers=False,
            server_header=False,
        )
        self.http = EmbeddedHttp(config, "Connect server")
        self.port = 0

    async def start(self, port: int, timeout: float = 10.0) -> int:
        """Listening: the port (a free one for 0). OSError when the port can not be had."""
        self.port = await self.http.start(port=port, reuse_port=True, timeout=timeout)
        return self.port

    async def stop(self) -> None:
        """Calls under way finish (within the grace), then the loopback channel closes."""
        await self.http.stop()
        await self.channel.close(None)
