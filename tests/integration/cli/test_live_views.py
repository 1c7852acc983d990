"""Live views outlive a service restart: `omnistock watch` keeps running while inventory is killed
(SIGKILL) and started again, says that it lost the connection and that it is back, starts again
from a fresh snapshot, and shows the changes made after the restart."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.inventory.v1 import inventory_pb2_grpc
from omnistock_platform.testing.processes import ServiceProcess
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import wait_until
from tests.integration.cli.support import Cli, World


class Watching:
    """`omnistock ARGS...` running in the background, its output collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.out: list[str] = []
        self.err: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "omnistock_cli", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def updates(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.out) if line.startswith("{")]

    def said(self) -> str:
        return " ".join(" ".join(self.err).split())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def __str__(self) -> str:
        return "stdout:\n" + "\n".join(self.out) + "\nstderr:\n" + "\n".join(self.err)


def on_hand(update: dict[str, Any], sku: str) -> int | None:
    return next((level["on_hand"] for level in update["levels"] if level["sku"] == sku), None)


async def test_watch_reconnects_after_inventory_is_killed_and_started_again(stack: Stack, tmp_path: Path) -> None:
    world = World(stack)
    store = await world.location(unique_id("Lueneburg-"), (53.25, 10.41))
    sofa = await world.sku("Sofa")
    await world.receive(store, sofa, 2)
    inventory = await ServiceProcess(stack.settings, "inventory", log_file=tmp_path / "inventory.log").start()
    env = Cli(stack).process_env()
    env["OMNISTOCK_INVENTORY_ADDRESS"] = inventory.address
    watch = Watching(["watch", sofa, "--json", "--timeout", "120s"], env)
    try:
        await wait_until(
            lambda: any(u["snapshot"] and on_hand(u, sofa) == 2 for u in watch.updates()), what=f"a snapshot: {watch}"
        )

        inventory.kill()
        await wait_until(lambda: "lost the connection to inventory" in watch.said(), what=f"the loss said: {watch}")
        assert watch.process.poll() is None, f"the watch ended with the service:\n{watch}"
        before = len(watch.updates())
        await inventory.start()
        await wait_until(lambda: "reconnected to inventory" in watch.said(), what=f"the reconnect said: {watch}")
        await wait_until(lambda: any(u["snapshot"] for u in watch.updates()[before:]), what=f"a new snapshot: {watch}")

        restarted = inventory_pb2_grpc.InventoryServiceStub(stack.channel("inventory", address=inventory.address))
        await restarted.ReceiveStock(
            ipb.ReceiveStockRequest(request_id=unique_id("rcv-"), location_id=store, sku=sofa, quantity=3)
        )
        await wait_until(
            lambda: any(not u["snapshot"] and on_hand(u, sofa) == 5 for u in watch.updates()[before:]),
            what=f"the change made after the restart: {watch}",
        )
        assert watch.process.poll() is None, str(watch)
        assert "Traceback" not in watch.said()
    finally:
        watch.stop()
        inventory.terminate()
