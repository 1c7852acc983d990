"""The CLI prints a moment on the clock of the location it belongs to, naming the zone (UTC, named,
where there is none): never on the clock of the machine it runs on, unnamed. The store is in a zone
far from UTC, and the moments fall on another day there than in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.cli.support import Cli, World
from tests.integration.promise_support import at_utc_hour, far_zone, set_time_zone

AUCKLAND = (-36.8485, 174.7633)
AUCKLAND_WAREHOUSE = (-36.9000, 174.8000)
ZONE = "Pacific/Auckland"


def stamp(text: str) -> Timestamp:
    moment = Timestamp()
    moment.FromJsonString(text)
    return moment


def utc_day(moment: Timestamp) -> str:
    return f"{moment.ToDatetime(tzinfo=UTC):%Y-%m-%d}"


def when(moment: Timestamp, zone: str) -> str:
    """The moment as the CLI prints it at a location in `zone` ("" for none: UTC)."""
    return f"{moment.ToDatetime(tzinfo=UTC).astimezone(ZoneInfo(zone or 'UTC')):%Y-%m-%d %H:%M} {zone or 'UTC'}"


async def test_a_reservations_expiry_is_printed_on_the_stores_clock(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Auckland-"), AUCKLAND)
    await set_time_zone(stack, store, ZONE)
    lamp = await world.sku("Lamp")
    await world.receive(store, lamp, 1)
    # Kept until about 13:00 UTC: 01:00 or 02:00 of the next day in Auckland.
    hold = at_utc_hour(13, after=timedelta(days=1)) - datetime.now(UTC)

    hold_for = f"{int(hold.total_seconds())}s"
    email = f"{unique_id('ada').lower()}@example.com"
    made = await cli.run(
        "reserve", lamp, "--store", store, "--customer", "Ada Lovelace", "--email", email, "--hold-for", hold_for
    )
    [reservation] = (await cli.json("reservations", "--store", store))["reservations"]
    expires = stamp(reservation["expires_at"])
    local = when(expires, ZONE)
    assert local.endswith(ZONE) and not local.startswith(utc_day(expires)), local
    assert f"{local} (in " in made.stdout, made.stdout

    shown = (await cli.run("show-reservation", reservation["reservation_id"])).stdout
    assert f"{local} (in " in shown, shown
    assert when(stamp(reservation["created_at"]), ZONE) in shown, shown
    listed = (await cli.run("reservations", "--store", store)).stdout
    assert f"{local} (in " in listed, listed


async def test_a_pickup_on_a_transfer_is_expected_on_the_stores_clock(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    city = unique_id("Auckland-")
    store = await world.location(city, AUCKLAND)
    warehouse = await world.location(city, AUCKLAND_WAREHOUSE, kind="warehouse")
    chair = await world.sku("Oak chair")
    await world.receive(warehouse, chair, 1)
    email = f"{unique_id('ada').lower()}@example.com"
    made = await cli.json("reserve", chair, "--store", store, "--customer", "Ada", "--email", email, "--ship-to-store")
    assert made["status"] == "RESERVATION_STATUS_AWAITING_TRANSFER"
    promised = stamp(made["promised_at"])
    zone = far_zone(promised.ToDatetime(tzinfo=UTC))
    await set_time_zone(stack, store, zone)
    local = when(promised, zone)
    assert local.endswith(zone) and not local.startswith(utc_day(promised)), local

    shown = (await cli.run("show-reservation", made["reservation_id"])).stdout
    assert local in shown, shown

    # The transfer's arrival, on the clock of where it arrives; its making, of where it leaves (UTC).
    transfer = (
        await stack.stub("inventory", role="admin").GetTransfer(ipb.GetTransferRequest(transfer_id=made["transfer_id"]))
    ).transfer
    card = (await cli.run("transfer", "show", made["transfer_id"])).stdout
    assert when(transfer.expected_arrival_at, zone) in card, card
    assert when(transfer.created_at, "") in card, card
