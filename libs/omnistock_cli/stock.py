"""Stock from a terminal: where a SKU is (near a city or a point), the catalogue, receipts,
adjustments, the movement ledger, and a live view of a SKU's stock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import typer
from omnistock_client import OmnistockClient
from omnistock_client.lookups import all_pages, city_point, locations
from rich.console import Group, RenderableType
from rich.live import Live
from rich.text import Text

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_cli.acting import ZONES, Call, acting
from omnistock_cli.commands import (
    INT64_MAX,
    channel_code,
    data,
    duration,
    label,
    point,
    when,
)
from omnistock_cli.context import (
    fail,
    load_settings,
    run_async,
)
from omnistock_cli.live import Link, follow
from omnistock_cli.output import FittedTable, WideOption, console, err_console, print_json_line, styled, table
from omnistock_platform.auth import Role

ChannelOption = Annotated[
    str | None,
    typer.Option("--channel", help="Whose view of availability: web, app, chat or pos. Default: the role's channel."),
]


class Reason(StrEnum):
    COUNT = "count"
    DAMAGE = "damage"
    SHRINKAGE = "shrinkage"
    CORRECTION = "correction"
    RETURN = "return"


REASONS = {
    Reason.COUNT: pb.ADJUSTMENT_REASON_COUNT,
    Reason.DAMAGE: pb.ADJUSTMENT_REASON_DAMAGE,
    Reason.SHRINKAGE: pb.ADJUSTMENT_REASON_SHRINKAGE,
    Reason.CORRECTION: pb.ADJUSTMENT_REASON_CORRECTION,
    Reason.RETURN: pb.ADJUSTMENT_REASON_RETURN,
}
LEVEL_COLUMNS = ["location", "name", "city", "on hand", "held", "safety", "available", "incoming", "in transit"]
# Left out first where the terminal is narrow: the location id says where; transfers show in `transfer list`.
LEVEL_OPTIONAL = ("in transit", "name", "city")


def level_row(level: pb.StockLevel, place: pb.Location | None) -> list[Any]:
    return [
        level.location_id,
        place.name if place else "",
        place.city if place else "",
        level.on_hand,
        level.held,
        level.safety_stock,
        _available(level.available),
        level.incoming or "",
        level.in_transit or "",
    ]


def _available(value: int) -> Text:
    return styled(value, "green" if value > 0 else "red")


# ---------------------------------------------------------------------------------------------
# omnistock stock


@dataclass
class Where:
    label: str
    point: common_pb2.GeoPoint


async def _resolve_near(client: OmnistockClient, near: str) -> Where:
    if any(ch.isdigit() for ch in near) and "," in near:
        return Where(near, point(near, "--near"))
    found = await city_point(client, near)
    if found is None:
        cities = sorted({location.city for location in await locations(client)})
        fail(f"no location is in a city called {near!r}", hint=f"known cities: {', '.join(cities) or 'none'}")
    return Where(near, found)


@acting(Role.CHAT_AGENT, writes=False, after=["wide"])
def stock(
    sku: Annotated[str, typer.Argument(metavar="SKU", help="The SKU, for example SOFA-VELVET-GREEN.")],
    near: Annotated[
        str | None, typer.Option("--near", help="A city (the mean point of its locations) or LAT,LON.")
    ] = None,
    radius: Annotated[float, typer.Option("--radius", help="With --near: only locations this close, in km.")] = 0.0,
    quantity: Annotated[
        int, typer.Option("--qty", min=1, max=INT64_MAX, help="With --near: how many units are wanted.")
    ] = 1,
    via_transfer: Annotated[
        bool,
        typer.Option(
            "--via-transfer",
            help="With --near: also the pickup stores that lack it, with the day a transfer would bring it there.",
        ),
    ] = False,
    channel: ChannelOption = None,
    wide: WideOption = False,
    *,
    call: Call,
) -> None:
    """Stock of a SKU at every location, or the locations near a city or point that have it."""
    code = channel_code(channel, call.who())
    selling = (call.works_at or [""])[0] if code == common_pb2.CHANNEL_POS else ""

    async def work(client: OmnistockClient) -> tuple[Where | None, Any, dict[str, pb.Location]]:
        places = {place.location_id: place for place in await locations(client)}
        if near is None:
            reply = await client.call(
                client.inventory.GetStock,
                pb.GetStockRequest(sku=sku, channel=code, selling_location_id=selling),  # type: ignore[arg-type]
            )
            return None, reply, places
        where = await _resolve_near(client, near)
        request = pb.FindAvailabilityRequest(
            items=[common_pb2.SkuQuantity(sku=sku, quantity=quantity)],
            channel=code,  # type: ignore[arg-type]
            near=where.point,
            radius_km=radius,
            selling_location_id=selling,
            offer_transfers=via_transfer,
        )
        return where, await client.call(client.inventory.FindAvailability, request), places

    where, reply, places = call.run(work)
    if where is None:
        levels = list(reply.levels)
        payload: dict[str, Any] = {"sku": sku, "levels": [data(level) for level in levels]}
        title = f"{sku}: stock at every location ({label(code, common_pb2.Channel, 'CHANNEL_')} view)"
        rows = [level_row(level, places.get(level.location_id)) for level in levels]
        columns = LEVEL_COLUMNS
        if any(level.pool_group_id for level in levels):  # the channel sells from pools: say which
            columns = [*LEVEL_COLUMNS, "pool"]
            rows = [[*row, level.pool_group_id or "-"] for row, level in zip(rows, levels, strict=True)]
        render = table(title, columns, rows, optional=LEVEL_OPTIONAL) if rows else f"No stock of {sku}."
        call.emit(payload, render=render, wide=wide)
        return
    found = list(reply.locations)
    payload = {
        "sku": sku,
        "near": {"query": where.label, "latitude": where.point.latitude, "longitude": where.point.longitude},
        "radius_km": radius,
        "locations": [
            {
                "location_id": entry.location.location_id,
                "name": entry.location.name,
                "city": entry.location.city,
                "kind": label(entry.location.kind, pb.LocationKind, "LOCATION_KIND_"),
                "distance_km": entry.distance_km,
                "pickup": entry.location.pickup,
                "complete": entry.complete,
                "levels": [data(level) for level in entry.levels],
                "promises": [data(promise) for promise in entry.promises],
            }
            for entry in found
        ],
    }
    columns = ["location", "name", "city", "km", "kind", "pickup", "on hand", "available", "when"]
    rows = []
    for entry in found:
        level = next((lv for lv in entry.levels if lv.sku == sku), pb.StockLevel())
        rows.append(
            [
                entry.location.location_id,
                entry.location.name,
                entry.location.city,
                f"{entry.distance_km:.1f}",
                label(entry.location.kind, pb.LocationKind, "LOCATION_KIND_"),
                "yes" if entry.location.pickup else "no",
                level.on_hand,
                _available(level.available),
                "; ".join(promise.wording for promise in entry.promises) or "-",
            ]
        )
    within = f" within {radius:g} km" if radius else ""
    title = f"{sku} near {where.label}{within}"
    empty = f"No location{within} of {where.label} has {quantity} of {sku} available."
    call.emit(
        payload,
        render=table(title, columns, rows, optional=("name", "kind", "city")) if rows else empty,
        wide=wide,
    )


# ---------------------------------------------------------------------------------------------
# omnistock skus


@acting(Role.CHAT_AGENT, writes=False, works_at=False, after=["wide"])
def skus(
    text: Annotated[
        str,
        typer.Argument(
            metavar="TEXT",
            help="Words the SKU must all have, each in its code, title or an attribute value (case-insensitive).",
        ),
    ] = "",
    attr: Annotated[
        list[str] | None, typer.Option("--attr", help="An attribute that must match, KEY=VALUE; repeat for more.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many SKUs.")] = 200,
    wide: WideOption = False,
    *,
    call: Call,
) -> None:
    """Search the catalogue by text and attributes (colour=green, size=M, ...)."""
    attributes: dict[str, str] = {}
    for item in attr or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--attr {item!r} is not KEY=VALUE", hint="for example --attr colour=green")
        attributes[key.strip()] = value.strip()
    request = pb.ListSkusRequest(text=text, attributes=attributes)

    async def work(client: OmnistockClient) -> list[pb.Sku]:
        return await all_pages(client, client.inventory.ListSkus, request, "skus", limit=limit)

    found = call.run(work)
    rows = [
        [
            item.sku,
            item.title,
            ", ".join(f"{key}={value}" for key, value in sorted(item.attributes.items())),
            _money(item.price_minor, item.currency),
            " + ".join(f"{part.quantity} x {part.sku}" for part in item.components),
        ]
        for item in found
    ]
    call.emit(
        {"skus": [data(item) for item in found]},
        render=table(
            None,
            ["sku", "title", "attributes", "price", "bundle of"],
            rows,
            optional=("attributes", "bundle of"),
        )
        if rows
        else "No SKU matches.",
        wide=wide,
    )


def _money(minor: int, currency: str) -> str:
    return f"{minor / 100:,.2f} {currency}" if currency else str(minor)


# ---------------------------------------------------------------------------------------------
# omnistock receive / adjust


def _print_level(level: pb.StockLevel, what: str, call: Call) -> None:
    call.emit(
        {"level": data(level)},
        render=table(what, LEVEL_COLUMNS, [level_row(level, None)], optional=LEVEL_OPTIONAL),
    )


@acting(Role.WAREHOUSE)
def receive(
    location_id: Annotated[str, typer.Argument(metavar="LOCATION", help="Where the goods arrived.")],
    sku: Annotated[str, typer.Argument(metavar="SKU", help="The SKU received.")],
    quantity: Annotated[int, typer.Argument(metavar="QTY", min=1, max=INT64_MAX, help="Units received.")],
    ref: Annotated[str, typer.Option("--ref", help="Delivery note or purchase order.")] = "",
    *,
    call: Call,
) -> None:
    """Book a delivery: on hand goes up (role warehouse at LOCATION by default)."""
    request = pb.ReceiveStockRequest(
        request_id=call.request_id,
        location_id=location_id,
        sku=sku,
        quantity=quantity,
        document_ref=ref,
    )
    reply = call.ask(lambda client: client.inventory.ReceiveStock, request, at=[location_id])
    _print_level(reply.level, f"received {quantity} of {sku} at {location_id}", call)


@acting(Role.WAREHOUSE)
def adjust(
    location_id: Annotated[str, typer.Argument(metavar="LOCATION", help="Where the stock is.")],
    sku: Annotated[str, typer.Argument(metavar="SKU", help="The SKU.")],
    reason: Annotated[Reason, typer.Option("--reason", case_sensitive=False, help="Why on hand changes.")],
    delta: Annotated[
        int | None,
        typer.Option(
            "--delta", min=-INT64_MAX - 1, max=INT64_MAX, help="Change on hand by this many (negative: fewer)."
        ),
    ] = None,
    set_to: Annotated[
        int | None, typer.Option("--set", min=0, max=INT64_MAX, help="Set on hand to this count.")
    ] = None,
    expect: Annotated[
        int | None,
        typer.Option("--expect", min=0, max=INT64_MAX, help="Only if on hand is still this (guards a count)."),
    ] = None,
    note: Annotated[str, typer.Option("--note", help="A note for the ledger.")] = "",
    ref: Annotated[str, typer.Option("--ref", help="A document reference.")] = "",
    *,
    call: Call,
) -> None:
    """Correct on hand after a count, damage, shrinkage or a return (role warehouse at LOCATION)."""
    if (delta is None) == (set_to is None):
        fail("give exactly one of --delta N and --set N")
    request = pb.AdjustStockRequest(
        request_id=call.request_id,
        location_id=location_id,
        sku=sku,
        reason=REASONS[reason],  # type: ignore[arg-type]
        note=note,
        document_ref=ref,
    )
    if delta is not None:
        request.delta = delta
    else:
        assert set_to is not None
        request.set_to = set_to
    if expect is not None:
        request.expected_on_hand = expect
    reply = call.ask(lambda client: client.inventory.AdjustStock, request, at=[location_id])
    _print_level(reply.level, f"adjusted {sku} at {location_id} ({reason.value})", call)


# ---------------------------------------------------------------------------------------------
# omnistock movements


@acting(Role.ADMIN, writes=False, works_at=False, after=["wide"])
def movements(
    location: Annotated[
        str | None, typer.Option("--location", "-l", help="Only this location (and, for staff roles, where they work).")
    ] = None,
    sku: Annotated[str, typer.Option("--sku", help="Only this SKU.")] = "",
    limit: Annotated[int, typer.Option(help="At most this many movements (oldest first).")] = 200,
    wide: WideOption = False,
    *,
    call: Call,
) -> None:
    """The stock ledger: every receipt, adjustment, hold, release and sale (role admin by default)."""
    request = pb.ListMovementsRequest(location_id=location or "", sku=sku)

    async def work(client: OmnistockClient) -> list[pb.Movement]:
        return await all_pages(client, client.inventory.ListMovements, request, "movements", limit=limit)

    found = call.working_at(location).run(work)
    zones = call.zones(item.location_id for item in found)
    rows = [
        [
            when(item.at, zones.get(item.location_id, "")),
            item.location_id,
            item.sku,
            label(item.kind, pb.MovementKind, "MOVEMENT_KIND_"),
            f"{item.on_hand_delta:+d}" if item.on_hand_delta else "",
            f"{item.held_delta:+d}" if item.held_delta else "",
            item.on_hand_after,
            item.held_after,
            item.reason or item.document_ref,
            item.actor,
        ]
        for item in found
    ]
    columns = ["at", "location", "sku", "kind", "on hand", "held", "on hand after", "held after", "reason", "by"]
    call.emit(
        {"movements": [data(item) for item in found]},
        render=table(None, columns, rows, optional=("by", "reason", "held after", "on hand after"))
        if rows
        else "No movements.",
        wide=wide,
    )


# ---------------------------------------------------------------------------------------------
# omnistock watch


def watch_table(
    title: str,
    levels: dict[tuple[str, str], pb.StockLevel],
    changed: set[tuple[str, str]],
    zones: Mapping[str, str] | None = None,
) -> FittedTable:
    """The watched levels; each update on the clock of its location (`zones` by location id, else UTC)."""
    rows = []
    for key in sorted(levels):
        level = levels[key]
        row: list[Any] = [
            level.sku,
            level.location_id,
            level.on_hand,
            level.held,
            level.safety_stock,
            level.available,
            level.incoming or "",
            when(level.updated_at, (zones or {}).get(level.location_id, "")),
        ]
        style = "bold yellow" if key in changed else ("red" if level.available <= 0 else "")
        rows.append([styled(cell, style) if style else cell for cell in row])
    columns = ["sku", "location", "on hand", "held", "safety", "available", "incoming", "updated"]
    return table(title, columns, rows, optional=("updated", "incoming", "safety"))


def sold_out(levels: dict[tuple[str, str], pb.StockLevel]) -> bool:
    """Every unit sold: nothing on hand at any watched location (held units are still there)."""
    return all(level.on_hand <= 0 for level in levels.values())


async def watch_stock(
    client: OmnistockClient,
    request: pb.WatchStockRequest,
    *,
    as_json: bool,
    until_sold_out: bool,
    timeout: float | None,
) -> None:
    """The live view; it reconnects when inventory restarts (live.follow)."""
    levels: dict[tuple[str, str], pb.StockLevel] = {}
    changed: set[tuple[str, str]] = set()
    zones: dict[str, str] = {}
    ready = False
    link = Link("inventory")
    title = f"{', '.join(request.skus)}: live stock (Ctrl-C ends)"

    def view() -> RenderableType:
        shown = watch_table(title, levels, changed if ready else set(), zones)
        note = link.note()
        return Group(shown, Text.from_markup(note)) if note else shown

    live = None if as_json else Live(view(), console=console, auto_refresh=False)

    def redraw() -> None:
        if live is not None:
            live.update(view(), refresh=True)

    async def handle(message: pb.WatchStockResponse, fresh: bool) -> bool:
        nonlocal ready
        if fresh:
            ready = False  # a snapshot starts: every row is sent again
        changed.clear()
        for level in message.levels:
            key = (level.sku, level.location_id)
            current = levels.get(key)
            if current is None or level.version >= current.version:  # drop a stale change
                levels[key] = level
                changed.add(key)
        ready = ready or message.snapshot_complete
        unknown = {level.location_id for level in message.levels} - set(zones)
        if unknown and not as_json:
            zones.update(await ZONES.of(client, unknown))
        if as_json:
            print_json_line({"snapshot": message.snapshot, "levels": list(message.levels)})
        redraw()
        return until_sold_out and ready and sold_out(levels)

    with live if live is not None else contextlib.nullcontext(), contextlib.suppress(TimeoutError):
        await asyncio.wait_for(follow(link, lambda: client.inventory.WatchStock(request), handle, redraw), timeout)
    if until_sold_out and not as_json:
        if sold_out(levels):
            console.print(f"{', '.join(request.skus)} is sold out everywhere watched.")
        else:
            raise typer.Exit(1)


@acting(Role.CHAT_AGENT, writes=False)
def watch(
    sku: Annotated[list[str], typer.Argument(metavar="SKU", help="One or more SKUs to watch.")],
    location: Annotated[
        list[str] | None, typer.Option("--location", "-l", help="Only this location; repeat for more.")
    ] = None,
    channel: ChannelOption = None,
    until_sold_out: Annotated[
        bool, typer.Option("--until-sold-out", help="End when on hand is zero at every watched location.")
    ] = False,
    timeout: Annotated[str | None, typer.Option("--timeout", help="End after this long, e.g. 30s or 5m.")] = None,
    *,
    call: Call,
) -> None:
    """Watch stock change live: a table redrawn on every change (JSON lines with --json). Ctrl-C ends.

    When inventory restarts, the view says so and reconnects by itself.
    """
    who = call.who()
    code = channel_code(channel, who)
    request = pb.WatchStockRequest(skus=sku, location_ids=location or [], channel=code)  # type: ignore[arg-type]
    seconds = duration(timeout, "--timeout").total_seconds() if timeout else None
    settings = load_settings()

    async def main() -> None:
        async with OmnistockClient.connect(settings, who.token_source(settings)) as client:
            await watch_stock(client, request, as_json=call.as_json, until_sold_out=until_sold_out, timeout=seconds)

    run_async(main(), as_json=call.as_json)
    if not call.as_json:
        err_console.print("[dim]watch ended[/]")


EXAMPLES = (
    "omnistock stock SOFA-VELVET-GREEN --near Berlin",
    "omnistock watch SOFA-VELVET-GREEN",
)


def register(app: typer.Typer) -> None:
    app.command("stock")(stock)
    app.command("skus")(skus)
    app.command("receive")(receive)
    app.command("adjust")(adjust)
    app.command("movements")(movements)
    app.command("watch")(watch)
