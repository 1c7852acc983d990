"""Validation of incoming requests: every field violation at once, named by its field path."""

from __future__ import annotations

from collections.abc import Sequence

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.adapters.messages import CHANNELS, METHOD_FROM_PROTO
from omnistock_orders.domain.routing import Method
from omnistock_orders.service_layer.planning import RouteQuery
from omnistock_platform.geo import Point
from omnistock_platform.validation import Validator

MAX_LINES = 100
MAX_LINE_QUANTITY = 10_000
MAX_DISTANCE_KM = 20_000.0
MAX_SPLITS = 20
MAX_EXCLUDED = 100


def _lines(check: Validator, lines: Sequence[orders_pb2.OrderLineRequest], *, required: bool) -> dict[str, int]:
    if required:
        check.check(0 < len(lines) <= MAX_LINES, "lines", f"give between 1 and {MAX_LINES} lines")
    else:
        check.check(len(lines) <= MAX_LINES, "lines", f"at most {MAX_LINES} lines")
    wanted: dict[str, int] = {}
    for index, line in enumerate(lines):
        check.identifier(f"lines[{index}].sku", line.sku)
        check.quantity(f"lines[{index}].quantity", line.quantity, maximum=MAX_LINE_QUANTITY)
        if line.sku in wanted:
            check.fail(f"lines[{index}].sku", f"{line.sku} is already on another line")
        wanted[line.sku] = line.quantity
    return wanted


def _options(check: Validator, options: orders_pb2.RoutingOptions) -> None:
    check.check(
        0 <= options.max_distance_km <= MAX_DISTANCE_KM,
        "options.max_distance_km",
        f"must be between 0 and {MAX_DISTANCE_KM:.0f}",
    )
    check.check(0 <= options.max_splits <= MAX_SPLITS, "options.max_splits", f"must be between 0 and {MAX_SPLITS}")
    check.check(
        len(options.exclude_location_ids) <= MAX_EXCLUDED,
        "options.exclude_location_ids",
        f"at most {MAX_EXCLUDED} locations",
    )
    for index, location_id in enumerate(options.exclude_location_ids):
        check.identifier(f"options.exclude_location_ids[{index}]", location_id)


def _destination(
    check: Validator,
    method: common_pb2.FulfilmentMethod.ValueType,
    ship_to: orders_pb2.Address | None,
    store_id: str,
) -> Point | None:
    """The ship-to point for SHIP; the store for PICKUP and CARRY_OUT."""
    if method == common_pb2.FULFILMENT_METHOD_SHIP:
        if ship_to is None or not ship_to.HasField("point"):
            check.fail("ship_to.point", "is required to ship an order")
            return None
        before = len(check.violations)
        check.point("ship_to.point", ship_to.point.latitude, ship_to.point.longitude)
        if len(check.violations) > before:
            return None
        return Point(ship_to.point.latitude, ship_to.point.longitude)
    if method in (common_pb2.FULFILMENT_METHOD_PICKUP, common_pb2.FULFILMENT_METHOD_CARRY_OUT):
        check.identifier("store_id", store_id)
    return None


def quote_query(request: orders_pb2.QuoteRoutingRequest) -> RouteQuery:
    check = Validator()
    check.enum("channel", request.channel, CHANNELS)
    lines = _lines(check, request.lines, required=True)
    check.enum("method", request.method, METHOD_FROM_PROTO)
    ship_to = request.ship_to if request.HasField("ship_to") else None
    if ship_to is not None:
        check.text("ship_to.region", ship_to.region, max_length=64)
    point = _destination(check, request.method, ship_to, request.store_id)
    _options(check, request.options)
    check.raise_if_invalid()
    method = METHOD_FROM_PROTO[request.method]
    return RouteQuery(
        lines=lines,
        method=method,
        channel=request.channel,
        ship_to=point,
        store_id=request.store_id if method is not Method.SHIP else "",
        options=request.options,
        region=ship_to.region if ship_to is not None else "",
        country=ship_to.country if ship_to is not None else "",
    )


def create_query(request: orders_pb2.CreateOrderRequest) -> RouteQuery:
    """The order as a routing question; lines may be left out when a reservation supplies them."""
    check = Validator()
    check.text("request_id", request.request_id, required=True, max_length=128)
    check.enum("channel", request.channel, CHANNELS)
    check.text("customer_id", request.customer_id, required=True, max_length=128)
    from_reservation = bool(request.reservation_id)
    lines = _lines(check, request.lines, required=not from_reservation)
    check.enum("method", request.method, METHOD_FROM_PROTO)
    ship_to = request.ship_to if request.HasField("ship_to") else None
    if ship_to is not None:
        for name in ("name", "street", "postal_code", "city", "country"):
            check.name(f"ship_to.{name}", getattr(ship_to, name))
        check.text("ship_to.region", ship_to.region, max_length=64)
    if from_reservation:
        check.identifier("reservation_id", request.reservation_id)
        check.check(
            request.method == common_pb2.FULFILMENT_METHOD_PICKUP,
            "method",
            "must be FULFILMENT_METHOD_PICKUP for an order from a reservation",
        )
        check.identifier("store_id", request.store_id, required=False)
        point = None
    else:
        point = _destination(check, request.method, ship_to, request.store_id)
    if request.method == common_pb2.FULFILMENT_METHOD_CARRY_OUT:
        check.check(
            request.channel == common_pb2.CHANNEL_POS, "channel", "must be CHANNEL_POS for a carry-out at a till"
        )
    _options(check, request.options)
    check.raise_if_invalid()
    method = METHOD_FROM_PROTO[request.method]
    return RouteQuery(
        lines=lines,
        method=method,
        channel=request.channel,
        ship_to=point,
        store_id=request.store_id if method is not Method.SHIP else "",
        options=request.options,
        region=ship_to.region if ship_to is not None else "",
        country=ship_to.country if ship_to is not None else "",
    )
