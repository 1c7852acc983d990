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
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field, StringConstraints, ValidationError

from omnistock_mcp import models
from omnistock_mcp.auth import OmnistockTokenVerifier, auth_settings, bearer_token, is_loopback
from omnistock_mcp.tools import DEFAULT_RADIUS_KM, ChannelTools, ShipTo, TokenSource, ToolFailure
from omnistock_platform.logging import configure_logging, get_logger
from omnistock_platform.services import ServiceName
from omnistock_platform.settings import Settings

log = get_logger(__name__)
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

INSTRUCTIONS = """\
Omnistock knows the real-time stock of every store and warehouse of the retailer, can set items
aside in a store for the customer to collect, and can place orders to ship or to pick up.
A typical conversation:
1. search_skus turns what the customer describes ("the green velvet sofa") into a SKU code;
2. find_stock_nearby with that SKU and where the customer is (a city, a store's name, or
   coordinates) shows which stores have it; find_locations lists stores and warehouses near a place;
3. reserve_for_pickup at the store the customer chooses; tell them the pickup code and the expiry.
   The store is told at once and prepares the items. If the store does not have enough, ask the
   customer whether they want it brought there: reserve_for_pickup with ship_to_store=true holds the
   items at the nearest warehouse or store that has them and brings them by a transfer; the answer
   says the day in words ("at Mitte on Thursday via transfer from the warehouse"); find_stock_nearby
   already offers that day in via_transfer, so the customer hears it before deciding.
Later: list_reservations (by the customer's e-mail, phone or name), get_reservation,
extend_reservation, cancel_reservation. To buy instead: quote_order (ship to the customer's
address, or pickup at a store; says where it comes from and the total), then, only after the
customer said yes, place_order with customer_consent=true (a reservation_id turns a reservation
into a pickup order). order_status and cancel_order follow an order; edit_order changes quantities,
lines or the pickup store of a placed order once the customer agreed. An order that must not ship yet (the customer
checks the address, a payment is pending): hold_order, then release_order_hold once it is settled.
A customer who wants to send back items of a delivered order ("I want to return one cushion"):
start_return with the order id, the items and the store they bring them to (or by_post to a
warehouse); give them the return id. A whole set comes back by the set's SKU (its parts with it), or
part by part by the parts' SKUs. return_status follows it.
Every answer has a summary you can pass on. When a tool fails, its message says why and what to do
next in a sentence you can act on (for example which other store has the item)."""

# The names a local client reaches a loopback server by, whatever loopback address it listens on.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
CHANGES = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
ENDS = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)

IdempotencyKey = Annotated[
    str | None,
    Field(
        description="Optional. Any string unique to this one intent (e.g. the conversation id plus a counter). "
        "Repeating a call with the same key returns the first answer instead of acting twice. Without a key, "
        "the same arguments on the same day count as the same intent."
    ),
]
PlaceText = Annotated[
    str | None,
    Field(
        description="Where the customer is: a city (e.g. 'Berlin'), the name or location_id of a store, or "
        "'LAT,LON'. Give this or latitude and longitude."
    ),
]
Latitude = Annotated[float | None, Field(ge=-90, le=90, description="The customer's latitude.")]
Longitude = Annotated[float | None, Field(ge=-180, le=180, description="The customer's longitude.")]
Items = Annotated[
    list[models.Item],
    Field(min_length=1, max_length=100, description="What the customer wants: each a SKU code and a quantity."),
]
Method = Annotated[
    Literal["ship", "pickup"],
    Field(description="'ship' to the customer's address (give ship_to), or 'pickup' at a store (give store_id)."),
]
StoreId = Annotated[str | None, Field(description="For pickup: the store_id where the customer collects it.")]
ShipToArgument = Annotated[
    ShipTo | None,
    Field(description="For ship: the customer's address; its city, or its latitude and longitude, is required."),
]
# Stripped first: a name of only spaces is no name (the staff at the desk would see a blank).
CustomerName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    Field(description="The customer's full name."),
]
Email = Annotated[str | None, Field(description="The customer's e-mail address (recommended: it identifies them).")]
Phone = Annotated[str | None, Field(description="The customer's phone number, e.g. '+49 30 1234567'.")]


class Refused(Exception):
    """The server will not start this way; the message says why and what to do instead."""


def server_version() -> str:
    try:
        return version("omnistock")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


class OmnistockMCP(MCPServer):
    """The MCP server, with a tool call that went wrong answered in plain words: arguments that
    do not fit the tool's input schema say which and how to fix them (never the validation
    library's own report), an unknown tool lists the tools, and an unexpected failure is logged
    here and told to the model as one."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        unknown = await self._unknown_arguments(name, arguments)
        if unknown:
            return _error(unknown)
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            log.exception("mcp.tool_failed", tool=name)
            return _error(
                f"Omnistock had an unexpected problem running {name}; nothing more is known here. "
                "Try the same call again in a moment; if it fails again, tell the customer it cannot be done now."
            )
        except ToolError as error:
            if isinstance(error.__cause__, ValidationError):
                return _error(explain_arguments(name, error.__cause__))
            if str(error).startswith("Unknown tool"):
                known = ", ".join(sorted(tool.name for tool in await self.list_tools()))
                return _error(f"There is no tool called {name!r}. The tools are: {known}.")
            raise

    async def _unknown_arguments(self, name: str, arguments: dict[str, Any]) -> str:
        """Arguments the tool does not have, in words (empty when there are none). Left to the
        validation they would be dropped without a word: `search_skus(query=...)` answered the
        whole catalogue as if it matched, `reserve_for_pickup(qty=2)` reserved one unit."""
        if not arguments:
            return ""
        schema = next((tool.input_schema for tool in await self.list_tools() if tool.name == name), None)
        if schema is None:
            return ""  # an unknown tool: answered by the call itself
        known = list((schema.get("properties") or {}).keys())
        extra = [argument for argument in arguments if argument not in known]
        if not extra:
            return ""
        named = ", ".join(repr(argument) for argument in extra)
        return (
            f"The call to {name} was not made: it has no argument {named}; its arguments are "
            f"{', '.join(known)}. Call {name} again with that corrected."
        )


def _error(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def explain_arguments(tool: str, error: ValidationError) -> str:
    """Every argument that does not fit, in words, and what to do: call again corrected."""
    problems = []
    for problem in error.errors(include_url=False):
        where = _argument_name(problem.get("loc", ()))
        message = str(problem.get("msg", "is not valid"))
        kind = str(problem.get("type", ""))
        if kind == "missing":
            problems.append(f"{where} is required")
            continue
        said = message[:1].lower() + message[1:]
        said = said.replace("input should be", "should be").replace("value error, ", "")
        given = problem.get("input")
        if isinstance(given, str):
            shown = f" (it was {given[:60]!r})"
        elif isinstance(given, int | float | bool):
            shown = f" (it was {given})"
        else:
            shown = ""
        problems.append(f"{where} {said}{shown}")
    return f"The call to {tool} was not made: " + "; ".join(problems) + f". Call {tool} again with that corrected."


def _argument_name(location: Any) -> str:
    """('items', 0, 'quantity') -> "item 1's quantity"; ('sku',) -> "sku"."""
    parts: list[str] = []
    for part in location:
        if isinstance(part, int) and parts:
            parts[-1] = f"{parts[-1].removesuffix('s')} {part + 1}"
        elif parts:
            parts[-1] = f"{parts[-1]}'s {part}"
        else:
            parts.append(str(part))
    return parts[0] if parts else "an argument"


def build_server(tools: ChannelTools, verifier: OmnistockTokenVerifier | None = None) -> MCPServer:
    """The tools; with a `verifier`, every HTTP request needs a bearer token it accepts."""
    identity: dict[str, Any] = {
        "name": "omnistock",
        "title": "Omnistock",
        "version": server_version(),
        "instructions": INSTRUCTIONS,
    }
    if verifier is not None:
        identity.update(token_verifier=verifier, auth=auth_settings(tools.settings))
    server: MCPServer = OmnistockMCP(**identity)

    async def guarded(work: Awaitable[T]) -> T | CallToolResult:
        try:
            return await work
        except ToolFailure as failure:
            # An error result with just the sentence (a raised ToolError would be prefixed by
            # "Error executing tool ...", which a model may repeat to the customer).
            return _error(str(failure))

    def tool(annotations: ToolAnnotations) -> Callable[[F], F]:
        def register(function: F) -> F:
            # The docstring, without its indentation, is what the model reads; the return
            # annotation (a model) is the tool's output schema.
            server.add_tool(
                function,
                description=inspect.cleandoc(function.__doc__ or ""),
                annotations=annotations,
                structured_output=True,
            )
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
    ) -> models.SkuSearch:
        """Find products (SKUs) in the catalogue by words and attributes. Returns each product's SKU code,
        title, attributes (colour, size, category, material, ...) and price. A set sold as one product
        (a bundle, e.g. "the sofa with two cushions") has its own SKU code and lists its parts in
        bundle_of: reserve or order the set by that code and its parts are held together at one store.
        Use the SKU code with find_stock_nearby, reserve_for_pickup and quote_order."""
        return await guarded(tools.search_skus(text, colour, size, category, material, attributes, limit))  # type: ignore[return-value]

    @tool(READ_ONLY)
    async def find_locations(
        place: PlaceText = None,
        latitude: Latitude = None,
        longitude: Longitude = None,
        radius_km: Annotated[float, Field(gt=0, le=20000, description="Only locations this close, in km.")] = (
            DEFAULT_RADIUS_KM
        ),
        kind: Annotated[
            Literal["store", "warehouse", "any"], Field(description="Stores, warehouses, or both.")
        ] = "store",
        limit: Annotated[int, Field(ge=1, le=100, description="At most this many locations.")] = 20,
    ) -> models.LocationSearch:
        """Stores (or warehouses) near a place, nearest first: a city, a store's name or location_id, or
        coordinates. Each with its location_id (the store_id of the other tools), name, city, coordinates,
        distance, and whether customers can pick up there. An unknown place is answered with the cities
        Omnistock knows."""
        return await guarded(tools.find_locations(place, latitude, longitude, radius_km, kind, limit))  # type: ignore[return-value]

    @tool(READ_ONLY)
    async def find_stock_nearby(
        sku: Annotated[str, Field(description="The SKU code from search_skus, e.g. 'SOFA-VELVET-GREEN'.")],
        place: PlaceText = None,
        city: Annotated[
            str | None, Field(description="The customer's city, e.g. 'Berlin' (the same as place).")
        ] = None,
        latitude: Latitude = None,
        longitude: Longitude = None,
        radius_km: Annotated[
            float, Field(gt=0, le=20000, description="Only stores this close, in km.")
        ] = DEFAULT_RADIUS_KM,
        quantity: Annotated[int, Field(ge=1, le=1000, description="How many units the customer wants.")] = 1,
    ) -> models.StockNearby:
        """Stores near the customer where the SKU can be picked up now, nearest first, with the units
        available to reserve at each (store_id, name, city, distance_km, available; for a set, whole sets,
        with each part's units in parts) and when the customer can collect them there (promise, in words to
        say as they are). Where the customer is:
        a city, a store's name, or latitude and longitude. When none is within the radius, the nearest ones
        farther away are listed in nearest_farther_away. Stores within the radius that lack it but can
        have it brought by a transfer are listed in via_transfer, each with the day in promise; tell the
        customer, and reserve_for_pickup with ship_to_store=true commits that promise."""
        return await guarded(  # type: ignore[return-value]
            tools.find_stock_nearby(sku, place or city, latitude, longitude, radius_km, quantity)
        )

    @tool(CHANGES)
    async def reserve_for_pickup(
        sku: Annotated[str, Field(description="The SKU code to reserve, e.g. 'SOFA-VELVET-GREEN'.")],
        store_id: Annotated[str, Field(description="The store_id from find_stock_nearby, e.g. 'STORE-BER-MITTE'.")],
        customer_name: CustomerName,
        email: Email = None,
        phone: Phone = None,
        quantity: Annotated[int, Field(ge=1, le=10, description="How many units to set aside.")] = 1,
        hold_days: Annotated[
            float | None,
            Field(gt=0, le=7, description="How many days the store keeps the items. Default: the standard (2 days)."),
        ] = None,
        idempotency_key: IdempotencyKey = None,
        ship_to_store: Annotated[
            bool,
            Field(
                description="When the store does not have enough: bring the items there from the nearest "
                "warehouse or store that has them (a transfer). The answer says when they arrive."
            ),
        ] = False,
    ) -> models.Reservation:
        """Set items aside at a store for the customer to collect. The units are taken out of stock for
        everyone else at once. Returns the reservation_id, the pickup_code the customer shows at the till,
        expires_at (collect_before_local: the same on the store's clock, to tell the customer) and promise
        (when the customer can collect, in words). If the store does not have enough, the error says how
        many it has and which other stores nearby do; with ship_to_store the items are set aside where they
        are and brought to the store instead (status awaiting_transfer, promised_at and expected_local,
        coming_from, and the day in the summary). Safe to retry: a repeated call returns the same
        reservation."""
        return await guarded(  # type: ignore[return-value]
            tools.reserve_for_pickup(
                sku, store_id, customer_name, email, phone, quantity, hold_days, idempotency_key, ship_to_store
            )
        )

    @tool(READ_ONLY)
    async def list_reservations(
        email: Annotated[str | None, Field(description="The customer's e-mail address.")] = None,
        phone: Annotated[str | None, Field(description="The customer's phone number.")] = None,
        customer_name: Annotated[
            str | None, Field(description="The customer's name (when they gave no e-mail or phone).")
        ] = None,
        include_closed: Annotated[
            bool, Field(description="Also collected, cancelled and expired ones. Default: only open ones.")
        ] = False,
    ) -> models.CustomerReservations:
        """A customer's reservations, newest first, found by what they were made with: the e-mail address,
        else the phone number, else the name. Each with its reservation_id, status, store, items, pickup
        code and expiry."""
        return await guarded(tools.list_reservations(email, phone, customer_name, include_closed))  # type: ignore[return-value]

    @tool(READ_ONLY)
    async def get_reservation(
        reservation_id: Annotated[str, Field(description="The reservation_id from reserve_for_pickup.")],
    ) -> models.Reservation:
        """A reservation's status (active, ready_for_pickup, collected, cancelled, expired, converted),
        store, items, pickup code and expiry."""
        return await guarded(tools.get_reservation(reservation_id))  # type: ignore[return-value]

    @tool(CHANGES)
    async def extend_reservation(
        reservation_id: Annotated[str, Field(description="The reservation_id.")],
        days: Annotated[float, Field(gt=0, le=7, description="How many more days the store keeps the items.")],
        idempotency_key: IdempotencyKey = None,
    ) -> models.Reservation:
        """Keep an active reservation longer (up to the longest hold allowed). Returns the new expiry."""
        return await guarded(tools.extend_reservation(reservation_id, days, idempotency_key))  # type: ignore[return-value]

    @tool(ENDS)
    async def cancel_reservation(
        reservation_id: Annotated[str, Field(description="The reservation_id.")],
        reason: Annotated[str, Field(max_length=500, description="Why, in a few words (kept with it).")] = "",
        idempotency_key: IdempotencyKey = None,
    ) -> models.Reservation:
        """Cancel a reservation the customer no longer wants: the items go back on sale at once."""
        return await guarded(tools.cancel_reservation(reservation_id, reason, idempotency_key))  # type: ignore[return-value]

    @tool(READ_ONLY)
    async def quote_order(
        items: Items,
        method: Method,
        store_id: StoreId = None,
        ship_to: ShipToArgument = None,
    ) -> models.Quote:
        """What an order would be, without placing it: where each part would come from (and why the other
        locations were passed over), whether everything can be had, the total price and when the customer can
        have it (promise: ready for pickup, or the delivery day). Use it before
        place_order, and tell the customer the answer. Holds nothing."""
        return await guarded(tools.quote_order(items, method, store_id, ship_to))  # type: ignore[return-value]

    @tool(CHANGES)
    async def place_order(
        items: Annotated[
            list[models.Item],
            Field(max_length=100, description="What the customer buys (leave empty with reservation_id)."),
        ],
        method: Method,
        customer_name: CustomerName,
        customer_consent: Annotated[
            bool,
            Field(
                description="Set to true only after you told the customer what they buy, the total and where it "
                "ships to or is picked up, and the customer said yes. Without it nothing is ordered."
            ),
        ],
        email: Email = None,
        phone: Phone = None,
        store_id: StoreId = None,
        ship_to: ShipToArgument = None,
        reservation_id: Annotated[
            str | None,
            Field(
                description="Buy what this reservation holds, for pickup at its store (its hold becomes the order's)."
            ),
        ] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> models.Order:
        """Place an order to ship to the customer's address or to pick up at a store: the stock is held at
        once and the locations start on it. Only with the customer's consent (customer_consent=true after
        asking). Returns the order_id, its status, where it comes from and its promise (when the customer
        can have it, in words). Safe to retry: a repeated call returns the same order."""
        return await guarded(  # type: ignore[return-value]
            tools.place_order(
                items,
                method,
                customer_name,
                customer_consent,
                email,
                phone,
                store_id,
                ship_to,
                reservation_id,
                idempotency_key,
            )
        )

    @tool(READ_ONLY)
    async def order_status(
        order_id: Annotated[str, Field(description="The order id the customer gives, or place_order answered.")],
    ) -> models.Order:
        """An order's status (pending, allocated, partially_shipped, completed, cancelled, backordered),
        its lines and where each part is fulfilled from."""
        return await guarded(tools.order_status(order_id))  # type: ignore[return-value]

    @tool(ENDS)
    async def cancel_order(
        order_id: Annotated[str, Field(description="The order id.")],
        reason: Annotated[str, Field(max_length=500, description="Why, in a few words (kept with it).")] = "",
        idempotency_key: IdempotencyKey = None,
    ) -> models.Order:
        """Cancel an order the customer no longer wants (before it has shipped): its stock goes back on sale
        and the locations stop working on it."""
        return await guarded(tools.cancel_order(order_id, reason, idempotency_key))  # type: ignore[return-value]

    @tool(CHANGES)
    async def edit_order(
        order_id: Annotated[str, Field(description="The order id the customer gives.")],
        items: Annotated[
            list[models.Item],
            Field(
                max_length=100,
                description="The lines as they should be from now on: a SKU and its new quantity (0 removes the"
                " line, a SKU not on the order adds it). Lines not named stay as they are.",
            ),
        ] = [],  # noqa: B006 (pydantic copies defaults)
        pickup_store_id: Annotated[
            str, Field(description="For a pickup order: the store the customer now wants to collect at.")
        ] = "",
        idempotency_key: IdempotencyKey = None,
    ) -> models.Order:
        """Change an order that is already placed, only after the customer agreed: more or fewer of an item,
        an item removed or added, or another pickup store. All of it happens or none: when the stock is not
        there the order stays exactly as it was and the message says what is short. Units already being
        picked or shipped cannot be taken away. The summary says when the customer can have it now: an edit
        may move the date (another store, an item from elsewhere); tell the customer. Safe to retry."""
        return await guarded(  # type: ignore[return-value]
            tools.edit_order(order_id, items, pickup_store_id, idempotency_key)
        )

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
    ) -> models.Order:
        """Stop an order from being shipped while something is checked: its items stay set aside for the
        customer and nothing is packed or sent until release_order_hold. An order never released is
        cancelled when the hold runs out (its expiry is in the answer). Safe to retry."""
        return await guarded(tools.hold_order(order_id, reason, note, days, idempotency_key))  # type: ignore[return-value]

    @tool(CHANGES)
    async def release_order_hold(
        order_id: Annotated[str, Field(description="The order id.")],
        note: Annotated[str, Field(max_length=500, description="What was settled, e.g. 'address confirmed'.")] = "",
        idempotency_key: IdempotencyKey = None,
    ) -> models.Order:
        """Let an order on hold be packed and shipped again, once what it waited for is settled. A fraud
        review is released by the back office only: the answer then says so."""
        return await guarded(tools.release_order_hold(order_id, note, idempotency_key))  # type: ignore[return-value]

    @tool(CHANGES)
    async def start_return(
        order_id: Annotated[str, Field(description="The order the items were bought on (the customer gives it).")],
        items: Annotated[
            list[models.Item], Field(min_length=1, max_length=100, description="What the customer sends back.")
        ],
        location_id: Annotated[
            str,
            Field(
                description="The store the customer brings the items to, or with by_post the warehouse they are "
                "sent to (find_locations lists both)."
            ),
        ],
        by_post: Annotated[bool, Field(description="The customer sends the items by post.")] = False,
        reason: Annotated[str, Field(max_length=500, description="Why, in a few words (too big, changed mind).")] = "",
        idempotency_key: IdempotencyKey = None,
    ) -> models.Return:
        """Start a return for a customer who wants to send back items of an order that reached them (for
        example "I want to return one cushion"): at most what the order delivered and was not returned yet.
        A whole set (a sofa with its cushions) is returned by the set's SKU and stands for all its parts,
        while every part of it is still returnable; single parts of a set by their own SKUs.
        The answer has the return id the customer gives with the items; the store or warehouse inspects
        them and puts what can be sold back on sale. Safe to retry."""
        return await guarded(  # type: ignore[return-value]
            tools.start_return(order_id, items, location_id, by_post, reason, idempotency_key)
        )

    @tool(READ_ONLY)
    async def return_status(
        return_id: Annotated[str, Field(description="The return id start_return answered.")],
    ) -> models.Return:
        """A return's status: authorised (waiting for the items), received (with what inspection found) or
        cancelled."""
        return await guarded(tools.return_status(return_id))  # type: ignore[return-value]

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
        server.run("streamable-http", host=host, port=port, transport_security=loopback_only(host))
        return
    server.run("streamable-http", host=host, port=port)


def loopback_only(host: str) -> TransportSecuritySettings:
    """Without authentication, a request names this machine's loopback in its Host (and, from a
    browser, its Origin) or is refused. Otherwise a web page the user opens could point a name of
    its own at the loopback address (DNS rebinding) and call the tools with the configured token.
    The MCP SDK guards 127.0.0.1, localhost and ::1 by itself, but not 127.0.0.2 or a loopback
    name like ip6-localhost, which is_loopback also lets serve."""
    names = list(dict.fromkeys([f"[{host}]" if ":" in host and not host.startswith("[") else host, *LOOPBACK_NAMES]))
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:*" for name in names],
        allowed_origins=[f"http://{name}:*" for name in names],
    )


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
