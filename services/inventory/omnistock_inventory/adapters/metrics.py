"""Inventory's figures for Prometheus: holds taken and refused, by channel, and holds expired."""

from __future__ import annotations

from prometheus_client import Counter

HOLDS = Counter("omnistock_holds_total", "Holds taken, by the channel that asked", ["channel"])
SHORTFALLS = Counter(
    "omnistock_shortfalls_total", "Holds refused for lack of stock (FAILED_PRECONDITION, STOCK)", ["channel"]
)
HOLDS_EXPIRED = Counter("omnistock_holds_expired_total", "Holds that ran out and gave their units back")
