"""Cycle counts while the location keeps selling: open a count, scan the shelf, review what nobody
scanned, approve what a recount did not settle, and post the variances through the ledger.

Each change runs in one transaction with its request id's claim and holds the count's row lock, so
scans, the review and the completion of one count never interleave. A scan reads its stock row
without locking it: the row's version and on hand at that moment are the line's ledger position,
and whatever the till does afterwards is after it, in the book and on the shelf alike.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import count_messages, count_repository, messages, repository
from omnistock_inventory.domain.counts import (
    COUNTING,
    CountScope,
    CountStatus,
    Earlier,
    LineStatus,
    Scan,
    confirmable,
    in_scope,
    judge,
)
from omnistock_inventory.domain.holds import LineKey
from omnistock_inventory.service_layer import ledger, listing
from omnistock_inventory.service_layer.bundles import refuse_stock_of_bundle
from omnistock_inventory.settings import InventorySettings
from omnistock_platform.auth import current_principal, require_location
from omnistock_platform.db import Database
from omnistock_platform.errors import (
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    PreconditionViolation,
    Reason,
)
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.paging import key_after, key_token
from omnistock_platform.validation import MAX_QUANTITY, Validator

MAX_LISTED_SKUS = 1000
MAX_ATTRIBUTES = 16
MAX_NOTE = 500
# Lines a review answer lists (each list); the rest are in ListCountLines.
MAX_REVIEW_LINES = 1000
SCOPE_NAMES = {code: scope.value for code, scope in count_messages.SCOPE_CODES.items()}


def _state(row: Any) -> CountStatus:
    return CountStatus(row["status"])


def _require_counting(row: Any) -> None:
    status = _state(row)
    if status not in COUNTING:
        raise FailedPrecondition(
            f"count {row['count_id']} is {status.value}",
            [PreconditionViolation("COUNT_STATUS", row["count_id"], f"count is {status.value}")],
            reason=Reason.INVALID_STATE,
        )


def _lines(number: int) -> str:
    return f"{number} line" if number == 1 else f"{number} lines"


def _hidden(row: Any) -> bool:
    """Staff count blind: the book stays out of their answers until the count is over."""
    return current_principal().location_scoped and _state(row) in COUNTING


class Counts:
    def __init__(
        self, db: Database, outbox: Outbox, idempotency: IdempotencyStore, settings: InventorySettings
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.idempotency = idempotency
        self.settings = settings

    # -- reading ----------------------------------------------------------------------------------------

    async def _message(self, conn: asyncpg.Connection | asyncpg.Pool, row: Any, *, hidden: bool) -> pb.Count:
        return count_messages.count(row, await count_repository.summary(conn, row["count_id"]), hidden=hidden)

    async def _readable(self, count_id: str) -> Any:
        check = Validator()
        check.identifier("count_id", count_id)
        check.raise_if_invalid()
        row = await count_repository.get_count(self.db.pool, count_id)
        if row is None:
            raise NotFound("count", count_id, field="count_id")
        require_location(row["location_id"], "count at location")
        return row

    async def get(self, request: pb.GetCountRequest) -> pb.GetCountResponse:
        row = await self._readable(request.count_id)
        return pb.GetCountResponse(count=await self._message(self.db.pool, row, hidden=_hidden(row)))

    async def list_counts(self, request: pb.ListCountsRequest) -> pb.ListCountsResponse:
        wanted = listing.filters(request, count_messages.STATUS_CODES)
        await listing.ensure_known(self.db.pool, location_id=request.location_id)
        rows = await count_repository.list_counts(
            self.db.pool,
            location_ids=wanted.location_ids,
            status=wanted.status,
            after=wanted.after,
            limit=wanted.limit + 1,
        )
        page, following = listing.newest_first(rows, wanted.limit, "count_id")
        return pb.ListCountsResponse(
            counts=[await self._message(self.db.pool, row, hidden=_hidden(row)) for row in page],
            next_page_token=following,
        )

    async def list_lines(self, request: pb.ListCountLinesRequest) -> pb.ListCountLinesResponse:
        check = Validator()
        check.check(
            request.status == 0 or request.status in count_messages.LINE_STATUS_CODES, "status", "unknown value"
        )
        limit = check.page_size("page_size", request.page_size)
        after = key_after(request.page_token)
        check.raise_if_invalid()
        row = await self._readable(request.count_id)
        hidden = _hidden(row)
        statuses = [count_messages.LINE_STATUS_CODES[request.status].value] if request.status else []
        lines = await count_repository.list_lines(
            self.db.pool, row["count_id"], statuses=statuses, after=after, limit=limit + 1
        )
        page = lines[:limit]
        return pb.ListCountLinesResponse(
            lines=[count_messages.line(line, hidden=hidden) for line in page],
            next_page_token=key_token(page[-1]["sku"]) if len(lines) > limit else "",
            figures_hidden=hidden,
        )

    # -- opening -----------------------------------------------------------------------------------------

    async def create(self, request: pb.CreateCountRequest) -> pb.CreateCountResponse:
        check = Validator()
        check.identifier("location_id", request.location_id)
        check.enum("scope", request.scope, SCOPE_NAMES)
        scope = count_messages.SCOPE_CODES.get(request.scope)
        skus = sorted(set(request.skus))
        if scope is CountScope.SKUS:
            check.check(0 < len(request.skus) <= MAX_LISTED_SKUS, "skus", f"give between 1 and {MAX_LISTED_SKUS}")
        else:
            check.check(not request.skus, "skus", "only for COUNT_SCOPE_SKUS")
        for index, sku in enumerate(request.skus[:MAX_LISTED_SKUS]):
            check.identifier(f"skus[{index}]", sku)
        if scope is CountScope.ATTRIBUTES:
            check.check(
                0 < len(request.attributes) <= MAX_ATTRIBUTES, "attributes", f"give between 1 and {MAX_ATTRIBUTES}"
            )
        else:
            check.check(not request.attributes, "attributes", "only for COUNT_SCOPE_ATTRIBUTES")
        for key, value in list(request.attributes.items())[:MAX_ATTRIBUTES]:
            check.check(0 < len(key) <= 64, f"attributes[{key[:64]!r}]", "keys are 1 to 64 characters")
            check.text(f"attributes[{key[:64]!r}]", key, max_length=64)
            check.text(f"attributes[{key[:64]!r}]", value)
        if request.HasField("variance_threshold"):
            check.non_negative("variance_threshold", request.variance_threshold)
        check.text("note", request.note, max_length=MAX_NOTE)
        check.raise_if_invalid()
        assert scope is not None
        require_location(request.location_id)
        threshold = (
            request.variance_threshold
            if request.HasField("variance_threshold")
            else self.settings.count_variance_threshold
        )

        async def work(conn: asyncpg.Connection) -> pb.CreateCountResponse:
            if await repository.get_location(conn, request.location_id) is None:
                raise NotFound("location", request.location_id, field="location_id")
            if skus:
                known = {row["sku"]: row for row in await repository.get_skus(conn, skus)}
                for index, sku in enumerate(request.skus):
                    if sku not in known:
                        raise NotFound("sku", sku, field=f"skus[{index}]")
                    refuse_stock_of_bundle(sku, known[sku]["components"])  # its components are counted
            if scope is CountScope.ATTRIBUTES and not await count_repository.any_sku_matches(
                conn, dict(request.attributes)
            ):
                # As a listed SKU the catalogue lacks: a scope nothing could ever be scanned in is a
                # mistake (a misspelt value), not an empty count.
                wanted = ", ".join(f"{key}={value}" for key, value in sorted(request.attributes.items()))
                raise NotFound("sku", wanted, field="attributes", message=f"no SKU matches {wanted}")
            row = await count_repository.insert_count(
                conn,
                count_id=str(uuid.uuid4()),
                location_id=request.location_id,
                scope=scope,
                skus=skus,
                attributes=dict(request.attributes),
                variance_threshold=threshold,
                note=request.note,
                created_by=current_principal().subject,
            )
            await count_repository.add_expected_lines(conn, row)
            return pb.CreateCountResponse(count=await self._announce(conn, row, "count.created"))

        return await self.idempotency.run(
            self.db, "CreateCount", request.request_id, request, pb.CreateCountResponse, work
        )

    async def _announce(self, conn: asyncpg.Connection, row: Any, event: str) -> pb.Count:
        """The count's event, with every figure, and the count as the caller may see it."""
        summary = await count_repository.summary(conn, row["count_id"])
        await self.outbox.add(conn, event, pb.CountChanged(count=count_messages.count(row, summary, hidden=False)))
        return count_messages.count(row, summary, hidden=_hidden(row))

    async def _locked(self, conn: asyncpg.Connection, count_id: str) -> Any:
        row = await count_repository.get_count(conn, count_id, lock=True)
        if row is None:
            raise NotFound("count", count_id, field="count_id")
        require_location(row["location_id"], "count at location")
        return row

    @staticmethod
    def _validate_change(request: Any) -> Validator:
        check = Validator()
        check.identifier("count_id", request.count_id)
        return check

    # -- counting ----------------------------------------------------------------------------------------

    async def record(self, request: pb.RecordCountRequest) -> pb.RecordCountResponse:
        check = self._validate_change(request)
        check.identifier("sku", request.sku)
        check.non_negative("quantity", request.quantity, maximum=MAX_QUANTITY)
        check.raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> pb.RecordCountResponse:
            count = await self._locked(conn, request.count_id)
            _require_counting(count)
            sku_row = await repository.get_sku(conn, request.sku)
            if sku_row is None:
                raise NotFound("sku", request.sku, field="sku")
            # A set on the shelf is its components: a scan of it would make it a stock row of its own.
            refuse_stock_of_bundle(request.sku, sku_row["components"])
            scope = CountScope(count["scope"])
            if not in_scope(scope, count["skus"], count["attributes"], request.sku, sku_row["attributes"]):
                raise FailedPrecondition(
                    f"{request.sku} is not in the scope of count {request.count_id}",
                    [PreconditionViolation("COUNT_SCOPE", request.sku, f"not in this {scope.value} count")],
                )
            location_id = count["location_id"]
            found = await count_repository.position(conn, location_id, request.sku)
            if found is None:  # on the shelf, unknown to the book here: a row from nothing
                await repository.ensure_stock_row(conn, location_id, request.sku)
                found = await count_repository.position(conn, location_id, request.sku)
                assert found is not None
            book, version = found
            scan = Scan(counted=request.quantity, book_on_hand=book, version=version)
            before = await count_repository.get_line(conn, count["count_id"], request.sku, lock=True)
            earlier = (
                Earlier(LineStatus(before["status"]), before["variance"], before["zeroed"])
                if before is not None
                else None
            )
            line = await count_repository.save_scan(
                conn,
                count["count_id"],
                request.sku,
                scan,
                status=judge(scan, count["variance_threshold"], earlier),
                previous_variance=confirmable(earlier),
                counted_by=current_principal().subject,
                recount=earlier is not None and earlier.status is not LineStatus.UNCOUNTED,
            )
            count = await count_repository.touch(conn, count["count_id"])
            hidden = _hidden(count)
            return pb.RecordCountResponse(
                line=count_messages.line(line, hidden=hidden), count=await self._message(conn, count, hidden=hidden)
            )

        return await self.idempotency.run(
            self.db, "RecordCount", request.request_id, request, pb.RecordCountResponse, work
        )

    async def review(self, request: pb.ReviewCountRequest) -> pb.ReviewCountResponse:
        self._validate_change(request).raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> pb.ReviewCountResponse:
            count = await self._locked(conn, request.count_id)
            _require_counting(count)
            # SKUs of the scope that arrived since the count was opened are expected too.
            await count_repository.add_expected_lines(conn, count)
            await count_repository.zero_uncounted(
                conn,
                count["count_id"],
                count["location_id"],
                threshold=count["variance_threshold"],
                counted_by=current_principal().subject,
            )
            first = _state(count) is CountStatus.OPEN
            count = await count_repository.set_status(
                conn, count["count_id"], CountStatus.IN_REVIEW.value, reviewed=first
            )
            message = await self._announce(conn, count, "count.reviewed")
            hidden = message.figures_hidden
            zeroed = await count_repository.zeroed_lines(conn, count["count_id"], MAX_REVIEW_LINES)
            attention = await count_repository.lines_needing_review(conn, count["count_id"])
            return pb.ReviewCountResponse(
                count=message,
                zeroed=[count_messages.line(line, hidden=hidden) for line in zeroed],
                needs_review=[count_messages.line(line, hidden=hidden) for line in attention[:MAX_REVIEW_LINES]],
            )

        return await self.idempotency.run(
            self.db, "ReviewCount", request.request_id, request, pb.ReviewCountResponse, work
        )

    async def approve(self, request: pb.ApproveCountRequest) -> pb.ApproveCountResponse:
        check = self._validate_change(request)
        check.check(len(request.skus) <= MAX_LISTED_SKUS, "skus", f"at most {MAX_LISTED_SKUS}")
        for index, sku in enumerate(request.skus[:MAX_LISTED_SKUS]):
            check.identifier(f"skus[{index}]", sku)
        check.text("note", request.note, max_length=MAX_NOTE)
        check.raise_if_invalid()
        approver = current_principal().subject

        async def work(conn: asyncpg.Connection) -> pb.ApproveCountResponse:
            count = await self._locked(conn, request.count_id)
            _require_counting(count)
            if request.skus:
                lines = await count_repository.lines_of(conn, count["count_id"], sorted(set(request.skus)))
                found = {line["sku"]: line for line in lines}
                for index, sku in enumerate(request.skus):
                    line = found.get(sku)
                    if line is None:
                        raise NotFound("count line", f"{count['count_id']}/{sku}", field=f"skus[{index}]")
                    if line["status"] != LineStatus.NEEDS_REVIEW:
                        raise FailedPrecondition(
                            f"{sku} is {line['status'].replace('_', ' ')}: only a line that needs review is approved",
                            [PreconditionViolation("COUNT_LINE_STATUS", sku, f"line is {line['status']}")],
                            reason=Reason.INVALID_STATE,
                        )
            else:
                lines = await count_repository.lines_needing_review(conn, count["count_id"], lock=True)
            own = sorted(line["sku"] for line in lines if line["counted_by"] == approver)
            if own:
                # Four eyes: a variance beyond the threshold is accepted by someone who did not count it.
                raise PermissionDenied(
                    f"{approver!r} counted {', '.join(own[:10])} and may not approve their own count",
                    reason=Reason.ACTION_NOT_ALLOWED,
                )
            approved = await count_repository.approve(
                conn, count["count_id"], [line["sku"] for line in lines], approver
            )
            count = await count_repository.touch(conn, count["count_id"])
            hidden = _hidden(count)
            return pb.ApproveCountResponse(
                count=await self._message(conn, count, hidden=hidden),
                approved=[
                    count_messages.line(line, hidden=hidden) for line in sorted(approved, key=lambda r: r["sku"])
                ],
            )

        return await self.idempotency.run(
            self.db, "ApproveCount", request.request_id, request, pb.ApproveCountResponse, work
        )

    # -- closing -----------------------------------------------------------------------------------------

    async def complete(self, request: pb.CompleteCountRequest) -> pb.CompleteCountResponse:
        self._validate_change(request).raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> pb.CompleteCountResponse:
            count = await self._locked(conn, request.count_id)
            count_id, location_id = count["count_id"], count["location_id"]
            _require_counting(count)
            if _state(count) is not CountStatus.IN_REVIEW:
                summary = await count_repository.summary(conn, count_id)
                raise FailedPrecondition(
                    f"count {count_id} has not been reviewed: review it first ({summary.uncounted} of"
                    f" {summary.lines} lines are not counted and would count as zero)",
                    [PreconditionViolation("COUNT_STATUS", count_id, "count is open: review it first")],
                    reason=Reason.INVALID_STATE,
                )
            attention = await count_repository.lines_needing_review(conn, count_id)
            if attention:
                skus = [line["sku"] for line in attention]
                raise FailedPrecondition(
                    f"{_lines(len(skus))} {'needs' if len(skus) == 1 else 'need'} a recount or an approval: "
                    f"{', '.join(skus[:10])}",
                    [
                        PreconditionViolation("COUNT_LINE_STATUS", sku, "variance above the threshold")
                        for sku in skus[:100]
                    ],
                    reason=Reason.INVALID_STATE,
                )
            adjustments = await self._post(conn, count_id, location_id)
            closed = await count_repository.set_status(
                conn, count_id, CountStatus.COMPLETED.value, closed_by=current_principal().subject
            )
            return pb.CompleteCountResponse(
                count=await self._announce(conn, closed, "count.completed"), adjustments=adjustments
            )

        return await self.idempotency.run(
            self.db, "CompleteCount", request.request_id, request, pb.CompleteCountResponse, work
        )

    async def _post(self, conn: asyncpg.Connection, count_id: str, location_id: str) -> list[pb.Movement]:
        """Each variance as one adjustment on the on hand of now, all or none."""
        lines = await count_repository.lines_to_post(conn, count_id)
        rows = await count_repository.lock_rows(conn, location_id, [line["sku"] for line in lines])
        # Two counts of one shelf at once, or a count and a manual correction: the first correction
        # changes the book alone, so a variance taken before it would book the same missing units
        # twice. Counted again, the line takes the corrected book as its base.
        stale = await count_repository.corrected_since_counted(conn, count_id, location_id, lines)
        if stale:
            raise FailedPrecondition(
                f"{_lines(len(stale))} counted before a correction of the book (another count's or an"
                f" adjustment's) for {'it' if len(stale) == 1 else 'them'} ({', '.join(stale[:10])}): count again",
                [
                    PreconditionViolation(
                        "COUNTED_BEFORE_CORRECTION",
                        f"{location_id}/{sku}",
                        "the book was corrected (a count posted, or stock adjusted for a count or a correction)"
                        " after this line was counted",
                    )
                    for sku in stale[:100]
                ],
                reason=Reason.INVALID_STATE,
            )
        refused = []
        for line in lines:
            row = rows[line["sku"]]
            after = row["on_hand"] + line["variance"]
            # Units held against units in transit (a pool's allow_transfer_in_transit) are not on the
            # shelf: only what they do not cover must be.
            if after < max(row["held"] - row["promisable"], 0):
                refused.append(
                    PreconditionViolation(
                        "HELD",
                        f"{location_id}/{line['sku']}",
                        f"on hand would drop to {after} while {row['held']} are held",
                    )
                )
        if refused:
            # Named in the message: the screen that shows it to the person counting shows only that.
            named = ", ".join(violation.subject.rpartition("/")[2] for violation in refused[:10])
            raise FailedPrecondition(
                f"{_lines(len(refused))} counted would take on hand below what is held ({named}): release or"
                " re-route those holds, or count again",
                refused[:100],
            )
        backorder = {
            row["sku"]: bool(row["allow_backorder"])
            for row in await repository.get_skus(conn, [line["sku"] for line in lines])
        }
        posted = []
        for line in lines:
            sku, variance = line["sku"], line["variance"]
            changed = await repository.change_stock(conn, LineKey(location_id, sku), on_hand=variance)
            await ledger.record(
                conn,
                self.outbox,
                changed,
                kind="adjustment",
                on_hand_delta=variance,
                reason=f"count: count {count_id}, counted {line['counted']} at version {line['version']}",
                document_ref=f"count:{count_id}",
                backorder=backorder.get(sku, False),
            )
            movement = await count_repository.adjustment_at(conn, location_id, sku, changed["version"])
            await count_repository.set_movement(conn, count_id, sku, movement["movement_id"])
            posted.append(messages.movement(movement))
        return posted

    async def cancel(self, request: pb.CancelCountRequest) -> pb.CancelCountResponse:
        check = self._validate_change(request)
        check.text("reason", request.reason, max_length=MAX_NOTE)
        check.raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> pb.CancelCountResponse:
            count = await self._locked(conn, request.count_id)
            if _state(count) is CountStatus.CANCELLED:
                return pb.CancelCountResponse(count=await self._message(conn, count, hidden=_hidden(count)))
            _require_counting(count)
            closed = await count_repository.set_status(
                conn,
                count["count_id"],
                CountStatus.CANCELLED.value,
                closed_by=current_principal().subject,
                cancel_reason=request.reason,
            )
            return pb.CancelCountResponse(count=await self._announce(conn, closed, "count.cancelled"))

        return await self.idempotency.run(
            self.db, "CancelCount", request.request_id, request, pb.CancelCountResponse, work
        )
