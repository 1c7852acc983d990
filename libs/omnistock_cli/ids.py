"""A unique prefix of an id, wherever a command takes a reservation, order or task id:
`omnistock pick df37d4bf` finds the task whose id starts with df37d4bf.

The services answer by whole id only, so the command lists candidates through the same List
calls a person would use, as the caller (scoped to what it may see), narrowed by what the
command knows (the location, the store), the records a command usually acts on first (open
tasks, active reservations), and at most SCAN_LIMIT of them: a prefix never makes the command
read a whole table. Several matches are an error listing them; none says where it looked.

A whole id (a UUID) is used as it is, without any lookup. SKUs, location ids and pickup codes
are chosen by people and never completed from a prefix."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from omnistock_client import OmnistockClient

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_cli.context import ADMIN, Caller, call_services, fail
from omnistock_cli.output import err_console

WHOLE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
PREFIX = re.compile(r"^[0-9a-f][0-9a-f-]*$", re.IGNORECASE)
MIN_PREFIX = 4
# Candidates read at most for one prefix, over every list asked.
SCAN_LIMIT = 2000
PAGE_SIZE = 500
# Matches listed in the error for an ambiguous prefix.
SHOWN = 10


@dataclass(frozen=True)
class Search:
    """Where the candidates for one kind of id are listed, in the order to look."""

    noun: str
    method: Callable[[OmnistockClient], Any]
    requests: Sequence[Message]
    field: str
    key: str
    scope: str
    describe: Callable[[Any], str]


def is_prefix(text: str) -> bool:
    """True for text that may be the start of an id, and is not a whole one."""
    given = text.strip()
    return bool(PREFIX.match(given)) and not WHOLE.match(given)


async def resolve(client: OmnistockClient, text: str, search: Search) -> str:
    """The whole id `text` starts with (the text itself when it is not a prefix of an id)."""
    given = text.strip()
    if not is_prefix(given):
        return given
    if len(given.replace("-", "")) < MIN_PREFIX:
        fail(
            f"{search.noun} id {given!r} is too short to look up",
            hint=f"give at least {MIN_PREFIX} characters of the id, or all of it",
        )
    wanted = given.lower()
    matches: dict[str, Any] = {}
    scanned, cut = 0, False
    for request in search.requests:
        page = type(request)()
        page.CopyFrom(request)
        page.page_size = PAGE_SIZE  # type: ignore[attr-defined]
        while True:
            try:
                reply = await client.call(search.method(client), page)
            except grpc.aio.AioRpcError as error:
                if error.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED):
                    fail(
                        f"cannot look up {search.noun} id {given!r}: this caller may not list {search.scope} "
                        f"({error.details()})",
                        hint=f"give the whole {search.noun} id, or call as someone who may list them (--role)",
                    )
                raise
            items = list(getattr(reply, search.field))
            scanned += len(items)
            for item in items:
                identifier = str(getattr(item, search.key))
                if identifier.lower().startswith(wanted):
                    matches.setdefault(identifier, item)
            if not reply.next_page_token:
                break
            if scanned >= SCAN_LIMIT:
                cut = True
                break
            page.page_token = reply.next_page_token  # type: ignore[attr-defined]
        if cut:
            break
    if len(matches) == 1:
        (found,) = matches
        err_console.print(f"[dim]{search.noun} {given} is {found}[/]")
        return found
    if matches:
        shown = [search.describe(item) for item in list(matches.values())[:SHOWN]]
        more = len(matches) - len(shown)
        fail(
            f"{len(matches)} {search.noun}s have an id starting with {given}",
            lines=shown + ([f"… and {more} more"] if more else []),
            hint="give more characters of the id",
        )
    looked = f"the first {scanned} of {search.scope}" if cut else search.scope
    fail(
        f"no {search.noun} id starts with {given} among {looked}",
        hint="check the id, or give all of it (a whole id is looked up directly)",
    )


# ---------------------------------------------------------------------------------------------
# The searches, one per kind of id.

OPEN_TASKS = (
    fpb.TASK_STATUS_OPEN,
    fpb.TASK_STATUS_PICKING,
    fpb.TASK_STATUS_PICKED,
    fpb.TASK_STATUS_PACKED,
    fpb.TASK_STATUS_READY_FOR_PICKUP,
)


def tasks(locations: Sequence[str] = (), *, finished_too: bool = False) -> Search:
    """Open tasks at `locations` (every location the caller may see when none), then, with
    `finished_too`, the others."""
    places = list(locations) or [""]
    requests: list[Message] = [
        fpb.ListTasksRequest(location_id=place, status=status) for status in OPEN_TASKS for place in places
    ]
    if finished_too:
        requests += [fpb.ListTasksRequest(location_id=place) for place in places]
    where = f"at {', '.join(locations)}" if locations else "at every location"
    return Search(
        "task",
        lambda client: client.fulfilment.ListTasks,
        requests,
        "tasks",
        "task_id",
        f"{'the' if finished_too else 'open'} tasks {where}",
        lambda task: (
            f"{task.task_id}  {fpb.TaskStatus.Name(task.status).removeprefix('TASK_STATUS_').lower()} at "
            f"{task.location_id}, "
            + (f"reservation {task.reservation_id}" if task.reservation_id else f"order {task.order_id}")
        ),
    )


def reservations(store: str = "", customer_id: str = "") -> Search:
    """Active and ready reservations first, then the others (of a store or a customer when given)."""
    requests: list[Message] = [
        rpb.ListReservationsRequest(store_id=store, customer_id=customer_id, status=status)
        for status in (rpb.RESERVATION_STATUS_ACTIVE, rpb.RESERVATION_STATUS_READY_FOR_PICKUP)
    ]
    requests.append(rpb.ListReservationsRequest(store_id=store, customer_id=customer_id))
    where = f" at {store}" if store else ""
    return Search(
        "reservation",
        lambda client: client.reservations.ListReservations,
        requests,
        "reservations",
        "reservation_id",
        f"the reservations{where} this caller may see",
        lambda item: (
            f"{item.reservation_id}  "
            f"{rpb.ReservationStatus.Name(item.status).removeprefix('RESERVATION_STATUS_').lower()} at "
            f"{item.store_id}, {item.customer.name}"
        ),
    )


def orders(location: str = "", customer_id: str = "") -> Search:
    """Orders, newest first (of a location or a customer when given)."""
    where = f" at {location}" if location else ""
    return Search(
        "order",
        lambda client: client.orders.ListOrders,
        [opb.ListOrdersRequest(location_id=location, customer_id=customer_id)],
        "orders",
        "order_id",
        f"the newest orders{where} this caller may see",
        lambda item: (
            f"{item.order_id}  {opb.OrderStatus.Name(item.status).removeprefix('ORDER_STATUS_').lower()}, "
            + ", ".join(f"{line.sku} x{line.quantity}" for line in item.lines)
        ),
    )


def whole_id(text: str, search: Search, who: Caller, *, as_json: bool = False) -> str:
    """The whole id for what the user typed: looked up when it is a prefix, as `who` when the
    caller was chosen (--role, a token), else as admin (a default caller is minted with this
    environment's secret, which could mint any role)."""
    if not is_prefix(text):
        return text.strip()

    async def work(client: OmnistockClient) -> str:
        return await resolve(client, text, search)

    return call_services(work, who if who.chosen else ADMIN, as_json=as_json)
