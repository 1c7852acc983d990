"""Orders' own settings, beside the platform's: OMNISTOCK_ROUTING_* and OMNISTOCK_ORDER_*."""

from __future__ import annotations

from datetime import timedelta

from omnistock_platform.settings import Duration, Settings


class OrdersSettings(Settings):
    routing_max_distance_km: float = 0.0
    routing_max_splits: int = 3
    routing_prefer_warehouses: bool = True
    order_hold_ttl: Duration = timedelta(days=3)
    order_route_attempts: int = 3
    # A PENDING order older than this was left by a crash: the recovery loop finishes or drops it.
    order_pending_timeout: Duration = timedelta(seconds=10)
    order_recovery_interval: Duration = timedelta(seconds=2)
    # Units no location can supply after a short pick or a lost hold: backordered, or cancelled when true.
    order_cancel_unfillable: bool = False
    # Fulfilment holds (payment pending, fraud review, address check): how long one lasts unless the
    # caller says, the longest a caller may ask for, and how often expired ones are looked for (an
    # expired hold cancels its order). The order's inventory holds outlive its fulfilment holds by an
    # hour, so the longest must stay an hour under hold_max_ttl.
    order_fulfilment_hold_ttl: Duration = timedelta(days=3)
    order_fulfilment_hold_max_ttl: Duration = timedelta(days=7)
    order_fulfilment_hold_sweep_interval: Duration = timedelta(seconds=1)
    # Backordered units are filled when inventory says stock rose, and by a sweep this often (the
    # catch-all), each asking at most this many orders, oldest first.
    order_backorder_sweep_interval: Duration = timedelta(seconds=30)
    order_backorder_batch: int = 20


SETTINGS = OrdersSettings
