"""Changes cut short are finished by the service itself.

A change that asks another service to act before writing its own part (commit a hold, then
mark the task shipped) begins first: its request is stored, unanswered (see
`IdempotencyStore.resumable`). A crash in between leaves the other service changed and this one
not; a caller that retries with the same request id finishes it. A caller that never retries (a
handheld that lost its network, a till that was switched off) would leave the two services
disagreeing for good. The `Resumer` finds such changes once they are older than any caller's
patience and runs them again, as the service, from their stored request: the other service
answers from its own idempotency store instead of acting twice, the local part is written, and
the answer is stored for a caller who does come back. A change refused on the second run (the
order was cancelled meanwhile) is forgotten and logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import DecodeError, Message
from prometheus_client import Counter

from omnistock_platform import telemetry
from omnistock_platform.auth import Principal, Role, principal_var
from omnistock_platform.db import Database
from omnistock_platform.errors import OmnistockError
from omnistock_platform.idempotency import TRANSIENT, IdempotencyStore, acting_for
from omnistock_platform.logging import get_logger
from omnistock_platform.loops import repeat
from omnistock_platform.services import ServiceName
from omnistock_platform.settings import Settings

log = get_logger(__name__)

ROUNDS = Counter("omnistock_resumer_runs_total", "Passes of the resumer over the changes cut short", ["service"])
RESUMED = Counter(
    "omnistock_resumer_changes_total",
    "Changes cut short that the service ran again, by outcome: finished, postponed, refused, failed",
    ["service", "outcome"],
)

RequestT = TypeVar("RequestT", bound=Message)
# Runs one stored request again: the use case behind the RPC, as the servicer calls it.
Resume = Callable[[bytes], Awaitable[Message]]


def resume(request_type: type[RequestT], use_case: Callable[[RequestT], Awaitable[Message]]) -> Resume:
    async def run(request: bytes) -> Message:
        return await use_case(request_type.FromString(request))

    return run


@dataclass
class Resumer:
    service: ServiceName
    settings: Settings
    db: Database
    store: IdempotencyStore
    # RPC method name -> how to run its stored request again.
    changes: Mapping[str, Resume]
    batch: int = 100

    async def run(self, stop: asyncio.Event) -> None:
        every = self.settings.resume_interval.total_seconds()
        telemetry.service_var.set(self.service)

        async def one_round() -> None:
            await self.run_once()

        await repeat(stop, every, one_round, failed="resume.round_failed", service=self.service)

    async def run_once(self) -> int:
        """One pass over the changes cut short; returns how many were finished."""
        finished = 0
        ROUNDS.labels(self.service).inc()
        for change in await self.store.unfinished(self.db, self.settings.resume_after, self.batch):
            again = self.changes.get(change.method)
            if again is None:
                log.error("resume.unknown_method", service=self.service, method=change.method)
                await self.store.forget(self.db, change.request_id)
                continue
            # As the service: the caller's own scope was checked when the change began. On the caller's
            # behalf: the request id, and the answer stored for it, are theirs.
            acting = principal_var.set(Principal(subject=f"{self.service}:resume", role=Role.SERVICE))
            owner = acting_for.set(change.caller)
            outcome = "failed"
            try:
                # A trace of its own (the calls it makes to other services, its events), when tracing.
                with telemetry.internal(f"resume {change.method}", {telemetry.REQUEST_ID_ATTRIBUTE: change.request_id}):
                    await again(change.request)
            except TRANSIENT as error:
                outcome = "postponed"
                log.info("resume.postponed", method=change.method, request_id=change.request_id, error=error.message)
            except (OmnistockError, DecodeError) as error:
                # Refused now, so never to be finished. Worth a look: the other service may have acted.
                outcome = "refused"
                log.error("resume.refused", method=change.method, request_id=change.request_id, error=str(error))
                await self.store.forget(self.db, change.request_id)
            except Exception as error:  # a lost connection and the like: next round
                log.warning("resume.failed", method=change.method, request_id=change.request_id, error=repr(error))
            else:
                outcome = "finished"
                finished += 1
                log.info("resume.finished", method=change.method, request_id=change.request_id)
            finally:
                acting_for.reset(owner)
                principal_var.reset(acting)
                RESUMED.labels(self.service, outcome).inc()
        return finished
