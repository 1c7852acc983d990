"""The services, called as the signed-in staff member.

The console keeps one set of channels; each call carries the token of the person it is made
for (a context variable read by the client's interceptor), so the services decide what that
person may see and do, exactly as for any other channel."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar

import grpc
from omnistock_client import OmnistockClient
from omnistock_client.client import RetryPolicy
from omnistock_client.explain import explain, short_locations
from omnistock_client.lookups import location_names

from omnistock_platform.services import ServiceName
from omnistock_platform.settings import Settings

_staff_token: ContextVar[str] = ContextVar("console_staff_token", default="")

# Codes after which the outcome of a change is not known: the same request id must be sent
# again (never a new one), so that trying again can not act twice.
OUTCOME_UNKNOWN = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.CANCELLED,
    }
)

HTTP_STATUS: Mapping[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 422,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.OUT_OF_RANGE: 422,
}


class Refused(Exception):
    """A call the services refused (or could not answer), in words for the person at the screen."""

    def __init__(self, words: str, status: int, code: grpc.StatusCode | None = None) -> None:
        super().__init__(words)
        self.words = words
        self.status = status
        self.code = code

    @property
    def outcome_unknown(self) -> bool:
        return self.code in OUTCOME_UNKNOWN

    @property
    def signed_out(self) -> bool:
        return self.code == grpc.StatusCode.UNAUTHENTICATED

    def keep(self, request_id: str) -> str:
        """The request id the form should carry again: the same one when the outcome is unknown (so
        trying again can not act twice), none after a refusal (it changed nothing)."""
        return request_id if self.outcome_unknown else ""


class Services:
    """The client of every service, shared by all requests of the console."""

    def __init__(self, settings: Settings, addresses: dict[ServiceName, str] | None = None) -> None:
        self.settings = settings
        self.addresses = addresses
        self._client: OmnistockClient | None = None

    @property
    def client(self) -> OmnistockClient:
        # Opened on first use, inside the server's event loop (gRPC channels belong to one loop).
        if self._client is None:
            # A person is waiting: a few quick retries with the same request id, then the words.
            retry = RetryPolicy(attempts=3, max_backoff=0.5, deadline=self.settings.default_deadline.total_seconds())
            self._client = OmnistockClient.connect(
                self.settings, _staff_token.get, addresses=self.addresses, retry=retry
            )
        return self._client

    @contextlib.contextmanager
    def acting_as(self, token: str) -> Iterator[OmnistockClient]:
        """Calls made inside carry `token`."""
        reset = _staff_token.set(token)
        try:
            yield self.client
        finally:
            _staff_token.reset(reset)

    async def refusal(self, error: grpc.aio.AioRpcError) -> Refused:
        """The error as a sentence, with the names of the locations a shortfall mentions."""
        names: dict[str, str] = {}
        wanted = short_locations(error)
        if wanted:
            with contextlib.suppress(grpc.aio.AioRpcError):
                names = await location_names(self.client, wanted)
        return Refused(explain(error, names), HTTP_STATUS.get(error.code(), 503), error.code())

    async def refusal_on_the_form(self, error: grpc.aio.AioRpcError) -> Refused:
        """A refused action, to show next to its form; raised instead when the person is signed
        out or may not see the page at all (then the page itself is refused)."""
        refused = await self.refusal(error)
        if refused.signed_out or refused.status == 403:
            raise refused from error
        return refused

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
