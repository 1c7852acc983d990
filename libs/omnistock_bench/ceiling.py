"""Ceiling B: the hold transaction replayed directly with asyncpg, no gRPC, no service.

It runs the very statements inventory's hold runs (the idempotency claim with the conditional
update of the row, then the one write of the hold, its ledger movement, its events and its
answer), through the same repository, outbox and idempotency functions, one transaction per
hold. What it reaches is what the database allows for that work from the same number of
clients: on one hot row, the rate at which transactions can pass the row lock one after another.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import repository
from omnistock_inventory.domain.holds import LineKey
from omnistock_platform.auth import Principal, Role
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.idempotency import IdempotencyStore, caller_key
from omnistock_platform.settings import Settings
from omnistock_platform.statement import Statement

# The holds of the reference are taken as one admin would take them through the service.
BENCH_CALLER = caller_key(Principal(subject="omnistock-bench", role=Role.ADMIN))


class _Short(Exception):
    pass


class HoldReplay:
    def __init__(self, params: dict[str, Any]) -> None:
        self.hot: tuple[str, str] | None = tuple(params["hot"]) if params.get("hot") else None  # type: ignore[assignment]
        self.locations: list[str] = params["locations"]
        self.skus: list[str] = params["skus"]
        # Events go to a subject no service consumes: the relay publishes them as it would a
        # hold's, and nobody acts on them.
        self.subject = f"{params['subject_prefix']}.inventory.bench.replayed"
        self.owner = f"bench-b:{uuid.uuid4().hex[:8]}"
        self.counter = 0
        # Envelopes of a hold's real size: a StockChanged and a HoldChanged as the service writes them.
        self.stock_event = pb.StockChanged(
            level=pb.StockLevel(location_id="BENCH-L000", sku="BENCH-S00000", on_hand=100, held=1, version=2)
        ).SerializeToString()
        hold = pb.Hold(hold_id=str(uuid.uuid4()), owner=self.owner, lines=[pb.HoldLine(quantity=1, open=1)])
        self.hold_event = pb.HoldChanged(hold=hold).SerializeToString()
        self.hold_answer = pb.HoldResponse(hold=hold)
        # Written as inventory writes them: through the platform's outbox and idempotency store.
        self.outbox = Outbox(Settings(subject_prefix=params["subject_prefix"]), "inventory")
        self.idempotency = IdempotencyStore("inventory")

    async def run(self, pool: asyncpg.Pool, rng: random.Random) -> bool:
        location, sku = self.hot or (
            self.locations[rng.randrange(len(self.locations))],
            self.skus[rng.randrange(len(self.skus))],
        )
        self.counter += 1
        request_id = f"{self.owner}-{self.counter}"
        request = pb.HoldRequest(
            request_id=request_id,
            owner=self.owner,
            lines=[pb.HoldLineRequest(location_id=location, sku=sku, quantity=1)],
        )
        hold_id = str(uuid.uuid4())
        try:
            async with pool.acquire() as conn, conn.transaction():
                statement = Statement()
                claim = self.idempotency.claim_part(statement, request_id, "Hold", request, BENCH_CALLER)
                _, row = await repository.take_units_once(
                    conn, statement, claim, LineKey(location, sku), 1, use_safety_stock=False
                )
                if row is None:
                    raise _Short
                statement = Statement()
                repository.add_taken(
                    statement,
                    holds=[(hold_id, self.owner, "web", "active", datetime.now(UTC) + timedelta(minutes=15))],
                    lines=[(hold_id, location, sku, 1, 0)],
                    movements=[
                        (
                            location,
                            sku,
                            "hold",
                            "",
                            0,
                            1,
                            row["on_hand"],
                            row["held"],
                            row["safety_stock"],
                            row["version"],
                            hold_id,
                            "bench",
                            request_id,
                            "",
                        )
                    ],
                    sold=[],
                )
                self.outbox.add_many(
                    statement,
                    [
                        (str(uuid.uuid4()), self.subject, self.stock_event, None),
                        (str(uuid.uuid4()), self.subject, self.hold_event, None),
                    ],
                )
                self.idempotency.save_many(statement, [(request_id, self.hold_answer)])
                await statement.execute(conn)
        except _Short:
            return False
        return True
