"""The HTTP sender against a real receiver: the address guard acts where the connection is made,
redirects are not followed, and a receiver that does not answer costs one timeout."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from omnistock_webhooks.adapters.sender import Sender
from omnistock_webhooks.domain.networks import AllowedNetworks
from tests.integration.webhooks.receiver import Receiver

BODY = b'{"id":"e1"}'


async def test_a_name_that_resolves_outside_the_allowed_networks_is_never_connected_to(receiver: Receiver) -> None:
    # "localhost" passes for a host name; only at connection time does it turn out to be loopback.
    sender = Sender(AllowedNetworks.parse(["public"]), timedelta(seconds=5), 4)
    try:
        outcome = await sender.post(f"http://localhost:{receiver.port}/hooks", BODY, {})
    finally:
        await sender.close()
    assert outcome.status_code == 0
    assert (
        outcome.error.startswith("refused: localhost resolves to") and "outside the allowed networks" in outcome.error
    )
    assert receiver.snapshot() == []


async def test_the_same_name_is_reached_when_loopback_is_allowed(receiver: Receiver) -> None:
    receiver.status = 200
    sender = Sender(AllowedNetworks.parse(["loopback"]), timedelta(seconds=5), 4)
    try:
        outcome = await sender.post(f"http://localhost:{receiver.port}/hooks", BODY, {"webhook-id": "e1"})
    finally:
        await sender.close()
    assert (outcome.status_code, outcome.error) == (200, "")
    assert [r.body for r in receiver.snapshot()] == [BODY]


async def test_a_redirect_is_a_failure_and_is_not_followed(receiver: Receiver) -> None:
    receiver.status = 302
    sender = Sender(AllowedNetworks.parse(["loopback"]), timedelta(seconds=5), 4)
    try:
        outcome = await sender.post(receiver.url, BODY, {})
    finally:
        await sender.close()
    assert outcome.status_code == 302 and outcome.error.startswith("HTTP 302")
    assert len(receiver.snapshot()) == 1


async def test_a_receiver_that_never_answers_costs_one_timeout() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # reads nothing, answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # Long enough that the silent server accepts before the sender gives up, on a loaded machine too.
    sender = Sender(AllowedNetworks.parse(["loopback"]), timedelta(seconds=1.5), 4)
    try:
        outcome = await sender.post(f"http://127.0.0.1:{port}/hooks", BODY, {})
    finally:
        await sender.close()
        for writer in accepted:
            writer.close()
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()
    assert outcome.status_code == 0 and outcome.error == "timed out after 1.5 s"
    assert accepted, "the request reached the silent server"
