"""`omnistock seed`: the demo catalogue loaded through the inventory API.

Every request id is derived from the request's content (and, for receipts, from
the stock row's version), so seeding again, or two seeds at once by one caller, never counts
a unit twice: a receipt only tops a row up to the catalogue's level. The services
bind a request id to the caller that first used it, so the ids are derived per
caller too: `make run` seeds as one, `omnistock seed --force` as another, and
each is answered as its own request."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Annotated, Any

import jwt
import typer
from google.protobuf.message import Message
from omnistock_client import OmnistockClient
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_cli.catalogue import Catalogue, DemoLocation, DemoSku, DemoStock, demo_catalogue
from omnistock_cli.context import Caller, JsonOption, TokenOption, call_services
from omnistock_cli.output import console, err_console, print_json

IN_FLIGHT = 16
BATCH = 500
DOCUMENT_REF = "demo-seed"
KINDS = {"store": pb.LOCATION_KIND_STORE, "warehouse": pb.LOCATION_KIND_WAREHOUSE}


@dataclass
class SeedResult:
    skipped: bool = False
    locations: int = 0
    skus: int = 0
    stock_rows: int = 0
    units_received: int = 0


def caller_of(client: OmnistockClient) -> str:
    """Who the client calls as: its token's role, subject and locations (read, not verified; the
    services verify it). Empty when the token cannot be read."""
    try:
        claims = jwt.decode(client.token(), options={"verify_signature": False})
    except jwt.PyJWTError:
        return ""
    return "|".join(
        str(part) for part in (claims.get("role", ""), claims.get("sub", ""), *sorted(claims.get("locations") or ()))
    )


def request_id(kind: str, request: Message, *salt: object) -> str:
    """The same content (and salt) always gives the same id (request_id itself left empty)."""
    digest = hashlib.sha256(kind.encode())
    digest.update(request.SerializeToString(deterministic=True))
    for part in salt:
        digest.update(f"|{part}".encode())
    return f"seed-{kind}-{digest.hexdigest()[:32]}"


def location_request(location: DemoLocation, caller: str = "") -> pb.UpsertLocationRequest:
    request = pb.UpsertLocationRequest(
        location=pb.Location(
            location_id=location.location_id,
            name=location.name,
            kind=KINDS[location.kind],
            city=location.city,
            point=common_pb2.GeoPoint(latitude=location.latitude, longitude=location.longitude),
            routing_rank=location.routing_rank,
            ships=location.ships,
            pickup=location.pickup,
            till_sales=location.till_sales,
            active=True,
        )
    )
    request.request_id = request_id("location", request, caller)
    return request


def sku_request(sku: DemoSku, caller: str = "") -> pb.UpsertSkuRequest:
    request = pb.UpsertSkuRequest(
        sku=pb.Sku(
            sku=sku.sku,
            title=sku.title,
            attributes=sku.attributes,
            price_minor=sku.price_minor,
            currency=sku.currency,
        )
    )
    request.request_id = request_id("sku", request, caller)
    return request


async def already_seeded(client: OmnistockClient) -> bool:
    reply = await client.call(client.inventory.ListLocations, pb.ListLocationsRequest(page_size=1))
    return len(reply.locations) > 0


async def current_levels(client: OmnistockClient, catalogue: Catalogue) -> dict[tuple[str, str], pb.StockLevel]:
    skus = sorted({row.sku for row in catalogue.stock})
    levels: dict[tuple[str, str], pb.StockLevel] = {}
    for start in range(0, len(skus), BATCH):  # BatchGetStock takes at most 1000 SKUs
        reply = await client.call(
            client.inventory.BatchGetStock, pb.BatchGetStockRequest(skus=skus[start : start + BATCH])
        )
        levels.update({(level.location_id, level.sku): level for level in reply.levels})
    return levels


async def _stock_row(
    client: OmnistockClient, row: DemoStock, level: pb.StockLevel | None, document_ref: str, caller: str
) -> int:
    """Top the row up to the catalogue's on hand, and set its safety stock."""
    on_hand = level.on_hand if level is not None else 0
    version = level.version if level is not None else 0
    received = 0
    if on_hand < row.on_hand:
        receive = pb.ReceiveStockRequest(
            location_id=row.location_id, sku=row.sku, quantity=row.on_hand - on_hand, document_ref=document_ref
        )
        # The row's version names the state the top-up was computed from.
        receive.request_id = request_id("receive", receive, version, caller)
        await client.call(client.inventory.ReceiveStock, receive)
        received = row.on_hand - on_hand
    if level is None or level.safety_stock != row.safety_stock:
        safety = pb.SetSafetyStockRequest(location_id=row.location_id, sku=row.sku, safety_stock=row.safety_stock)
        safety.request_id = request_id("safety", safety, caller)
        await client.call(client.inventory.SetSafetyStock, safety)
    return received


async def seed_catalogue(
    client: OmnistockClient,
    *,
    force: bool = False,
    advance: Callable[[int], None] = lambda _: None,
    total: Callable[[int], None] = lambda _: None,
) -> SeedResult:
    """Load the demo catalogue; skipped when inventory already has locations, unless forced."""
    if not force and await already_seeded(client):
        return SeedResult(skipped=True)
    return await load_catalogue(client, demo_catalogue(), advance=advance, total=total)


async def load_catalogue(
    client: OmnistockClient,
    catalogue: Catalogue,
    *,
    document_ref: str = DOCUMENT_REF,
    advance: Callable[[int], None] = lambda _: None,
    total: Callable[[int], None] = lambda _: None,
) -> SeedResult:
    """Load a catalogue (the demo one, or an imported one) with content-derived request ids:
    locations and SKUs first, then every stock row topped up to its on hand."""
    total(len(catalogue.locations) + len(catalogue.skus) + len(catalogue.stock))
    caller = caller_of(client)
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def step(call: Awaitable[Any]) -> Any:
        async with slots:
            result = await call
        advance(1)
        return result

    await asyncio.gather(
        *(
            step(client.call(client.inventory.UpsertLocation, location_request(loc, caller)))
            for loc in catalogue.locations
        ),
        *(step(client.call(client.inventory.UpsertSku, sku_request(sku, caller))) for sku in catalogue.skus),
    )
    levels = await current_levels(client, catalogue)
    received = await asyncio.gather(
        *(
            step(_stock_row(client, row, levels.get((row.location_id, row.sku)), document_ref, caller))
            for row in catalogue.stock
        )
    )
    return SeedResult(
        locations=len(catalogue.locations),
        skus=len(catalogue.skus),
        stock_rows=len(catalogue.stock),
        units_received=sum(received),
    )


async def seed_with_progress(client: OmnistockClient, *, force: bool = False) -> SeedResult:
    if not force and await already_seeded(client):
        return SeedResult(skipped=True)
    with Progress(
        TextColumn("[bold]seeding the demo catalogue"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    ) as progress:
        task = progress.add_task("seed", total=None)
        return await seed_catalogue(
            client,
            force=True,
            advance=lambda n: progress.advance(task, n),
            total=lambda n: progress.update(task, total=n),
        )


def describe(result: SeedResult) -> str:
    if result.skipped:
        return "Inventory already has locations: seed skipped (use `omnistock seed --force` to load it again)."
    return (
        f"Seeded {result.locations} locations, {result.skus} SKUs and {result.stock_rows} stock rows "
        f"({result.units_received} units received)."
    )


def seed(
    force: Annotated[bool, typer.Option("--force", help="Load even if inventory already has locations.")] = False,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load the demo catalogue (cities, stores, warehouses, SKUs, stock) through the inventory API."""

    async def work(client: OmnistockClient) -> SeedResult:
        return await seed_with_progress(client, force=force)

    result = call_services(work, Caller.of(token=token), as_json=as_json)
    if as_json:
        print_json(asdict(result))
    else:
        console.print(describe(result))


EXAMPLES = ("omnistock seed --force",)


def register(app: typer.Typer) -> None:
    app.command("seed")(seed)
