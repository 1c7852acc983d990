"""How long the caller is still waiting.

Every unary call a service serves has a deadline: the caller's own, or the service's
`default_deadline` when the caller set none. Calls made onward to other services while serving
it inherit what is left of it, so that no service works on for a caller who is gone. One
exception: a change carried to its end whether or not its caller waits
(`idempotency.carried_through`) is not bounded by its caller's deadline: its onward calls get the
default deadline each. Bounded, an onward call begun with little time left runs out after the
other service acted and before its answer came (the change then fails, its outcome unknown,
and is only put right later), where the change would have been finished all the same.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class CallerWaiting:
    # time.monotonic() at which the caller stops waiting.
    until: float


_waiting: ContextVar[CallerWaiting | None] = ContextVar("caller_waiting", default=None)


def serve_until(until: float) -> None:
    """Set by the server when a call begins, in the call's own context."""
    _waiting.set(CallerWaiting(until))


def remaining() -> float | None:
    """Seconds the caller of the call being served still waits; None outside a call, and in a
    change carried through (see `unbounded`)."""
    waiting = _waiting.get()
    if waiting is None:
        return None
    return max(0.0, waiting.until - time.monotonic())


def unbounded() -> None:
    """The work from here on (in the current context: a change's own task) runs to its end whether
    or not its caller waits (see `carried_through`): its onward calls are not bounded by its caller."""
    _waiting.set(None)
