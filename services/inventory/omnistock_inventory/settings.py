"""Inventory's own settings, beside the platform's: holds, transfers, counts and the stock view.

hold_max_ttl stays in the platform's Settings: orders reads it too (its holds must end before it).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from omnistock_platform.settings import Duration, Settings


class InventorySettings(Settings):
    hold_default_ttl: Duration = timedelta(minutes=15)
    # How often expired holds are looked for and released.
    sweep_interval: Duration = timedelta(milliseconds=500)
    # Single-line hold transactions one inventory process runs at once; the holds that arrive
    # meanwhile share the next transaction (group commit). One gave twice the throughput of ten
    # and a quarter of the p99 at the same rate (make bench; docs/benchmark.md).
    hold_transactions: int = Field(default=1, ge=1)
    # Ship to store: days a transfer takes, by the origin's kind, unless the pair has its own figure in
    # transfer_lead_days ("origin>destination=days,...", e.g. "wh-berlin>store-mitte=1").
    transfer_lead_days_from_warehouse: int = Field(default=2, ge=0, le=60)
    transfer_lead_days_from_store: int = Field(default=1, ge=0, le=60)
    transfer_lead_days: str = ""
    # GetStock, BatchGetStock and FindAvailability from each process's memory (docs/reads.md);
    # off: every read goes to the database.
    stock_view: bool = True
    # How often the view looks for changes whatever the notifications say (a lost one is found then).
    stock_view_check_interval: Duration = timedelta(milliseconds=500)
    # A read without a consistency token goes to the database when the view has not caught up
    # for this long (the database or its notifications away).
    stock_view_max_staleness: Duration = timedelta(seconds=2)
    # How long a read with a token newer than the view waits for it before the database answers.
    stock_view_token_wait: Duration = timedelta(milliseconds=200)
    # Units: a counted variance larger than this (either way) needs a recount or an approval; a count
    # session may set its own.
    count_variance_threshold: int = Field(default=5, ge=0)


SETTINGS = InventorySettings
