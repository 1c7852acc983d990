"""Reservations' figures for Prometheus: what became of reservations, by channel."""

from __future__ import annotations

from prometheus_client import Counter

RESERVATION_EVENTS = Counter(
    "omnistock_reservation_events_total",
    "Reservation changes recorded (created, ready, extended, expired, cancelled, collected, converted, failed)",
    ["event", "channel"],
)
