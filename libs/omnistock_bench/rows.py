"""The rows of the benchmark table: what each one loads, and against which ceiling it is read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    name: str
    title: str
    kind: str  # the client operation (see load.py), or "propagation" / "staleness" / "sellout"
    target: str  # which processes serve it: trivial, inventory, reservations, orders, postgres
    hot: bool = False
    # The ceiling B a row is read against; none for reads and the ceiling A itself.
    ceiling_b: str = "ceiling-b-spread"
    meaning: str = ""
    # Paced rows: the row whose peak throughput they follow, and the share of it they send.
    paced_from: str = ""
    pace: float = 0.0


ROWS: tuple[Row, ...] = (
    Row("ceiling-a", "ceiling A: empty unary call", "ping", "trivial", ceiling_b="",
        meaning="an empty call to a servicer that does nothing, on ServiceApp with its interceptor"),
    Row("ceiling-a-query", "ceiling A + one query", "ping", "trivial", ceiling_b="",
        meaning="the empty call plus one SELECT 1 on the pool: the least a read from the database costs"),
    Row("ceiling-a-hop", "ceiling A + one internal call", "ping", "trivial", ceiling_b="",
        meaning="the empty call, whose servicer makes one empty call over a service channel: the least a"
        " call that crosses to another service costs"),
    Row("ceiling-a-stock", "ceiling A + GetStock's messages", "stock_echo", "trivial", ceiling_b="",
        meaning="GetStock's request and an answer of its size and shape, made once: what exchanging"
        " its messages costs, with no work to find the answer"),
    Row("ceiling-b-spread", "ceiling B: hold txn, spread", "sql_hold", "postgres",
        meaning="the hold transaction's statements straight from asyncpg, random rows"),
    Row("ceiling-b-hot", "ceiling B: hold txn, one hot row", "sql_hold", "postgres", hot=True,
        ceiling_b="ceiling-b-hot", meaning="the same, every transaction on one row"),
    Row("get-stock", "GetStock", "get_stock", "inventory", ceiling_b="", meaning="one SKU at one location"),
    Row("find-availability", "FindAvailability", "find_availability", "inventory", ceiling_b="",
        meaning="1-3 SKUs near a point, every location, nearest 10"),
    Row("hold-spread", "Hold, spread", "hold", "inventory",
        meaning="one unit of a random SKU at a random location (10,000 SKUs x 50 locations)"),
    Row("hold-spread-70", "Hold, spread, at 70% of peak", "hold", "inventory", paced_from="hold-spread", pace=0.7,
        meaning="Hold, spread, paced at 70% of the peak just measured: the latency a loaded system shows"),
    Row("hold-hot", "Hold, one hot SKU", "hold", "inventory", hot=True, ceiling_b="ceiling-b-hot",
        meaning="every hold on one stock row"),
    Row("reserve-spread", "CreateReservation, spread", "reserve", "reservations",
        meaning="end to end: reservations writes, holds through inventory, confirms"),
    Row("reserve-hot", "CreateReservation, one hot SKU", "reserve", "reservations", hot=True,
        ceiling_b="ceiling-b-hot", meaning="the same, every reservation of one SKU at one store"),
    Row("order", "CreateOrder, 1-20 lines", "order", "orders",
        meaning="routing over 50 locations, then one all-or-nothing hold of every allocation"),
    Row("order-20", "CreateOrder, at 20% of peak", "order", "orders", paced_from="order", pace=0.2,
        meaning="CreateOrder paced at 20% of the peak just measured: the latency a shopper feels when the"
        " system is not saturated"),
    Row("propagation", "event propagation", "propagation", "inventory", ceiling_b="",
        meaning="committed stock change -> WatchStock subscriber (latency only)"),
    Row("staleness", "staleness of in-memory reads", "staleness", "inventory", ceiling_b="",
        meaning="committed stock change -> GetStock without a token shows it (latency only)"),
    Row("sellout", "sell-out race, one hot SKU", "sellout", "inventory", hot=True, ceiling_b="ceiling-b-hot",
        meaning="holds race for a row with few units: no oversell, the rest are shortfalls"),
)  # fmt: skip

BY_NAME = {row.name: row for row in ROWS}
CEILINGS = ("ceiling-a", "ceiling-b-spread", "ceiling-b-hot")
