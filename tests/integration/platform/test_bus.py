"""The bus at start-up: a service that starts before JetStream can answer waits for it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
from nats.aio.msg import Msg

from omnistock_platform.embedded import EmbeddedNats, free_port
from omnistock_platform.events.bus import EventBus
from omnistock_platform.settings import Settings
from omnistock_platform.testing.stack import unique_id

NOT_FOUND = b'{"error": {"code": 404, "err_code": 10059, "description": "stream not found"}}'
NO_PEERS = b'{"error": {"code": 400, "err_code": 10005, "description": "no suitable peers for placement"}}'


class _PlainNats(EmbeddedNats):
    """A NATS server whose JetStream is not serving yet (as a cluster before it elected leaders)."""

    def config(self) -> str:
        return f"listen: 127.0.0.1:{self.port}\n"


async def ensure_stream_through(tmp_path: Path, stand_in: Callable[[Msg], Awaitable[bool]], label: str) -> list[str]:
    """Start a service's bus while `stand_in` answers JetStream's API in its place (it returns
    True once it has shown what it stands for), then start a real JetStream on the same port:
    the service's `ensure_stream` must wait through it and create the stream. Returns the subjects
    of the stream it made."""
    port = free_port()
    plain = _PlainNats(tmp_path / "plain", port=port)
    await asyncio.to_thread(plain.start)
    url = f"nats://127.0.0.1:{port}"
    settings = Settings(
        nats_url=url, stream_name=f"{label}_{unique_id()}".upper(), subject_prefix=f"{label}_{unique_id()}"
    )
    spy = await nats.connect(url)
    shown = asyncio.Event()

    async def answer(msg: Msg) -> None:
        if await stand_in(msg):
            shown.set()

    await spy.subscribe("$JS.API.>", cb=answer)
    bus = EventBus(settings, f"{label}-test")
    await bus.connect()
    ensuring = asyncio.create_task(bus.ensure_stream(ready_within=60))
    served = None
    try:
        await asyncio.wait_for(shown.wait(), 30)
        await spy.close()
        await asyncio.to_thread(plain.stop)
        served = EmbeddedNats(tmp_path / "jetstream", port=port)
        await asyncio.to_thread(served.start)
        await asyncio.wait_for(ensuring, 60)
        info = await bus.js.stream_info(settings.stream_name)
        assert info.config.subjects == [f"{settings.subject_prefix}.>"]
        return list(info.config.subjects or [])
    finally:
        ensuring.cancel()
        await bus.close()
        plain.stop()
        if served is not None:
            served.stop()


async def test_a_service_starting_before_jetstream_answers_waits_for_it(tmp_path: Path) -> None:
    async def silent(_: Msg) -> bool:
        """Stands in for a JetStream that has not elected its leaders: sees the requests, answers none."""
        return True

    assert await ensure_stream_through(tmp_path, silent, "waits")


async def test_a_service_starting_while_a_cluster_counts_its_peers_waits_for_them(tmp_path: Path) -> None:
    """A fresh cluster whose routes are still forming refuses to place a replicated stream ("no
    suitable peers for placement"): the service waits and asks again rather than failing."""

    async def placing_fails(msg: Msg) -> bool:
        """Stands in for the cluster's meta leader: the stream is not there yet, and placing it fails."""
        if ".STREAM.INFO." in msg.subject:
            await msg.respond(NOT_FOUND)
        elif ".STREAM.CREATE." in msg.subject:
            await msg.respond(NO_PEERS)
            return True
        return False

    assert await ensure_stream_through(tmp_path, placing_fails, "peers")
