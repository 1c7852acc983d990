"""Counting the shelf while the store keeps selling: open a count, scan each item and say how many
are there, end the counting, and post it.

Counts are blind for staff: inventory leaves the book figures and variances out of its answers
while a count is open, so these pages never show them either. Each scan is recorded at the ledger
position of its moment (inventory's rule), so sales and receipts during the count are neither lost
nor counted twice."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field

import grpc
from omnistock_client import OmnistockClient
from omnistock_client.lookups import all_pages
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock_console.catalogue import find_skus, titles
from omnistock_console.queue import every_status
from omnistock_console.services import Refused
from omnistock_console.staff import Staff, flash
from omnistock_console.web import Console, field, request_id_of, see_other
from omnistock_platform.validation import whole_number

UNFINISHED = (ipb.COUNT_STATUS_OPEN, ipb.COUNT_STATUS_IN_REVIEW)
RECENT = 5
MAX_QUANTITY = 1_000_000
MAX_LISTED_ITEMS = 200
MAX_NOTE = 500
STATUS_WORDS = {
    ipb.COUNT_STATUS_OPEN: "Counting",
    ipb.COUNT_STATUS_IN_REVIEW: "Counting ended: to post",
    ipb.COUNT_STATUS_COMPLETED: "Posted",
    ipb.COUNT_STATUS_CANCELLED: "Cancelled",
}
LINE_WORDS = {
    ipb.COUNT_LINE_STATUS_UNCOUNTED: "Not counted yet",
    ipb.COUNT_LINE_STATUS_COUNTED: "Counted",
    ipb.COUNT_LINE_STATUS_NEEDS_REVIEW: "Count again (or a manager approves)",
    ipb.COUNT_LINE_STATUS_CONFIRMED: "Counted twice, the same",
    ipb.COUNT_LINE_STATUS_APPROVED: "Approved",
}


@dataclass
class Attempt:
    """An action that was refused, with what the person had typed, to show again beside its form."""

    action: str
    words: str
    request_id: str
    values: dict[str, str] = dataclass_field(default_factory=dict)


class CountPages:
    def __init__(self, console: Console) -> None:
        self.console = console

    def routes(self) -> list[Route]:
        here = "/at/{location_id}/counts"
        return [
            Route(here, self.counts),
            Route(here, self.create, methods=["POST"]),
            Route(here + "/{count_id}", self.count),
            Route(here + "/{count_id}/record", self.record, methods=["POST"]),
            Route(here + "/{count_id}/{action:str}", self.act, methods=["POST"]),
        ]

    # The location's counts.

    async def counts(self, request: Request, *, attempt: Attempt | None = None, status: int = 200) -> Response:
        staff = self.console.staff(request, request.path_params["location_id"])
        with self.console.acting_as(staff) as client:
            try:
                unfinished = await every_status(
                    client,
                    client.inventory.ListCounts,
                    ipb.ListCountsRequest(location_id=staff.location_id),
                    UNFINISHED,
                    "counts",
                )
                recent = await client.call(
                    client.inventory.ListCounts,
                    ipb.ListCountsRequest(location_id=staff.location_id, page_size=RECENT),
                )
            except grpc.aio.AioRpcError as error:
                raise await self.console.services.refusal(error) from error
        finished = [count for count in recent.counts if count.status not in UNFINISHED]
        context = {
            "unfinished": unfinished,
            "finished": finished,
            "attempt": attempt,
            "words": STATUS_WORDS,
            "zone": await self.console.zone(staff),
        }
        return self.console.render(request, "counts.html", context, status=status, staff=staff)

    async def create(self, request: Request) -> Response:
        staff = self.console.staff(request, request.path_params["location_id"])
        form = await self.console.form(request)
        request_id = request_id_of(form)
        values = {name: field(form, name) for name in ("scope", "items", "note")}
        with self.console.acting_as(staff) as client:
            try:
                wanted = await self._count_request(client, staff, request_id, values)
                created = (await client.call(client.inventory.CreateCount, wanted)).count
            except Refused as invalid:
                return await self.counts(request, attempt=Attempt("create", invalid.words, "", values), status=422)
            except grpc.aio.AioRpcError as error:
                refused = await self.console.services.refusal_on_the_form(error)
                attempt = Attempt("create", refused.words, refused.keep(request_id), values)
                return await self.counts(request, attempt=attempt, status=refused.status)
        flash(request, "Count opened: scan each item on the shelf and say how many are there.")
        return see_other(f"/at/{staff.location_id}/counts/{created.count_id}")

    async def _count_request(
        self, client: OmnistockClient, staff: Staff, request_id: str, values: dict[str, str]
    ) -> ipb.CreateCountRequest:
        if len(values["note"]) > MAX_NOTE:
            raise Refused(f"The note is longer than {MAX_NOTE} characters.", 422)
        if values["scope"] != "items":
            return ipb.CreateCountRequest(
                request_id=request_id, location_id=staff.location_id, scope=ipb.COUNT_SCOPE_ALL, note=values["note"]
            )
        codes = values["items"].replace(",", " ").split()
        if not codes:
            raise Refused("Scan or type the items to count, or count everything on hand here.", 422)
        if len(codes) > MAX_LISTED_ITEMS:
            raise Refused(f"A listed count has at most {MAX_LISTED_ITEMS} items; count everything instead.", 422)
        skus: list[str] = []
        for code in codes:
            found = await find_skus(client, code)
            if found.problem:
                raise Refused(found.problem, 404)
            if not found.exact or len(found.skus) > 1:
                raise Refused(f"“{code}” is not one item: scan its barcode or type its SKU code.", 422)
            skus.append(found.skus[0].sku)
        return ipb.CreateCountRequest(
            request_id=request_id,
            location_id=staff.location_id,
            scope=ipb.COUNT_SCOPE_SKUS,
            skus=list(dict.fromkeys(skus)),
            note=values["note"],
        )

    # One count.

    async def count(self, request: Request, *, attempt: Attempt | None = None, status: int = 200) -> Response:
        staff = self.console.staff(request, request.path_params["location_id"])
        count_id = request.path_params["count_id"]
        with self.console.acting_as(staff) as client:
            try:
                found = (await client.call(client.inventory.GetCount, ipb.GetCountRequest(count_id=count_id))).count
                if found.location_id != staff.location_id:
                    raise Refused(f"Count {count_id} is not at {staff.location_id}.", 404, grpc.StatusCode.NOT_FOUND)
                lines = await all_pages(
                    client, client.inventory.ListCountLines, ipb.ListCountLinesRequest(count_id=count_id), "lines"
                )
                skus = await titles(client, [line.sku for line in lines])
            except grpc.aio.AioRpcError as error:
                raise await self.console.services.refusal(error) from error
        # What still needs someone first, then by item.
        lines.sort(
            key=lambda line: (line.status != ipb.COUNT_LINE_STATUS_NEEDS_REVIEW, line.counted_at.seconds == 0, line.sku)
        )
        context = {
            "count": found,
            "lines": lines,
            "skus": skus,
            "attempt": attempt,
            "words": STATUS_WORDS,
            "line_words": LINE_WORDS,
            "COUNT": ipb,
            "zone": await self.console.zone(staff),
        }
        return self.console.render(request, "count.html", context, status=status, staff=staff)

    async def record(self, request: Request) -> Response:
        """What is on the shelf of one item now: every unit there, held ones included."""
        staff = self.console.staff(request, request.path_params["location_id"])
        count_id = request.path_params["count_id"]
        form = await self.console.form(request)
        request_id = request_id_of(form)
        values = {name: field(form, name) for name in ("code", "quantity")}
        counted = whole_number(values["quantity"], MAX_QUANTITY)
        if counted is None:
            words = f"Say how many are on the shelf: a whole number from 0 to {MAX_QUANTITY:,}."
            return await self.count(request, attempt=Attempt("record", words, request_id, values), status=422)
        with self.console.acting_as(staff) as client:
            try:
                found = await find_skus(client, values["code"])
                if found.problem:
                    raise Refused(found.problem, 404)
                if len(found.skus) > 1:
                    names = ", ".join(f"{sku.title} ({sku.sku})" for sku in found.skus[:3])
                    raise Refused(f"Several items match: {names}. Scan the barcode or type the SKU code.", 422)
                sku = found.skus[0]
                recorded = ipb.RecordCountRequest(
                    request_id=request_id, count_id=count_id, sku=sku.sku, quantity=counted
                )
                line = (await client.call(client.inventory.RecordCount, recorded)).line
            except Refused as invalid:
                return await self.count(
                    request, attempt=Attempt("record", invalid.words, request_id, values), status=422
                )
            except grpc.aio.AioRpcError as error:
                refused = await self.console.services.refusal_on_the_form(error)
                attempt = Attempt("record", refused.words, refused.keep(request_id), values)
                return await self.count(request, attempt=attempt, status=refused.status)
        again = " Count it again." if line.status == ipb.COUNT_LINE_STATUS_NEEDS_REVIEW else ""
        flash(request, f"Counted {sku.title} ({sku.sku}): {line.counted}.{again}")
        return see_other(f"/at/{staff.location_id}/counts/{count_id}")

    async def act(self, request: Request) -> Response:
        staff = self.console.staff(request, request.path_params["location_id"])
        count_id, action = request.path_params["count_id"], request.path_params["action"]
        form = await self.console.form(request)
        request_id = request_id_of(form)
        values = {"reason": field(form, "reason")}
        with self.console.acting_as(staff) as client:
            try:
                words = await self._perform(client, action, count_id, request_id, values)
            except Refused as invalid:
                return await self.count(
                    request, attempt=Attempt(action, invalid.words, "", values), status=invalid.status
                )
            except grpc.aio.AioRpcError as error:
                refused = await self.console.services.refusal_on_the_form(error)
                attempt = Attempt(action, refused.words, refused.keep(request_id), values)
                return await self.count(request, attempt=attempt, status=refused.status)
        flash(request, words)
        return see_other(f"/at/{staff.location_id}/counts/{count_id}")

    async def _perform(
        self, client: OmnistockClient, action: str, count_id: str, request_id: str, values: dict[str, str]
    ) -> str:
        inventory = client.inventory
        if action == "review":
            reviewed = await client.call(
                inventory.ReviewCount, ipb.ReviewCountRequest(request_id=request_id, count_id=count_id)
            )
            zeroed = f" {len(reviewed.zeroed)} item(s) nobody counted now count as none." if reviewed.zeroed else ""
            again = f" {len(reviewed.needs_review)} item(s) need counting again." if reviewed.needs_review else ""
            return f"Counting ended.{zeroed}{again}"
        if action == "complete":
            completed = await client.call(
                inventory.CompleteCount, ipb.CompleteCountRequest(request_id=request_id, count_id=count_id)
            )
            return f"Count posted: {len(completed.adjustments)} item(s) corrected in the stock."
        if action == "cancel":
            if not values["reason"]:
                raise Refused("Say why the count is cancelled.", 422)
            await client.call(
                inventory.CancelCount,
                ipb.CancelCountRequest(request_id=request_id, count_id=count_id, reason=values["reason"][:MAX_NOTE]),
            )
            return "Count cancelled: nothing was posted."
        raise Refused(f"“{action}” is not something a count can do.", 404, grpc.StatusCode.NOT_FOUND)


def _first_what_needs_someone(line: ipb.CountLine) -> tuple[bool, bool, str]:
    """Lines to count again first, then those nobody counted yet, then the rest, by SKU."""
    return (line.status != ipb.COUNT_LINE_STATUS_NEEDS_REVIEW, line.status != ipb.COUNT_LINE_STATUS_UNCOUNTED, line.sku)
