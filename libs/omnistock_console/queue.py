"""A location's work queue as people read it: who the work is for, what to fetch, by when.

Tasks come from fulfilment (a list for the first page, then WatchTasks, live); the customer's
name and the reservation's expiry come from reservations, the titles and barcodes from
inventory, all with the staff member's own token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from omnistock_client import OmnistockClient
from omnistock_client.clock import Zones
from omnistock_client.lookups import all_pages

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_console.catalogue import barcode_of, titles

ACTIVE = (
    fpb.TASK_STATUS_OPEN,
    fpb.TASK_STATUS_PICKING,
    fpb.TASK_STATUS_PICKED,
    fpb.TASK_STATUS_PACKED,
    fpb.TASK_STATUS_READY_FOR_PICKUP,
)
STATUS_WORDS = {
    fpb.TASK_STATUS_OPEN: "New",
    fpb.TASK_STATUS_PICKING: "Being fetched",
    fpb.TASK_STATUS_PICKED: "Picked",
    fpb.TASK_STATUS_PACKED: "Packed",
    fpb.TASK_STATUS_SHIPPED: "Shipped",
    fpb.TASK_STATUS_READY_FOR_PICKUP: "Ready at the desk",
    fpb.TASK_STATUS_HANDED_OVER: "Handed over",
    fpb.TASK_STATUS_WITHDRAWN: "Withdrawn",
}
# Work staff still owe the customer: a pickup ready at the desk waits for the customer, not for them.
OWED = (fpb.TASK_STATUS_OPEN, fpb.TASK_STATUS_PICKING, fpb.TASK_STATUS_PICKED, fpb.TASK_STATUS_PACKED)
# Reservations looked up at once for one view.
LOOKUPS_AT_ONCE = 8


def when(stamp: Timestamp) -> datetime | None:
    return stamp.ToDatetime(tzinfo=UTC) if stamp.seconds or stamp.nanos else None


@dataclass(frozen=True)
class Line:
    sku: str
    title: str
    barcode: str
    quantity: int
    picked: int


@dataclass
class Row:
    task: fpb.Task
    lines: list[Line]
    reservation: rpb.Reservation | None = None
    # Why the reservation could not be read, in words; empty when it was.
    reservation_problem: str = ""
    # The store's time zone (IANA): its times are shown on the store's clock; "" for UTC.
    zone: str = ""

    @property
    def task_id(self) -> str:
        return self.task.task_id

    @property
    def pickup(self) -> bool:
        return self.task.kind == fpb.TASK_KIND_PICKUP_PREPARATION

    @property
    def ships(self) -> bool:
        return self.task.method == common_pb2.FULFILMENT_METHOD_SHIP

    @property
    def who(self) -> str:
        if self.pickup:
            if self.reservation is not None:
                return self.reservation.customer.name or self.reservation.customer.customer_id
            return "Pickup"
        return f"Order {self.task.order_id}"

    @property
    def status(self) -> str:
        return STATUS_WORDS.get(self.task.status, "Unknown")

    @property
    def status_key(self) -> str:
        return fpb.TaskStatus.Name(self.task.status).removeprefix("TASK_STATUS_").lower()

    @property
    def promised(self) -> datetime | None:
        return when(self.task.promise_at)

    @property
    def owed(self) -> bool:
        return self.task.status in OWED

    def overdue(self, now: datetime | None = None) -> bool:
        """Work still owed past the time the customer was promised it (the task's due time, an
        instant: the same on every clock). The page marks it again as time passes (console.js)."""
        promised = self.promised
        return self.owed and promised is not None and promised <= (now or datetime.now(UTC))

    @property
    def expires(self) -> datetime | None:
        return when(self.reservation.expires_at) if self.reservation is not None else None

    @property
    def finished(self) -> bool:
        return self.task.status not in ACTIVE

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)


@dataclass
class Enricher:
    """Reservations and SKUs behind tasks, each read once per view (or per live stream)."""

    client: OmnistockClient
    reservations: dict[str, rpb.Reservation] = field(default_factory=dict)
    skus: dict[str, ipb.Sku] = field(default_factory=dict)
    # Each location's time zone (the console's own, read once for every page).
    zones: Zones = field(default_factory=Zones)

    async def rows(self, tasks: Iterable[fpb.Task], *, refresh: Iterable[str] = ()) -> list[Row]:
        tasks = sorted(tasks, key=lambda t: (t.promise_at.seconds, t.promise_at.nanos, t.created_at.seconds, t.task_id))
        for reservation_id in refresh:
            self.reservations.pop(reservation_id, None)
        missing_skus = {line.sku for task in tasks for line in task.lines} - set(self.skus)
        if missing_skus:
            self.skus.update(await titles(self.client, missing_skus))
        wanted = {t.reservation_id for t in tasks if t.reservation_id and t.reservation_id not in self.reservations}
        problems = await self._read_reservations(wanted)
        zones = await self.zones.of(self.client, (task.location_id for task in tasks))
        return [
            Row(
                task,
                [self.line(line) for line in task.lines],
                self.reservations.get(task.reservation_id),
                problems.get(task.reservation_id, ""),
                zones.get(task.location_id, ""),
            )
            for task in tasks
        ]

    def line(self, line: fpb.TaskLine) -> Line:
        sku = self.skus.get(line.sku)
        title = sku.title if sku is not None and sku.title else line.sku
        return Line(line.sku, title, barcode_of(sku) if sku is not None else "", line.quantity, line.picked)

    async def _read_reservations(self, wanted: set[str]) -> dict[str, str]:
        gate = asyncio.Semaphore(LOOKUPS_AT_ONCE)
        problems: dict[str, str] = {}

        async def read(reservation_id: str) -> None:
            async with gate:
                try:
                    reply = await self.client.call(
                        self.client.reservations.GetReservation,
                        rpb.GetReservationRequest(reservation_id=reservation_id),
                    )
                except grpc.aio.AioRpcError as error:
                    problems[reservation_id] = f"reservation not readable: {error.details() or error.code().name}"
                    return
                self.reservations[reservation_id] = reply.reservation

        await asyncio.gather(*(read(reservation_id) for reservation_id in sorted(wanted)))
        return problems


async def every_status(
    client: OmnistockClient,
    method: Callable[..., Awaitable[Any]],
    request: Message,
    statuses: Iterable[int],
    repeated: str,
) -> list[Any]:
    """Every item of a list call in any of `statuses` (the lists filter by one status at a time)."""

    def of(status: int) -> Message:
        one = type(request)()
        one.CopyFrom(request)
        one.status = status  # type: ignore[attr-defined]
        return one

    pages = await asyncio.gather(*(all_pages(client, method, of(status), repeated) for status in statuses))
    return [item for page in pages for item in page]


async def active_tasks(client: OmnistockClient, location_id: str) -> list[fpb.Task]:
    """Every unfinished task of the location, now."""
    request = fpb.ListTasksRequest(location_id=location_id)
    return await every_status(client, client.fulfilment.ListTasks, request, ACTIVE, "tasks")


async def live_tasks(client: OmnistockClient, location_id: str) -> AsyncIterator[tuple[list[fpb.Task], set[str]]]:
    """The location's unfinished tasks after the snapshot and after every change, with the
    reservations whose tasks just changed (their details may have changed too)."""
    call = client.fulfilment.WatchTasks(fpb.WatchTasksRequest(location_id=location_id))
    tasks: dict[str, fpb.Task] = {}
    complete = False
    try:
        async for message in call:
            changed = set()
            for task in message.tasks:
                if task.status in ACTIVE:
                    tasks[task.task_id] = task
                else:
                    tasks.pop(task.task_id, None)
                if task.reservation_id:
                    changed.add(task.reservation_id)
            complete = complete or message.snapshot_complete or not message.snapshot
            if complete:
                yield list(tasks.values()), changed if not message.snapshot else set()
    finally:
        call.cancel()
