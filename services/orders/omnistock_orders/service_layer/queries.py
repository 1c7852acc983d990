"""Reading orders: one by id, or pages of them by customer, channel, status and location."""

from __future__ import annotations

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.adapters import repository
from omnistock_orders.adapters.inventory_client import InventoryClient
from omnistock_orders.adapters.messages import CHANNELS, STATUS_FROM_PROTO, order_message
from omnistock_orders.adapters.repository import OrderRecord
from omnistock_platform.auth import current_principal, require_location
from omnistock_platform.db import Database
from omnistock_platform.errors import NotFound, PermissionDenied, Reason
from omnistock_platform.paging import page_after, page_of, page_token
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
    return page_token(record.created_at, last_id=record.order_id)


class OrderQueries:
    def __init__(self, db: Database, inventory: InventoryClient) -> None:
        self.db = db
        self.inventory = inventory

    async def get(self, request: orders_pb2.GetOrderRequest) -> orders_pb2.GetOrderResponse:
        check = Validator()
        check.identifier("order_id", request.order_id)
        check.raise_if_invalid()
        record = await repository.get(self.db.pool, request.order_id)
        if record is None:
            raise NotFound("order", request.order_id, field="order_id")
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
        after = page_after(request.page_token)
        principal = current_principal()
        location_ids: frozenset[str] | None = None
        if request.location_id:
            require_location(request.location_id)
            location_ids = frozenset({request.location_id})
        elif principal.location_scoped:
            location_ids = principal.locations
        records = await repository.page(
            self.db.pool,
            customer_id=request.customer_id,
            channel=common_pb2.Channel.Name(request.channel) if request.channel else "",
            status=STATUS_FROM_PROTO[request.status].value if request.status else "",
            location_ids=location_ids,
            after=after,
            limit=page_size + 1,
        )
        # Nothing to show: a location with no orders, or one that does not exist (a mistyped id must
        # not read as "no orders there"). Asked only then, so listing needs inventory no more.
        empty = not records and request.location_id and not request.page_token
        if empty and not await self.inventory.knows_location(request.location_id):
            raise NotFound("location", request.location_id, field="location_id")
        records, following = page_of(records, page_size, encode_page_token)
        return orders_pb2.ListOrdersResponse(
            orders=[order_message(record) for record in records], next_page_token=following
        )
