"""One delivery attempt: its signed headers, whether it succeeded, and when the next one is due.

Signatures follow Standard Webhooks (standardwebhooks.com): `webhook-id` (the event id, the same on
every attempt), `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`, one
`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` per valid secret, separated by spaces.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from standardwebhooks import Webhook

USER_AGENT = "Omnistock-Webhooks/1"
JITTER = 0.2


class State(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True)
class Outcome:
    """What one POST came to: the receiver's status code (0 where none answered), how long it took,
    and why it failed ("" where it did not)."""

    status_code: int
    latency: timedelta
    error: str


@dataclass(frozen=True)
class Attempt:
    """An attempt as it is recorded: when it started, what it came to, and what becomes of its
    delivery: DELIVERED, DEAD, or PENDING again, sent anew after `delay`."""

    started_at: datetime
    outcome: Outcome
    state: State
    delay: timedelta


def signed_headers(event_id: str, at: datetime, body: bytes, secrets: Sequence[str]) -> dict[str, str]:
    """The headers of one attempt: signed with every secret given (the current one first)."""
    signatures = " ".join(Webhook(secret).sign(event_id, at, body) for secret in secrets)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }


def succeeded(status_code: int) -> bool:
    """Only a 2xx answer delivers: a redirect is not followed, so it fails like an error."""
    return 200 <= status_code < 300


def retry_delay(attempts: int, base: timedelta, ceiling: timedelta, rng: random.Random | None = None) -> timedelta:
    """The wait after the `attempts`-th failed attempt: base doubled per attempt up to the ceiling,
    +-20% so that many deliveries failed at once do not all come back at once."""
    exponent = min(max(attempts - 1, 0), 40)
    delay = min(base * (2**exponent), ceiling)
    return delay * (rng or random).uniform(1 - JITTER, 1 + JITTER)


def attempts_allowed(subscription_max: int, default: int) -> int:
    return subscription_max or default
