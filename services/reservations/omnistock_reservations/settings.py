"""Reservations' own settings, beside the platform's: OMNISTOCK_RESERVATION_*."""

from __future__ import annotations

from datetime import timedelta

from omnistock_platform.settings import Duration, Settings


class ReservationsSettings(Settings):
    reservation_default_hold: Duration = timedelta(days=2)
    reservation_max_hold: Duration = timedelta(days=7)
    # The shortest hold_for a channel may ask for; short holds suit demos and tests.
    reservation_min_hold: Duration = timedelta(seconds=1)
    reservation_max_line_quantity: int = 10
    reservation_max_active_per_customer: int = 5
    reservation_recovery_interval: Duration = timedelta(seconds=5)
    # A reservation still PENDING this long lost its creator (crash, timeout): recovery finishes or undoes it.
    reservation_pending_grace: Duration = timedelta(seconds=5)


SETTINGS = ReservationsSettings
