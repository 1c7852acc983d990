"""The TypeScript client's example, run with Node against the test stack: a storefront program finds
a SKU in stock near a customer in Berlin and reserves it for pickup at the nearest store, over
Connect. The reservation is there over gRPC; a second run finds nothing left and exits 1, and a run
without a token is refused as gRPC refuses it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.testing.stack import Stack, unique_id

CLIENT = Path(__file__).resolve().parents[2] / "libs" / "omnistock_ts"


async def store_with_one_unit(stack: Stack) -> tuple[str, str]:
    admin = stack.stub("inventory")
    store, sku = unique_id("LOC-"), unique_id("SKU-")
    await admin.UpsertLocation(
        ipb.UpsertLocationRequest(
            request_id=unique_id(),
            location=ipb.Location(
                location_id=store,
                name="Mitte",
                kind=ipb.LOCATION_KIND_STORE,
                city="Berlin",
                point=common_pb2.GeoPoint(latitude=52.5215, longitude=13.4110),
                pickup=True,
                ships=True,
                till_sales=True,
                active=True,
            ),
        )
    )
    await admin.UpsertSku(
        ipb.UpsertSkuRequest(request_id=unique_id(), sku=ipb.Sku(sku=sku, title="Green velvet sofa", currency="EUR"))
    )
    await admin.ReceiveStock(ipb.ReceiveStockRequest(request_id=unique_id(), location_id=store, sku=sku, quantity=1))
    return store, sku


async def run_example(stack: Stack, sku: str, token: str | None = None) -> tuple[int, str, str]:
    npm = shutil.which("npm")
    assert npm, "npm (Node 20+) is needed to run the TypeScript example"
    env = {
        **os.environ,
        "OMNISTOCK_TOKEN": stack.token("storefront") if token is None else token,
        "OMNISTOCK_INVENTORY_URL": stack.connect_urls["inventory"],
        "OMNISTOCK_RESERVATIONS_URL": stack.connect_urls["reservations"],
    }
    process = await asyncio.create_subprocess_exec(
        npm,
        "run",
        "--silent",
        "example",
        "--",
        sku,
        cwd=CLIENT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_node_finds_stock_near_the_customer_and_reserves_it(stack: Stack) -> None:
    store, sku = await store_with_one_unit(stack)
    code, out, err = await run_example(stack, sku)
    assert code == 0, err
    answer = json.loads(out.strip().splitlines()[-1])
    assert answer["store"] == store
    assert answer["available"] == 1
    assert answer["pickupCode"]
    assert answer["distanceKm"] < 2
    stored = await stack.stub("reservations").GetReservation(
        rpb.GetReservationRequest(reservation_id=answer["reservationId"])
    )
    assert stored.reservation.status == rpb.RESERVATION_STATUS_ACTIVE
    assert stored.reservation.store_id == store

    code, out, err = await run_example(stack, sku)
    assert code == 1
    assert f"no store within 50 km has {sku}" in err


async def test_node_without_a_token_is_refused(stack: Stack) -> None:
    _, sku = await store_with_one_unit(stack)
    code, _, err = await run_example(stack, sku, token="")
    assert code == 1
    assert err.startswith("Unauthenticated: missing bearer token"), err
