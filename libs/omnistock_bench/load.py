"""Client processes: each runs a closed loop of `concurrency` coroutines on grpc.aio (or
asyncpg, for ceiling B) and reports what completed inside the measured window.

The processes are started once (spawn: no gRPC state crosses a fork) and reused by every row,
so a row measures load, not interpreter start-up.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import multiprocessing.connection
import random
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Operation = Callable[[random.Random], Awaitable[tuple[str, int]]]

DEADLINE = 10.0
CHANNELS = 4
READY = "ready"  # what a client process says once it can take a row


@dataclass
class Spec:
    """One row's work for one client process."""

    kind: str
    address: str
    token: str
    concurrency: int
    warmup: float
    duration: float
    start_at: float  # wall clock, the same for every client process
    seed: int
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)  # seconds, OK calls inside the window
    codes: Counter[str] = field(default_factory=Counter)
    units: int = 0  # units held by OK calls inside or outside the window (sell-out accounting)
    error: str = ""


def _metadata(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def _grpc_operation(spec: Spec, channel: Any) -> Operation:
    """The call one row makes, as `op(rng) -> (code, units held)`."""
    import grpc
    from google.protobuf import empty_pb2

    from omnistock.common.v1 import common_pb2
    from omnistock.inventory.v1 import inventory_pb2 as inv
    from omnistock.inventory.v1 import inventory_pb2_grpc
    from omnistock.orders.v1 import orders_pb2, orders_pb2_grpc
    from omnistock.reservations.v1 import reservations_pb2, reservations_pb2_grpc

    p = spec.params
    metadata = _metadata(spec.token)
    skus: list[str] = p.get("skus", [])
    locations: list[str] = p.get("locations", [])
    stores: list[str] = p.get("stores", [])
    points: list[tuple[float, float]] = p.get("points", [])
    inventory = inventory_pb2_grpc.InventoryServiceStub(channel)
    prefix = uuid.uuid4().hex[:8]
    counter = iter(range(1 << 62))

    async def call(method: Any, request: Any) -> str:
        try:
            await method(request, timeout=DEADLINE, metadata=metadata)
        except grpc.aio.AioRpcError as error:
            return str(error.code().name)
        return "OK"

    def sku_count(rng: random.Random) -> str:
        return skus[rng.randrange(len(skus))]

    if spec.kind == "ping":
        ping = channel.unary_unary(
            p["method"],
            request_serializer=empty_pb2.Empty.SerializeToString,
            response_deserializer=empty_pb2.Empty.FromString,
        )
        empty = empty_pb2.Empty()

        async def op_ping(rng: random.Random) -> tuple[str, int]:
            return await call(ping, empty), 0

        return op_ping

    def stock_request(rng: random.Random) -> inv.GetStockRequest:
        return inv.GetStockRequest(
            sku=sku_count(rng), location_id=locations[rng.randrange(len(locations))], channel=common_pb2.CHANNEL_WEB
        )

    if spec.kind == "get_stock":

        async def op_get(rng: random.Random) -> tuple[str, int]:
            return await call(inventory.GetStock, stock_request(rng)), 0

        return op_get

    if spec.kind == "stock_echo":
        echo = channel.unary_unary(
            p["method"],
            request_serializer=inv.GetStockRequest.SerializeToString,
            response_deserializer=inv.GetStockResponse.FromString,
        )

        async def op_echo(rng: random.Random) -> tuple[str, int]:
            return await call(echo, stock_request(rng)), 0

        return op_echo

    if spec.kind == "find_availability":

        async def op_find(rng: random.Random) -> tuple[str, int]:
            lat, lon = points[rng.randrange(len(points))]
            request = inv.FindAvailabilityRequest(
                items=[common_pb2.SkuQuantity(sku=sku_count(rng), quantity=1) for _ in range(rng.randint(1, 3))],
                channel=common_pb2.CHANNEL_WEB,
                near=common_pb2.GeoPoint(latitude=lat, longitude=lon),
                page_size=10,
            )
            return await call(inventory.FindAvailability, request), 0

        return op_find

    if spec.kind == "hold":
        hot = p.get("hot")

        async def op_hold(rng: random.Random) -> tuple[str, int]:
            location, sku = hot if hot else (locations[rng.randrange(len(locations))], sku_count(rng))
            request = inv.HoldRequest(
                request_id=f"bench-{prefix}-{next(counter)}",
                owner=f"bench:{prefix}",
                channel=common_pb2.CHANNEL_WEB,
                lines=[inv.HoldLineRequest(location_id=location, sku=sku, quantity=1)],
            )
            code = await call(inventory.Hold, request)
            return code, 1 if code == "OK" else 0

        return op_hold

    if spec.kind == "reserve":
        reservations = reservations_pb2_grpc.ReservationsServiceStub(channel)
        hot = p.get("hot")

        async def op_reserve(rng: random.Random) -> tuple[str, int]:
            store, sku = hot if hot else (stores[rng.randrange(len(stores))], sku_count(rng))
            number = next(counter)
            request = reservations_pb2.CreateReservationRequest(
                request_id=f"bench-{prefix}-{number}",
                channel=common_pb2.CHANNEL_CHAT,
                customer=reservations_pb2.Customer(customer_id=f"bench-{prefix}-{number}", name="Bench Customer"),
                store_id=store,
                lines=[common_pb2.SkuQuantity(sku=sku, quantity=1)],
            )
            code = await call(reservations.CreateReservation, request)
            return code, 1 if code == "OK" else 0

        return op_reserve

    if spec.kind == "order":
        orders = orders_pb2_grpc.OrdersServiceStub(channel)
        max_lines = int(p.get("max_lines", 20))

        async def op_order(rng: random.Random) -> tuple[str, int]:
            lat, lon = points[rng.randrange(len(points))]
            count = rng.randint(1, max_lines)
            chosen = rng.sample(skus, count)
            request = orders_pb2.CreateOrderRequest(
                request_id=f"bench-{prefix}-{next(counter)}",
                channel=common_pb2.CHANNEL_WEB,
                customer_id=f"bench-{prefix}",
                lines=[orders_pb2.OrderLineRequest(sku=sku, quantity=1) for sku in chosen],
                method=common_pb2.FULFILMENT_METHOD_SHIP,
                ship_to=orders_pb2.Address(
                    name="Bench", city="Bench", country="DE", point=common_pb2.GeoPoint(latitude=lat, longitude=lon)
                ),
            )
            code = await call(orders.CreateOrder, request)
            return code, count if code == "OK" else 0

        return op_order

    raise ValueError(f"unknown kind {spec.kind!r}")


async def _sql_operation(spec: Spec, pool: Any) -> Operation:
    """Ceiling B: the hold transaction's own statements, straight to PostgreSQL."""
    from omnistock_bench.ceiling import HoldReplay

    replay = HoldReplay(spec.params)

    async def op_sql(rng: random.Random) -> tuple[str, int]:
        ok = await replay.run(pool, rng)
        return ("OK", 1) if ok else ("FAILED_PRECONDITION", 0)

    return op_sql


async def run_spec(spec: Spec) -> Outcome:
    import grpc

    outcome = Outcome()
    channels: list[Any] = []
    pool: Any = None
    if spec.kind == "sql_hold":
        import asyncpg

        # As many connections as the service has (its pool), shared by this process's calls.
        size = max(1, min(spec.concurrency, int(spec.params.get("pool", spec.concurrency))))
        pool = await asyncpg.create_pool(spec.params["database_url"], min_size=size, max_size=size)
        ops = [await _sql_operation(spec, pool)]
    else:
        # Several connections per client process: with several server processes on one port
        # (SO_REUSEPORT) the kernel spreads connections, not calls.
        channels = [
            grpc.aio.insecure_channel(spec.address, options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(CHANNELS)
        ]
        ops = [await _grpc_operation(spec, channel) for channel in channels]
    # Wall clock to this process's monotonic clock, once.
    offset = time.perf_counter() - time.time()
    begin = spec.start_at + offset
    window_start = begin + spec.warmup
    window_end = window_start + spec.duration
    await asyncio.sleep(max(0.0, begin - time.perf_counter()))

    # Paced rows (a share of the peak): calls leave on a schedule instead of back to back.
    rate = float(spec.params.get("rate") or 0.0)
    schedule = [begin]

    async def worker(index: int) -> None:
        rng = random.Random(spec.seed * 100_003 + index)
        op = ops[index % len(ops)]
        while True:
            if rate > 0:
                slot = schedule[0]
                schedule[0] += 1.0 / rate
                await asyncio.sleep(max(0.0, slot - time.perf_counter()))
            started = time.perf_counter()
            if started >= window_end:
                return
            try:
                code, units = await op(rng)
            except Exception as error:  # one failed call is a figure, not the end of the row
                code, units = type(error).__name__, 0
                if not outcome.error:
                    outcome.error = "".join(traceback.format_exception_only(error)).strip()
            finished = time.perf_counter()
            outcome.units += units
            if started >= window_start and finished <= window_end:
                outcome.codes[code] += 1
                if code == "OK":
                    outcome.latencies.append(finished - started)

    try:
        await asyncio.gather(*(worker(i) for i in range(spec.concurrency)))
    finally:
        for channel in channels:
            await channel.close()
        if pool is not None:
            await pool.close()
    return outcome


def _client_main(inbox: multiprocessing.connection.Connection) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    # What every row needs, imported once and kept out of the collector's full passes, which
    # would otherwise stop the client's loop and be counted as the service's latency.
    import grpc  # noqa: F401

    from omnistock.inventory.v1 import inventory_pb2_grpc  # noqa: F401
    from omnistock.orders.v1 import orders_pb2_grpc  # noqa: F401
    from omnistock.reservations.v1 import reservations_pb2_grpc  # noqa: F401

    gc.freeze()
    inbox.send(READY)
    while True:
        spec = inbox.recv()
        if spec is None:
            return
        try:
            outcome = asyncio.run(run_spec(spec))
        except Exception as error:
            outcome = Outcome(error="".join(traceback.format_exception(error))[-2000:])
        inbox.send(outcome)


class ClientFleet:
    """P client processes, started once; `run` hands each its spec and waits for all."""

    def __init__(self, processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipes: list[multiprocessing.connection.Connection] = []
        self._processes: list[Any] = []
        for _ in range(processes):
            parent, child = context.Pipe()
            process = context.Process(target=_client_main, args=(child,), daemon=True)
            process.start()
            self._pipes.append(parent)
            self._processes.append(process)

    @property
    def pids(self) -> list[int]:
        return [int(process.pid) for process in self._processes]

    def __len__(self) -> int:
        return len(self._processes)

    async def ready(self) -> None:
        """Wait until every client process has started up: a row's clock must not run while a
        client is still importing what it needs."""
        for pipe in self._pipes:
            said = await asyncio.to_thread(pipe.recv)
            if said != READY:
                raise RuntimeError(f"a bench client process failed to start: {said!r}")

    async def run(self, specs: list[Spec]) -> list[Outcome]:
        # A spec carries the catalogue (more than a pipe's buffer): sent from a thread, so the
        # event loop that samples CPU and shows progress never waits for a client to read.
        for pipe, spec in zip(self._pipes, specs, strict=True):
            await asyncio.to_thread(pipe.send, spec)
        return [await asyncio.to_thread(pipe.recv) for pipe in self._pipes]

    def close(self) -> None:
        for pipe in self._pipes:
            try:
                pipe.send(None)
            except OSError:
                continue
        for process in self._processes:
            process.join(5)
            if process.is_alive():
                process.kill()
