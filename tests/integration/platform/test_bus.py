"""The bus at start-up: a service that starts before JetStream can answer waits for it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
from nats.aio.msg import Msg

from omnistock_platform.embedded import EmbeddedNats, free_port
from omnistock_platform.events.bus import EventBus
from omnistock_platform.settings import Settings
from omnistock_platform.testing.stack import unique_id


class _PlainNats(EmbeddedNats):
    """A NATS server whose JetStream is not serving yet (as a cluster before it elected leaders)."""

    def config(self) -> str:
        return f"listen: 127.0.0.1:{self.port}\n"


async def test_a_service_starting_before_jetstream_answers_waits_for_it(tmp_path: Path) -> None:
    port = free_port()
    plain = _PlainNats(tmp_path / "plain", port=port)
    await asyncio.to_thread(plain.start)
    url = f"nats://127.0.0.1:{port}"
    settings = Settings(nats_url=url, stream_name=f"WAITS_{unique_id()}".upper(), subject_prefix=f"waits_{unique_id()}")
    # Stands in for a JetStream that has not elected its leaders: sees the requests, answers none.
    spy = await nats.connect(url)
    asked = asyncio.Event()

    async def seen(_: Msg) -> None:
        asked.set()

    await spy.subscribe("$JS.API.>", cb=seen)
    bus = EventBus(settings, "waits-test")
    await bus.connect()
    ensuring = asyncio.create_task(bus.ensure_stream(ready_within=60))
    served = None
    try:
        await asyncio.wait_for(asked.wait(), 30)
        await spy.close()
        await asyncio.to_thread(plain.stop)
        served = EmbeddedNats(tmp_path / "jetstream", port=port)
        await asyncio.to_thread(served.start)
        await asyncio.wait_for(ensuring, 60)
        info = await bus.js.stream_info(settings.stream_name)
        assert info.config.subjects == [f"{settings.subject_prefix}.>"]
    finally:
        ensuring.cancel()
        await bus.close()
        plain.stop()
        if served is not None:
            served.stop()
