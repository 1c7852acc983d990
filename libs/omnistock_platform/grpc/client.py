"""Channels from one service to another: a service token on every call, the
request id passed on, a deadline (never beyond what our own caller still waits), and
retries of UNAVAILABLE by gRPC itself."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from omnistock_platform import deadlines, telemetry
from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.errors import Unavailable
from omnistock_platform.grpc.errors import error_from_rpc
from omnistock_platform.logging import request_id_var
from omnistock_platform.services import ServiceName
from omnistock_platform.settings import Settings

# round_robin: a name that resolves to several servers (a headless Service: one address per pod)
# gets a connection to each and spreads calls over them; one address behaves as before.
_RETRY_POLICY = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 5,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
)


# Each channel keeps its own connections. In gRPC's default process-wide pool a new channel to an
# address shares the connection attempts of every other channel to it: one that failed while
# nothing listened there (a peer restarting, a port last used by a stopped server) leaves the new
# channel answering UNAVAILABLE until that attempt's backoff ends, up to two minutes.
# After a failed attempt a channel tries again within 5 s, not gRPC's default of up to 120 s: a
# restarted peer is called again within seconds.
_CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.service_config", _RETRY_POLICY),
    ("grpc.enable_retries", 1),
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 5_000),
]

T = TypeVar("T")


async def remote_call(service: str, pending: Awaitable[T]) -> T:
    """A call to another service, its failure turned back into the Omnistock error it stands for,
    so that it travels on to our own caller unchanged (a shortfall stays a shortfall)."""
    try:
        return await pending
    except grpc.aio.AioRpcError as error:
        known = error_from_rpc(error)
        if known is not None:
            raise known from error
        # Timeouts, a service away, its internal errors: the caller may retry with the same request id.
        raise Unavailable(f"{service} did not answer: {error.code().name} {error.details() or ''}".strip()) from error


class _CallDetails:
    """Adds the token, the request id and the default deadline to a call."""

    def __init__(self, token: Callable[[], str], deadline: float) -> None:
        self._token = token
        self._deadline = deadline

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        token = self._token()
        if token and "authorization" not in metadata:
            metadata.add("authorization", f"Bearer {token}")
        request_id = request_id_var.get()
        # Only what a header may carry (the server checked it; this keeps a bad one from failing the call).
        if request_id and request_id.isascii() and request_id.isprintable() and "x-request-id" not in metadata:
            metadata.add("x-request-id", request_id)
        timeout = details.timeout if details.timeout is not None else self._deadline
        left = deadlines.remaining()
        if left is not None and timeout:
            timeout = min(timeout, left)  # no longer than our own caller still waits
        return grpc.aio.ClientCallDetails(
            method=details.method,
            timeout=timeout,
            metadata=metadata,
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
        )


# grpc.aio files an interceptor under one kind only, so each kind has its own class.
class _UnaryMetadata(_CallDetails, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _StreamMetadata(_CallDetails, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    def __init__(self, token: Callable[[], str]) -> None:
        # A stream lives as long as its reader wants: no default deadline.
        super().__init__(token, deadline=0.0)

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        call_details = self._details(details)
        if details.timeout is None:
            call_details = call_details._replace(timeout=None)
        return await continuation(call_details, request)


class ServiceToken:
    """A short-lived `service` token, minted again before it runs out."""

    def __init__(self, settings: Settings, subject: str) -> None:
        self._authority = TokenAuthority(settings)
        self._ttl = settings.service_token_ttl
        self._subject = subject
        self._token = ""
        self._renew_at = 0.0

    def __call__(self) -> str:
        now = time.monotonic()
        if now >= self._renew_at:
            self._token = self._authority.mint(Role.SERVICE, self._subject, ttl=self._ttl)
            self._renew_at = now + self._ttl.total_seconds() / 2
        return self._token


def open_channel(
    settings: Settings,
    target: ServiceName,
    token: Callable[[], str],
    address: str | None = None,
    *,
    traced: bool = False,
) -> grpc.aio.Channel:
    """`traced`: calls carry the trace they are made in (a service's calls to another, when tracing is on)."""
    interceptors: list[Any] = [
        *(telemetry.client_interceptors() if traced else []),
        _UnaryMetadata(token, settings.default_deadline.total_seconds()),
        _StreamMetadata(token),
    ]
    address = address or settings.address(target)
    credentials = channel_credentials(settings)
    if credentials is not None:
        return grpc.aio.secure_channel(address, credentials, options=_CHANNEL_OPTIONS, interceptors=interceptors)
    return grpc.aio.insecure_channel(address, options=_CHANNEL_OPTIONS, interceptors=interceptors)


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """TLS when any TLS setting is given, else None (plaintext).

    The servers are trusted by tls_ca_file (else the service's own certificate, for a self-signed
    one; else the system's roots). The client certificate is tls_client_cert_file/key; a service
    that itself requires client certificates (tls_client_ca_file) presents its own server
    certificate when none is given, as the container health check does."""
    if not (settings.tls_ca_file or settings.tls_cert_file or settings.tls_client_cert_file):
        return None
    root_file = settings.tls_ca_file or settings.tls_cert_file
    cert_file, key_file = settings.tls_client_cert_file, settings.tls_client_key_file
    if cert_file is None and key_file is None and settings.tls_client_ca_file:
        cert_file, key_file = settings.tls_cert_file, settings.tls_key_file
    if (cert_file is None) != (key_file is None):
        raise ValueError("a client certificate needs both tls_client_cert_file and tls_client_key_file")
    return grpc.ssl_channel_credentials(
        root_certificates=root_file.read_bytes() if root_file else None,
        private_key=key_file.read_bytes() if key_file else None,
        certificate_chain=cert_file.read_bytes() if cert_file else None,
    )


def service_channel(settings: Settings, source: ServiceName, target: ServiceName) -> grpc.aio.Channel:
    return open_channel(settings, target, ServiceToken(settings, source), traced=True)
