"""The README's partner receiver, run as written: its receiver.py and its two commands, against the
test stack. The only change is the port: 8080 becomes a free one, since other programs on a test
machine may hold 8080. The sofa story's events reach it verified; a forged request is refused."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
from pathlib import Path

import httpx

from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock.webhooks.v1 import webhooks_pb2 as pb
from omnistock_platform.embedded import free_port
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import wait_until
from tests.integration.cli.support import Cli
from tests.integration.reservations.support import World

README = Path(__file__).resolve().parents[2] / "README.md"


def section() -> tuple[str, list[str]]:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- webhook-receiver -->")
    block = text[start : text.index("<!-- /webhook-receiver -->", start)]
    python = re.search(r"```python\n(.*?)```", block, re.S)
    shell = re.search(r"```sh\n(.*?)```", block, re.S)
    assert python and shell
    commands = [line for line in shell.group(1).splitlines() if line.strip() and not line.startswith("#")]
    return python.group(1), commands


def test_the_section_is_a_receiver_and_two_commands() -> None:
    code, commands = section()
    assert 'Webhook(os.environ["OMNISTOCK_WEBHOOK_SECRET"])' in code and "verify(" in code
    assert len(commands) == 2 and commands[0].startswith("omnistock webhooks create")
    assert commands[1].endswith("python receiver.py")


async def test_the_readme_receiver_gets_the_sofa_story_signed(stack: Stack, tmp_path: Path) -> None:
    code, commands = section()
    port = str(free_port())
    subscribe = commands[0].replace("8080", port)
    # Against a deployed stack (make compose-test) the webhooks service runs in a container and reaches
    # this machine at OMNISTOCK_E2E_RECEIVER_HOST, so the receiver listens on every interface.
    receiver_host = os.environ.get("OMNISTOCK_E2E_RECEIVER_HOST")
    if receiver_host:
        code = code.replace('("127.0.0.1", 8080)', '("0.0.0.0", 8080)')
        subscribe = subscribe.replace("127.0.0.1", receiver_host)
    (tmp_path / "receiver.py").write_text(code.replace("8080", port))
    cli, world = Cli(stack), World(stack)
    created = await cli.shell(subscribe, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    subscription = json.loads((tmp_path / "subscription.json").read_text())
    receiver = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        commands[1].replace("8080", port),
        cwd=tmp_path,
        env=cli.process_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        answers: list[int] = []

        async def forged_is_answered() -> bool:
            async with httpx.AsyncClient() as client:
                try:
                    forged = await client.post(
                        f"http://127.0.0.1:{port}/omnistock",
                        content=b'{"type":"inventory.stock.changed"}',
                        headers={"webhook-id": "x", "webhook-timestamp": "1", "webhook-signature": "v1,Zm9yZ2Vk"},
                    )
                except httpx.ConnectError:
                    return False  # not listening yet
            answers.append(forged.status_code)
            return True

        await wait_until(forged_is_answered, timeout=60, what="the README's receiver listening")
        assert answers == [401]

        store = await world.store()
        sofa = await world.sku("Velvet sofa", colour="green")
        await world.receive(store, sofa, 1)
        reservation = await world.reserve(store, [(sofa, 1)])
        await world.as_role("pos", [store]).CollectReservation(
            rpb.CollectReservationRequest(request_id=unique_id(), store_id=store, pickup_code=reservation.pickup_code)
        )
        wanted = {"reservations.reservation.created", "reservations.reservation.collected", "sold out"}
        seen: set[str] = set()
        assert receiver.stdout is not None
        while not wanted <= seen:
            line = (await asyncio.wait_for(receiver.stdout.readline(), 30)).decode()
            assert line, "the receiver stopped"
            event_type = line.split(" ", 1)[0]
            if reservation.reservation_id in line:
                seen.add(event_type)
            if event_type == "inventory.stock.changed" and sofa in line and "'onHand': '0'" in line:
                seen.add("sold out")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(receiver.pid, signal.SIGTERM)
        await receiver.wait()
        await stack.stub("webhooks").DeleteSubscription(
            pb.DeleteSubscriptionRequest(request_id=unique_id(), subscription_id=subscription["subscription_id"])
        )
    assert shlex.split(commands[0])[:3] == ["omnistock", "webhooks", "create"]
