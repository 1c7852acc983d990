"""How long the caller is still waiting.

Every unary call a service serves has a deadline: the caller's own, or the service's
`default_deadline` when the caller set none. Calls made onward to other services while serving
it inherit what is left of it, so that no service works on for a caller who is gone. One
exception: a change that has begun to act is carried to its end after its caller left
(`idempotency.carried_through`); from then on its onward calls get the default deadline each.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class CallerWaiting:
    # time.monotonic() at which the caller stops waiting; None once it has left.
    until: float | None


_waiting: ContextVar[CallerWaiting | None] = ContextVar("caller_waiting", default=None)


def serve_until(until: float) -> None:
    """Set by the server when a call begins, in the call's own context."""
    _waiting.set(CallerWaiting(until))


def remaining() -> float | None:
    """Seconds the caller of the call being served still waits; None outside a call or once it left."""
    waiting = _waiting.get()
    if waiting is None or waiting.until is None:
        return None
    return max(0.0, waiting.until - time.monotonic())


def caller_left() -> None:
    """The caller is gone, but the work goes on (see `carried_through`): onward calls are no
    longer bounded by its deadline. The work's own task shares this state, so it sees it too."""
    waiting = _waiting.get()
    if waiting is not None:
        waiting.until = None
