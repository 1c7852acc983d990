"""How an order's fulfilment holds read on its card (omnistock order-status, hold-order, ...)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_cli.commands import duration, label, until
from omnistock_cli.context import fail


def hold_rows(order: pb.Order, zone: str = "") -> list[tuple[str, Any]]:
    """The order's holds as lines of its card: what waits, why, and until when (on the clock of `zone`)."""
    rows = []
    for hold in order.holds:
        what = f"allocation {hold.allocation_id}" if hold.allocation_id else "the whole order"
        reason = label(hold.reason, common_pb2.FulfilmentHoldReason, "FULFILMENT_HOLD_REASON_")
        status = label(hold.status, pb.FulfilmentHoldStatus, "FULFILMENT_HOLD_STATUS_")
        text = f"{reason}, {status}: {what}"
        if hold.status == pb.FULFILMENT_HOLD_STATUS_ACTIVE:
            text += f", cancels the order at {until(hold.expires_at, zone)}"
        rows.append((f"hold {hold.fulfilment_hold_id[:8]}", text))
    return rows


REASONS = {
    label(value, common_pb2.FulfilmentHoldReason, "FULFILMENT_HOLD_REASON_").replace(" ", "-"): value
    for value in common_pb2.FulfilmentHoldReason.values()
    if value
}
ReasonOption = Annotated[str, typer.Option("--reason", help=f"Why the work waits: {', '.join(REASONS)}.")]
HoldTtlOption = Annotated[
    str | None, typer.Option("--ttl", help="How long it may wait before the order is cancelled, e.g. 2d. Default: 3d.")
]


def hold_request(reason: str, note: str, ttl: str | None) -> pb.FulfilmentHoldRequest:
    """`--reason payment-pending --ttl 2d` as the contract's hold request."""
    code = REASONS.get(reason.strip().lower().replace("_", "-").replace(" ", "-"))
    if code is None:
        fail(f"unknown hold reason {reason!r}", hint=f"one of {', '.join(REASONS)}")
    request = pb.FulfilmentHoldRequest(reason=code, note=note)  # type: ignore[arg-type]
    if ttl is not None:
        request.ttl.FromTimedelta(duration(ttl, "--ttl"))
    return request
