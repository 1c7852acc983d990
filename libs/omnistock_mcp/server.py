"""The MCP server: Omnistock's chat-agent tools for a model, over stdio or streamable HTTP.

    omnistock mcp                              # stdio, for a desktop agent that starts it
    omnistock mcp --transport http --port 8765 # http://127.0.0.1:8765/mcp, bearer token required
    python -m omnistock_mcp                    # the same as `omnistock mcp`

Over stdio the tools call the services with the configured token (OMNISTOCK_TOKEN, or a
chat_agent token minted from the settings' secret). Over HTTP every request must carry a bearer
token the services would accept, and the tools act as that caller (omnistock_mcp.auth); where the
services are comes from the usual OMNISTOCK_* settings."""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from omnistock_mcp.auth import OmnistockTokenVerifier, auth_settings, bearer_token, is_loopback
from omnistock_mcp.tools import DEFAULT_RADIUS_KM, ChannelTools, TokenSource, ToolFailure
from omnistock_platform.logging import configure_logging, get_logger
from omnistock_platform.settings import ServiceName, Settings

log = get_logger(__name__)

INSTRUCTIONS = """\
Omnistock knows the real-time stock of every store and warehouse of the retailer, and can set
items aside in a store for the customer to collect. A typical conversation:
1. search_skus to turn what the customer describes ("the green velvet sofa") into a SKU code;
2. find_stock_nearby with that SKU and the customer's city to see which stores have it;
3. reserve_for_pickup at the store the customer chooses; tell them the pickup code and the
   expiry. The store is told at once and prepares the items.
Later: get_reservation, extend_reservation (more days), cancel_reservation, order_status.
An order that must not ship yet (the customer checks the address, a payment is pending):
hold_order, then release_order_hold once it is settled.
When a tool fails, its message says why in a sentence you can pass on (for example which
other store has the item)."""

ToolFunction = Callable[..., Awaitable[dict[str, Any]]]
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
CHANGES = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

IdempotencyKey = Annotated[
    str | None,
    Field(
        description="Optional. Any string unique to this one intent (e.g. the conversation id plus a counter). "
        "Repeating a call with the same key returns the first answer instead of acting twice. Without a key, "
        "the same arguments on the same day count as the same intent."
    ),
]


class Refused(Exception):
    """The server will not start this way; the message says why and what to do instead."""


def build_server(tools: ChannelTools, verifier: OmnistockTokenVerifier | None = None) -> MCPServer:
    """The tools; with a `verifier`, every HTTP request needs a bearer token it accepts."""
    server: MCPServer = (
        MCPServer("omnistock", instructions=INSTRUCTIONS, token_verifier=verifier, auth=auth_settings(tools.settings))
        if verifier is not None
        else MCPServer("omnistock", instructions=INSTRUCTIONS)
    )

    async def guarded(work: Awaitable[dict[str, Any]]) -> Any:
        try:
            return await work
        except ToolFailure as failure:
            # An error result with just the sentence (a raised ToolError would be prefixed by
            # "Error executing tool ...", which a model may repeat to the customer).
            return CallToolResult(content=[TextContent(type="text", text=str(failure))], is_error=True)

    def tool(annotations: ToolAnnotations) -> Callable[[ToolFunction], ToolFunction]:
        def register(function: ToolFunction) -> ToolFunction:
            # The docstring, without its indentation, is what the model reads.
            server.add_tool(function, description=inspect.cleandoc(function.__doc__ or ""), annotations=annotations)
            return function

        return register

    @tool(READ_ONLY)
    async def search_skus(
        text: Annotated[
            str,
            Field(description="Words in the product's title or SKU code, e.g. 'velvet sofa'. Empty: any product."),
        ] = "",
        colour: Annotated[str | None, Field(description="Exact colour, e.g. 'green' (case-insensitive).")] = None,
        size: Annotated[str | None, Field(description="Exact size, e.g. 'M' or '3-seater'.")] = None,
        category: Annotated[str | None, Field(description="Exact category, e.g. 'sofa', 'chair', 't-shirt'.")] = None,
        material: Annotated[str | None, Field(description="Exact material, e.g. 'velvet', 'oak'.")] = None,
        attributes: Annotated[
            dict[str, str] | None,
            Field(description="Any other attributes that must match exactly, e.g. {'model': 'velvet'}."),
        ] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="At most this many products.")] = 20,
    ) -> dict[str, Any]:
        """Find products (SKUs) in the catalogue by words and attributes. Returns each product's SKU code,
        title, attributes (colour, size, category, material, ...) and price. Use the SKU code with
        find_stock_nearby and reserve_for_pickup."""
        return await guarded(tools.search_skus(text, colour, size, category, material, attributes, limit))

    @tool(READ_ONLY)
    async def find_stock_nearby(
        sku: Annotated[str, Field(description="The SKU code from search_skus, e.g. 'SOFA-VELVET-GREEN'.")],
        city: Annotated[
            str | None, Field(description="The customer's city, e.g. 'Berlin'. Give this or latitude+longitude.")
        ] = None,
        latitude: Annotated[float | None, Field(ge=-90, le=90, description="The customer's latitude.")] = None,
        longitude: Annotated[float | None, Field(ge=-180, le=180, description="The customer's longitude.")] = None,
        radius_km: Annotated[
            float, Field(gt=0, le=20000, description="Only stores this close, in km.")
        ] = DEFAULT_RADIUS_KM,
        quantity: Annotated[int, Field(ge=1, le=1000, description="How many units the customer wants.")] = 1,
    ) -> dict[str, Any]:
        """Stores near the customer where the SKU can be picked up now, nearest first, with the units
        available to reserve at each (store_id, name, city, distance_km, available). When none is within
        the radius, the nearest ones farther away are listed in nearest_farther_away."""
        return await guarded(tools.find_stock_nearby(sku, city, latitude, longitude, radius_km, quantity))

    @tool(CHANGES)
    async def reserve_for_pickup(
        sku: Annotated[str, Field(description="The SKU code to reserve, e.g. 'SOFA-VELVET-GREEN'.")],
        store_id: Annotated[str, Field(description="The store_id from find_stock_nearby, e.g. 'STORE-BER-MITTE'.")],
        customer_name: Annotated[str, Field(min_length=1, description="The customer's full name.")],
        email: Annotated[
            str | None, Field(description="The customer's e-mail address (recommended: it identifies them).")
        ] = None,
        phone: Annotated[str | None, Field(description="The customer's phone number, e.g. '+49 30 1234567'.")] = None,
        quantity: Annotated[int, Field(ge=1, le=10, description="How many units to set aside.")] = 1,
        hold_days: Annotated[
            float | None,
            Field(gt=0, le=7, description="How many days the store keeps the items. Default: the standard (2 days)."),
        ] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Set items aside at a store for the customer to collect. The units are taken out of stock for
        everyone else at once. Returns the reservation_id, the pickup_code the customer shows at the till,
        and expires_at. If the store does not have enough, the error says how many it has and which other
        stores nearby do. Safe to retry: a repeated call returns the same reservation."""
        return await guarded(
            tools.reserve_for_pickup(sku, store_id, customer_name, email, phone, quantity, hold_days, idempotency_key)
        )

    @tool(READ_ONLY)
    async def get_reservation(
        reservation_id: Annotated[str, Field(description="The reservation_id from reserve_for_pickup.")],
    ) -> dict[str, Any]:
        """A reservation's status (active, ready_for_pickup, collected, cancelled, expired, converted),
        store, items, pickup code and expiry."""
        return await guarded(tools.get_reservation(reservation_id))

    @tool(CHANGES)
    async def extend_reservation(
        reservation_id: Annotated[str, Field(description="The reservation_id.")],
        days: Annotated[float, Field(gt=0, le=7, description="How many more days the store keeps the items.")],
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Keep an active reservation longer (up to the longest hold allowed). Returns the new expiry."""
        return await guarded(tools.extend_reservation(reservation_id, days, idempotency_key))

    @tool(ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True))
    async def cancel_reservation(
        reservation_id: Annotated[str, Field(description="The reservation_id.")],
        reason: Annotated[str, Field(description="Why, in a few words (kept with the reservation).")] = "",
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Cancel a reservation the customer no longer wants: the items go back on sale at once."""
        return await guarded(tools.cancel_reservation(reservation_id, reason, idempotency_key))

    @tool(READ_ONLY)
    async def order_status(
        order_id: Annotated[str, Field(description="The order id the customer gives.")],
    ) -> dict[str, Any]:
        """An order's status (pending, allocated, partially_shipped, completed, cancelled, backordered),
        its lines and where each part is fulfilled from."""
        return await guarded(tools.order_status(order_id))

    @tool(CHANGES)
    async def hold_order(
        order_id: Annotated[str, Field(description="The order id the customer gives.")],
        reason: Annotated[
            Literal["address_check", "payment_pending", "fraud_review"],
            Field(
                description="Why it must wait: the customer is checking the address, the payment is not there yet,"
                " or something about the order looks like fraud."
            ),
        ],
        note: Annotated[str, Field(max_length=500, description="What is being waited for, in a few words.")] = "",
        days: Annotated[
            float | None,
            Field(gt=0, le=7, description="How long it may wait before it is cancelled. Default: 3 days."),
        ] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Stop an order from being shipped while something is checked: its items stay set aside for the
        customer and nothing is packed or sent until release_order_hold. An order never released is
        cancelled when the hold runs out (its expiry is in the answer). Safe to retry."""
        return await guarded(tools.hold_order(order_id, reason, note, days, idempotency_key))

    @tool(CHANGES)
    async def release_order_hold(
        order_id: Annotated[str, Field(description="The order id.")],
        note: Annotated[str, Field(max_length=500, description="What was settled, e.g. 'address confirmed'.")] = "",
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:
        """Let an order on hold be packed and shipped again, once what it waited for is settled. A fraud
        review is released by the back office only: the answer then says so."""
        return await guarded(tools.release_order_hold(order_id, note, idempotency_key))

    return server


def serve(
    settings: Settings,
    *,
    transport: str = "stdio",
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    addresses: dict[ServiceName, str] | None = None,
    authenticate: bool = True,
) -> None:
    """Run until the client goes away (stdio) or the process is stopped (http).

    Over HTTP, callers authenticate with their own bearer token unless `authenticate` is off,
    which is refused (Refused) on any address but a loopback one."""
    # On stderr: over stdio, standard output is the protocol.
    configure_logging(settings.log_level, json=settings.log_json, service="mcp", secrets=[settings.jwt_secret, token])
    if transport == "stdio":
        build_server(ChannelTools(settings, TokenSource(settings, token), addresses=addresses)).run("stdio")
        return
    if authenticate:
        try:
            verifier = OmnistockTokenVerifier(settings)
        except (ValueError, OSError) as error:  # no key to check tokens with, or an unreadable one
            raise Refused(f"cannot check bearer tokens: {error}") from error
        server = build_server(ChannelTools(settings, bearer_token, addresses=addresses), verifier)
        log.info("mcp.http_started", host=host, port=port, authentication="bearer")
    else:
        if not is_loopback(host):
            raise Refused(
                f"serving MCP over HTTP on {host} without authentication would let anyone who reaches the port "
                "act with this server's token; listen on 127.0.0.1, or leave authentication on "
                "(callers then send their own bearer token)"
            )
        server = build_server(ChannelTools(settings, TokenSource(settings, token), addresses=addresses))
        log.warning("mcp.authentication_off", host=host, port=port, detail="callers act with the configured token")
    server.run("streamable-http", host=host, port=port)


def main(argv: list[str] | None = None) -> None:
    """`python -m omnistock_mcp [--transport stdio|http] [--host H] [--port P] [--no-auth]`."""
    parser = argparse.ArgumentParser(prog="python -m omnistock_mcp", description="Omnistock MCP server.")
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--no-auth", action="store_true", help="http on a loopback address only: no bearer token, the configured one"
    )
    options = parser.parse_args(sys.argv[1:] if argv is None else argv)
    token = os.environ.get("OMNISTOCK_TOKEN") or None
    try:
        serve(
            Settings(),
            transport=options.transport,
            host=options.host,
            port=options.port,
            token=token,
            authenticate=not options.no_auth,
        )
    except Refused as refused:
        parser.exit(2, f"omnistock mcp: {refused}\n")
