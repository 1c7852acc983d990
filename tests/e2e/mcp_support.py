"""The MCP server as agent hosts run it (a child process over stdio, or `omnistock mcp
--transport http` with a bearer token), and calling its tools as a model does: an answer, or a
refusal's sentence."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from omnistock_platform.embedded import free_port
from omnistock_platform.testing.stack import Stack
from tests.integration.cli.support import Cli

STARTS_WITHIN = 30.0


def stdio_server(stack: Stack) -> Client:
    """The MCP server as an agent's host starts it: a child process spoken to over stdio.
    (Entered in the test itself: anyio wants a session closed by the task that opened it.)"""
    server = StdioServerParameters(command=sys.executable, args=["-m", "omnistock_mcp"], env=Cli(stack).process_env())
    return Client(server, read_timeout_seconds=60)


async def call(agent: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await agent.call_tool(tool, arguments)
    text = " ".join(getattr(part, "text", "") for part in result.content)
    assert not result.is_error, f"{tool} failed: {text}"
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def refusal(agent: Client, tool: str, **arguments: Any) -> str:
    result = await agent.call_tool(tool, arguments)
    assert result.is_error, f"{tool} should have failed: {result.structured_content}"
    return " ".join(getattr(part, "text", "") for part in result.content)


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


async def wait_for_port(port: int, process: subprocess.Popen[str], host: str = "127.0.0.1") -> None:
    deadline = asyncio.get_running_loop().time() + STARTS_WITHIN
    while asyncio.get_running_loop().time() < deadline:
        assert process.poll() is None, f"omnistock mcp exited with {process.returncode}: {process.stderr}"
        if listening(port, host):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"omnistock mcp did not listen on {port} within {STARTS_WITHIN} s")


def start_mcp(stack: Stack, port: int, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "omnistock_cli", "mcp", "--transport", "http", "--port", str(port), *options],
        env=Cli(stack).process_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.asynccontextmanager
async def mcp_http(stack: Stack, *options: str) -> AsyncIterator[str]:
    """A running `omnistock mcp --transport http`; yields its URL."""
    port = free_port()
    process = start_mcp(stack, port, *options)
    try:
        await wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop(process)


@contextlib.asynccontextmanager
async def agent(url: str, token: str | None) -> AsyncIterator[Client]:
    """An MCP client over HTTP, sending `token` as its bearer token (none when None)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http,
        Client(streamable_http_client(url, http_client=http), read_timeout_seconds=60) as client,
    ):
        yield client
