"""`omnistock mcp --transport http`: the same tools over streamable HTTP, for agents that
connect to a running server instead of starting one."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

from mcp import Client

from omnistock_platform.embedded import free_port
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.cli.support import Cli, World

STARTS_WITHIN = 30.0


async def wait_for_port(port: int, process: subprocess.Popen[str]) -> None:
    deadline = asyncio.get_running_loop().time() + STARTS_WITHIN
    while asyncio.get_running_loop().time() < deadline:
        assert process.poll() is None, f"omnistock mcp exited with {process.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            await asyncio.sleep(0.2)
    raise AssertionError(f"omnistock mcp did not listen on {port} within {STARTS_WITHIN} s")


async def test_the_tools_over_streamable_http(stack: Stack) -> None:
    world = World(stack)
    store = await world.location(unique_id("Mainz-"), (49.99, 8.27), name="Mainz branch")
    model = unique_id("m-").lower()
    lamp = await world.sku("Brass lamp", colour="brass", model=model)
    await world.receive(store, lamp, 2)

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "omnistock_cli", "mcp", "--transport", "http", "--port", str(port)],
        env=Cli(stack).process_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await wait_for_port(port, process)
        async with Client(f"http://127.0.0.1:{port}/mcp", read_timeout_seconds=30) as agent:
            names = {tool.name for tool in (await agent.list_tools()).tools}
            assert "reserve_for_pickup" in names and "search_skus" in names
            found = await agent.call_tool("search_skus", {"attributes": {"model": model}})
            assert not found.is_error and found.structured_content is not None
            assert [sku["sku"] for sku in found.structured_content["skus"]] == [lamp]
            near = await agent.call_tool("find_stock_nearby", {"sku": lamp, "latitude": 50.0, "longitude": 8.27})
            assert near.structured_content is not None
            assert near.structured_content["stores"][0]["store_id"] == store
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
