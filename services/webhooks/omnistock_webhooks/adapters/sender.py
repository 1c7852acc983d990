"""The HTTP side of a delivery: one POST over httpx, connecting only to allowed addresses.

The address check runs where the connection is made (an httpcore network backend), on every
address the host resolves to, and the connection goes to the address that was checked: a name that
resolves to a public address when the subscription is made and to 127.0.0.1 later (DNS rebinding)
is refused at the later delivery. TLS still verifies the certificate against the URL's host name.
Redirects are not followed, and proxies from the environment are not used.
"""

from __future__ import annotations

import asyncio
import socket
import time
import typing
from datetime import timedelta

import httpcore
import httpx

from omnistock_webhooks.domain.delivery import Outcome
from omnistock_webhooks.domain.networks import AllowedNetworks, literal_address

MAX_ERROR = 300


class RefusedAddress(httpcore.ConnectError):
    """The host resolved to an address outside the allowed networks."""


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, networks: AllowedNetworks) -> None:
        self.networks = networks
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        literal = literal_address(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
            )
            addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        refused = [a for a in addresses if (parsed := literal_address(a)) is None or not self.networks.allows(parsed)]
        if refused or not addresses:
            raise RefusedAddress(
                f"{host} resolves to {', '.join(refused) or 'nothing'}, outside the allowed networks"
                f" ({self.networks.describe()})"
            )
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as error:
                last = error
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedAddress("unix sockets are not a webhook destination")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with its connection pool on the guarded backend."""

    def __init__(self, networks: AllowedNetworks, max_connections: int) -> None:
        super().__init__(trust_env=False, retries=0)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=GuardedBackend(networks),
        )


class Sender:
    def __init__(self, networks: AllowedNetworks, timeout: timedelta, max_connections: int) -> None:
        self.timeout = timeout.total_seconds()
        self.client = httpx.AsyncClient(
            transport=GuardedTransport(networks, max_connections),
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            trust_env=False,
        )

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        """One attempt, bounded by the timeout as a whole (a receiver that trickles its answer too).
        The answer's body is never read: only its status counts."""
        started = time.perf_counter()
        status, error = 0, ""
        try:
            async with asyncio.timeout(self.timeout):
                request = self.client.build_request("POST", url, content=body, headers=headers)
                response = await self.client.send(request, stream=True)
                status = response.status_code
                await response.aclose()
            if not 200 <= status < 300:
                moved = f" (redirect to {response.headers.get('location', '?')}, not followed)"
                error = f"HTTP {status}" + (moved if 300 <= status < 400 else "")
        except (TimeoutError, httpx.TimeoutException):
            error = f"timed out after {self.timeout:g} s"
        except (httpx.HTTPError, OSError) as failure:
            # httpx wraps what the backend raised; the refusal is its cause.
            refused = failure if isinstance(failure, RefusedAddress) else failure.__cause__
            error = f"refused: {refused}" if isinstance(refused, RefusedAddress) else _describe(failure)
        latency = timedelta(seconds=time.perf_counter() - started)
        return Outcome(status, latency, error[:MAX_ERROR])

    async def close(self) -> None:
        await self.client.aclose()


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    cause = error.__cause__ or error.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}: {cause}"
    return f"{type(error).__name__}: {text}"
