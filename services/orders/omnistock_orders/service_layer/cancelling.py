"""Cancelling an order: what has not left is given back to inventory."""

from __future__ import annotations

from dataclasses import replace

import asyncpg

from omnistock.orders.v1 import orders_pb2
from omnistock_orders.adapters.inventory_client import InventoryClient
from omnistock_orders.adapters.messages import order_changed, order_message
from omnistock_orders.adapters.repository import OrderRepository
from omnistock_orders.domain.order import OrderStatus, cancel
from omnistock_orders.service_layer import holding
from omnistock_orders.service_layer.queries import require_scope
from omnistock_platform.db import Database
from omnistock_platform.errors import Aborted, NotFound, Reason
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.idempotency import Begun, IdempotencyStore
from omnistock_platform.logging import get_logger
from omnistock_platform.validation import Validator

log = get_logger(__name__)


class OrderCancellation:
    def __init__(
        self,
        db: Database,
        repository: OrderRepository,
        outbox: Outbox,
        idempotency: IdempotencyStore,
        inventory: InventoryClient,
    ) -> None:
        self.db = db
        self.repository = repository
        self.outbox = outbox
        self.idempotency = idempotency
        self.inventory = inventory

    async def cancel(self, request: orders_pb2.CancelOrderRequest) -> orders_pb2.CancelOrderResponse:
        check = Validator()
        check.text("request_id", request.request_id, required=True, max_length=128)
        check.identifier("order_id", request.order_id)
        check.text("reason", request.reason, max_length=500)
        check.raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> orders_pb2.CancelOrderResponse:
            # The row lock keeps shipments and re-routes out until the cancellation is decided.
            record = await self.repository.get(conn, request.order_id, lock=True)
            if record is None:
                raise NotFound("order", request.order_id)
            require_scope(record)
            if record.order.status is OrderStatus.PENDING:
                raise Aborted(
                    f"order {request.order_id} is still being placed; retry in a moment",
                    0.5,
                    reason=Reason.REQUEST_IN_PROGRESS,
                )
            cancelled, to_release = cancel(record.order)
            if cancelled is record.order:
                return orders_pb2.CancelOrderResponse(order=order_message(record))
            # Inventory is asked first, under request ids derived from the allocation: if this
            # transaction then fails, the caller's retry asks again and gets the same answer.
            for allocation in to_release:
                await holding.release(
                    self.inventory,
                    record.order_id,
                    allocation,
                    "cancel",
                    f"order {record.order_id} cancelled: {request.reason or 'no reason given'}",
                )
            saved = await self.repository.save(
                conn, replace(record.with_order(cancelled), cancel_reason=request.reason)
            )
            await self.outbox.add(conn, "order.cancelled", order_changed(saved))
            log.info("order.cancelled", order_id=record.order_id, released=len(to_release))
            return orders_pb2.CancelOrderResponse(order=order_message(saved))

        async def change(_: Begun) -> orders_pb2.CancelOrderResponse:
            return await self.idempotency.run(
                self.db, "CancelOrder", request.request_id, request, orders_pb2.CancelOrderResponse, work
            )

        # Begun before inventory is asked: should a crash cut it short and the caller never come
        # back, the service finishes the cancellation itself (omnistock_platform.resuming).
        return await self.idempotency.resumable(
            self.db, "CancelOrder", request.request_id, request, orders_pb2.CancelOrderResponse, change
        )
