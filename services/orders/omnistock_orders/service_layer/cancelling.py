"""Cancelling an order: what has not left is given back to inventory."""

from __future__ import annotations

from dataclasses import replace

import asyncpg

from omnistock.orders.v1 import orders_pb2
from omnistock_orders.adapters import repository
from omnistock_orders.adapters.inventory_client import InventoryClient
from omnistock_orders.adapters.messages import order_changed, order_message
from omnistock_orders.domain.order import (
    DONE,
    Allocation,
    IllegalTransition,
    Order,
    OrderStatus,
    cancel,
    settle_status,
    shipped_meanwhile,
)
from omnistock_orders.service_layer import holding
from omnistock_orders.service_layer.queries import require_scope
from omnistock_platform.db import Database
from omnistock_platform.errors import Aborted, FailedPrecondition, NotFound, PreconditionViolation, Reason
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.idempotency import Begun, IdempotencyStore
from omnistock_platform.logging import get_logger
from omnistock_platform.validation import Validator

log = get_logger(__name__)


class NoLongerDue(FailedPrecondition):
    """The fulfilment hold whose running out a cancellation is for was released before the order
    could be locked: the release was answered that the order goes on."""

    def __init__(self, hold_id: str) -> None:
        super().__init__(
            f"fulfilment hold {hold_id} was released before it could expire",
            [PreconditionViolation("HOLD_STATUS", hold_id, "hold is released")],
            reason=Reason.INVALID_STATE,
        )


class OrderCancellation:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        idempotency: IdempotencyStore,
        inventory: InventoryClient,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.idempotency = idempotency
        self.inventory = inventory

    async def cancel(self, request: orders_pb2.CancelOrderRequest) -> orders_pb2.CancelOrderResponse:
        """A cancellation the service decides on itself because a fulfilment hold ran out (its request
        id names the hold, `holding.expiry_request_id`) is refused once the order is locked when the
        hold was released meanwhile: on the sweep's first try, and when it is finished after a crash
        (by the sweep again or by the Resumer, neither of which can tell what the sweep had read)."""
        check = Validator()
        check.text("request_id", request.request_id, required=True, max_length=128)
        check.identifier("order_id", request.order_id)
        check.text("reason", request.reason, max_length=500)
        check.raise_if_invalid()
        resumed = False

        async def work(conn: asyncpg.Connection) -> orders_pb2.CancelOrderResponse:
            # The row lock keeps shipments and re-routes out until the cancellation is decided.
            record = await repository.get(conn, request.order_id, lock=True)
            if record is None:
                raise NotFound("order", request.order_id, field="order_id")
            require_scope(record)
            if record.order.status is OrderStatus.PENDING:
                raise Aborted(
                    f"order {request.order_id} is still being placed; retry in a moment",
                    0.5,
                    reason=Reason.REQUEST_IN_PROGRESS,
                )
            expiring = holding.expired_hold_of(record.order_id, request.request_id)
            # Released meanwhile, the order goes on; unless a crash cut this cancellation short once
            # inventory had given stock back: the order cannot go on as it was, so it is finished.
            if (
                expiring is not None
                and not any(h.hold_id == expiring and h.active for h in record.holds)
                and not (resumed and await self._given_back(record.order))
            ):
                raise NoLongerDue(expiring)
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
            # Released, nothing of these holds can leave any more; what left before (a parcel shipped
            # while this call waited, its event not yet here) is a shipment, not a cancellation.
            left = await self._left_meanwhile(record.order, to_release)
            if left is not record.order:
                # Everything left: the order is complete and the cancellation refused (the shipment
                # events record it); otherwise the rest is cancelled.
                if settle_status(record.order, left).status is OrderStatus.COMPLETED and all(
                    line.quantity == left.fulfilled_units().get(line.sku, 0) for line in left.lines
                ):
                    raise IllegalTransition(record.order_id, OrderStatus.COMPLETED, OrderStatus.CANCELLED)
                cancelled, _ = cancel(left)
            saved = await repository.save(conn, replace(record.with_order(cancelled), cancel_reason=request.reason))
            await self.outbox.add(conn, "order.cancelled", order_changed(saved))
            log.info("order.cancelled", order_id=record.order_id, released=len(to_release))
            return orders_pb2.CancelOrderResponse(order=order_message(saved))

        async def change(begun: Begun) -> orders_pb2.CancelOrderResponse:
            nonlocal resumed
            resumed = begun.resumed
            return await self.idempotency.run(
                self.db, "CancelOrder", request.request_id, request, orders_pb2.CancelOrderResponse, work
            )

        # Begun before inventory is asked: should a crash cut it short and the caller never come
        # back, the service finishes the cancellation itself (omnistock_platform.resuming).
        return await self.idempotency.resumable(
            self.db, "CancelOrder", request.request_id, request, orders_pb2.CancelOrderResponse, change
        )

    async def _given_back(self, order: Order) -> bool:
        """Whether inventory gave back everything it held of one of the order's held allocations (a
        cancellation reached it); one shipped meanwhile gave nothing back, and says nothing of it."""
        for hold_id in sorted({allocation.hold_id for allocation in order.allocations if allocation.held}):
            hold = await self.inventory.get_hold(hold_id)
            for allocation in order.allocations:
                if allocation.held and allocation.hold_id == hold_id:
                    here = [
                        line
                        for line in hold.lines
                        if line.location_id == allocation.location_id and line.sku in allocation.lines
                    ]
                    if here and not any(line.open for line in here) and any(line.released for line in here):
                        return True
        return False

    async def _left_meanwhile(self, order: Order, held: list[Allocation]) -> Order:
        """The order with the held allocations whose units inventory committed (shipped) before they
        could be released recorded as shipped: committed units of a hold and location that no
        shipped allocation of the order accounts for belong to the held ones there."""
        recorded: dict[tuple[str, str, str], int] = {}
        for allocation in order.allocations:
            if allocation.status in DONE:
                for sku, units in allocation.lines.items():
                    key = (allocation.hold_id, allocation.location_id, sku)
                    recorded[key] = recorded.get(key, 0) + units
        unrecorded: dict[tuple[str, str, str], int] = {}
        for hold_id in sorted({allocation.hold_id for allocation in held}):
            hold = await self.inventory.get_hold(hold_id)
            for line in hold.lines:
                key = (hold_id, line.location_id, line.sku)
                unrecorded[key] = max(0, line.committed - recorded.get(key, 0))
        changed = order
        for allocation in held:
            shipped = {}
            for sku, units in allocation.lines.items():
                key = (allocation.hold_id, allocation.location_id, sku)
                take = min(units, unrecorded.get(key, 0))
                if take:
                    shipped[sku] = take
                    unrecorded[key] -= take
            if shipped:
                log.warning("order.shipped_before_cancel", order_id=order.order_id, allocation=allocation.allocation_id)
                changed = shipped_meanwhile(changed, allocation.allocation_id, shipped)
        return changed
