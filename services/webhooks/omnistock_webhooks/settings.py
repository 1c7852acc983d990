"""Webhooks' own settings (docs/webhooks.md), beside the platform's: OMNISTOCK_WEBHOOK_*."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from omnistock_platform.settings import Duration, Settings


class WebhooksSettings(Settings):
    # The networks deliveries may reach: "public" (every globally routable address), "private"
    # (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7), "loopback", or CIDRs such as
    # "10.20.0.0/16". Checked on the URL at subscription and on every address a host resolves to,
    # at connection time (no DNS rebinding). `omnistock up` allows all three for local development.
    webhook_allowed_networks: tuple[str, ...] = ("public",)
    # Plain http URLs are refused unless this is false (`omnistock up` sets it false).
    webhook_require_https: bool = True
    # One attempt: connect, send and the answer's status line.
    webhook_timeout: Duration = timedelta(seconds=10)
    # Attempts per delivery before it is dead (a subscription may set its own); with the delays
    # below, 30 attempts retry for about 20 hours.
    webhook_max_attempts: int = Field(default=30, ge=1, le=100)
    # Delay after the first failed attempt, doubled after each one up to webhook_retry_max (+-20%).
    webhook_retry_base: Duration = timedelta(seconds=5)
    webhook_retry_max: Duration = timedelta(hours=1)
    # Deliveries one process makes at once, and at once to one subscription.
    webhook_concurrency: int = Field(default=32, ge=1)
    webhook_subscription_concurrency: int = Field(default=4, ge=1)
    # How often the dispatcher looks for due deliveries when nothing woke it.
    webhook_poll_interval: Duration = timedelta(seconds=1)
    # Delivered and dead deliveries (with their attempts) are dropped after this long.
    webhook_retention: Duration = timedelta(days=14)


SETTINGS = WebhooksSettings
