"""`omnistock mcp`: the Model Context Protocol server, so an AI chat agent can search the
catalogue, find stock near a customer and reserve for pickup (see omnistock_mcp)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from omnistock_cli.context import TokenOption, fail, load_settings


class Transport(StrEnum):
    STDIO = "stdio"
    HTTP = "http"


def mcp(
    transport: Annotated[
        Transport, typer.Option("--transport", case_sensitive=False, help="stdio (one client) or http.")
    ] = Transport.STDIO,
    host: Annotated[str, typer.Option("--host", help="With http: the interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="With http: the port (path /mcp).")] = 8765,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth",
            help="With http: take calls without a bearer token, acting with the configured token. "
            "Refused on any address but a loopback one.",
        ),
    ] = False,
    token: TokenOption = None,
) -> None:
    """Serve the chat agent's tools to an AI agent over MCP (Model Context Protocol).

    Over stdio the tools call the services as the chat agent: a token is minted with this
    environment's secret unless OMNISTOCK_TOKEN / --token gives one. Over http every request must
    carry `Authorization: Bearer <token>` (a token the services accept), and the tools act as
    that caller.
    """
    try:
        from omnistock_mcp.server import Refused, serve
    except ModuleNotFoundError as missing:  # the `mcp` package is an install-time dependency
        fail(f"the MCP server cannot start: {missing}", hint="install the project again: pip install -e .")
    try:
        serve(
            load_settings(),
            transport=transport.value,
            host=host,
            port=port,
            token=token,
            authenticate=not no_auth,
        )
    except Refused as refused:
        fail(str(refused), code=2)


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp)
