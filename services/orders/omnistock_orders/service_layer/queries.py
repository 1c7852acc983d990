"""Reading orders: one by id, or pages of them by customer, channel, status and location."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.adapters.messages import CHANNELS, STATUS_FROM_PROTO, order_message
from omnistock_orders.adapters.repository import Cursor, OrderRecord, OrderRepository
from omnistock_platform.auth import current_principal, require_location
from omnistock_platform.db import Database
from omnistock_platform.errors import InvalidArgument, NotFound, PermissionDenied, Reason
from omnistock_platform.validation import Validator


def require_scope(record: OrderRecord) -> None:
    """Store and warehouse staff see only orders that touch one of their locations."""
    principal = current_principal()
    if principal.location_scoped and not record.locations() & principal.locations:
        raise PermissionDenied(
            f"{principal.role} {principal.subject!r} may not see order {record.order_id}",
            reason=Reason.LOCATION_NOT_ALLOWED,
        )


def encode_page_token(record: OrderRecord) -> str:
    assert record.created_at is not None
    raw = json.dumps([record.created_at.isoformat(), record.order_id])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_page_token(token: str) -> Cursor:
    try:
        created_at, order_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(created_at), str(order_id)
    except (ValueError, TypeError, binascii.Error) as error:
        raise InvalidArgument.of("page_token", "is not a token this service gave out") from error


class OrderQueries:
    def __init__(self, db: Database, repository: OrderRepository) -> None:
        self.db = db
        self.repository = repository

    async def get(self, request: orders_pb2.GetOrderRequest) -> orders_pb2.GetOrderResponse:
        check = Validator()
        check.identifier("order_id", request.order_id)
        check.raise_if_invalid()
        record = await self.repository.get(self.db.pool, request.order_id)
        if record is None:
            raise NotFound("order", request.order_id)
        require_scope(record)
        return orders_pb2.GetOrderResponse(order=order_message(record))

    async def list(self, request: orders_pb2.ListOrdersRequest) -> orders_pb2.ListOrdersResponse:
        check = Validator()
        check.text("customer_id", request.customer_id, max_length=128)
        if request.channel:
            check.enum("channel", request.channel, CHANNELS)
        if request.status:
            check.enum("status", request.status, STATUS_FROM_PROTO)
        check.identifier("location_id", request.location_id, required=False)
        page_size = check.page_size("page_size", request.page_size)
        check.raise_if_invalid()
        after = decode_page_token(request.page_token) if request.page_token else None
        principal = current_principal()
        location_ids: frozenset[str] | None = None
        if request.location_id:
            require_location(request.location_id)
            location_ids = frozenset({request.location_id})
        elif principal.location_scoped:
            location_ids = principal.locations
        records = await self.repository.page(
            self.db.pool,
            customer_id=request.customer_id,
            channel=common_pb2.Channel.Name(request.channel) if request.channel else "",
            status=STATUS_FROM_PROTO[request.status].value if request.status else "",
            location_ids=location_ids,
            after=after,
            limit=page_size + 1,
        )
        more = len(records) > page_size
        records = records[:page_size]
        return orders_pb2.ListOrdersResponse(
            orders=[order_message(record) for record in records],
            next_page_token=encode_page_token(records[-1]) if more else "",
        )
