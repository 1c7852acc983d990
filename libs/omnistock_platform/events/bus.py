"""The NATS connection and the one JetStream stream of the system.

Durability: the stream uses file storage. A NATS server only fsyncs every
write when it runs with `jetstream { sync_interval: always }`, which the
embedded server started by `omnistock run` does; in production run a 3-node
cluster with `stream_replicas=3` (OMNISTOCK_STREAM_REPLICAS), where an
acknowledged write is on a majority of nodes.
"""

from __future__ import annotations

import asyncio
import time

import nats
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError

from omnistock_platform.logging import get_logger
from omnistock_platform.settings import Settings

log = get_logger(__name__)

# A JetStream cluster that has just started, or lost a node, answers stream requests only once it
# has elected its leaders; until then they time out or find no responder. A service starting then
# waits this long for it before it gives up.
STREAM_READY_WITHIN = 60.0
_NOT_READY = (NatsTimeout, NoRespondersError, ServiceUnavailableError)
# JetStream's "no suitable peers for placement": the cluster does not yet count enough of its
# servers as online to place the stream's replicas (seen while a fresh cluster's routes form).
_NO_PEERS_YET = 10005


def _not_ready(error: Exception) -> bool:
    if isinstance(error, _NOT_READY):
        return True
    return isinstance(error, APIError) and error.err_code == _NO_PEERS_YET


def stream_config(settings: Settings) -> StreamConfig:
    return StreamConfig(
        name=settings.stream_name,
        subjects=[f"{settings.subject_prefix}.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=7 * 24 * 3600.0,
        duplicate_window=settings.dedupe_window.total_seconds(),
        num_replicas=settings.stream_replicas,
    )


class EventBus:
    def __init__(self, settings: Settings, name: str) -> None:
        self.settings = settings
        self.name = name
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        # Counts reconnections: a watcher that saw the count change may have missed messages.
        self.reconnects = 0

    async def connect(self) -> None:
        if not self.settings.nats_url:
            raise RuntimeError("NATS_URL is not set")

        async def on_disconnect() -> None:
            log.warning("nats.disconnected", client=self.name)

        async def on_reconnect() -> None:
            log.info("nats.reconnected", client=self.name)
            self.reconnects += 1

        async def on_error(error: Exception) -> None:
            log.warning("nats.error", client=self.name, error=str(error))

        # NATS_URL may name several servers of one cluster, comma-separated (as the nats CLI
        # takes it): a client starting while one of them is down connects to another.
        servers = [url.strip() for url in self.settings.nats_url.split(",") if url.strip()]
        self._nc = await nats.connect(
            servers,
            name=self.name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            allow_reconnect=True,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
            error_cb=on_error,
        )
        self._js = self._nc.jetstream()

    async def ensure_stream(self, ready_within: float = STREAM_READY_WITHIN) -> None:
        deadline = time.monotonic() + ready_within
        delay = 0.1
        while True:
            try:
                return await self._ensure_stream()
            except (*_NOT_READY, APIError) as error:
                if not _not_ready(error) or time.monotonic() + delay > deadline:
                    raise
                log.info("nats.stream_not_ready", error=type(error).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _ensure_stream(self) -> None:
        config = stream_config(self.settings)
        try:
            await self.js.stream_info(config.name or "")
        except NotFoundError:
            await self.js.add_stream(config)
            log.info("nats.stream_created", stream=config.name, subjects=config.subjects)
        else:
            await self.js.update_stream(config)

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise RuntimeError("EventBus.connect() has not been called")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("EventBus.connect() has not been called")
        return self._js

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            try:
                await self._nc.drain()
            except Exception as error:  # a dead server must not block shutdown
                log.warning("nats.drain_failed", error=str(error))
                await self._nc.close()
