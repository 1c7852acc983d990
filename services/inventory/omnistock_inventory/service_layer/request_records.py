"""What inventory keeps of the changes made under request ids, read back by the services that sent
them: whether a change asked for before a crash went through, without asking for it again."""

from __future__ import annotations

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_platform.db import Database
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.validation import Validator


class RequestRecords:
    def __init__(self, db: Database, idempotency: IdempotencyStore) -> None:
        self.db = db
        self.idempotency = idempotency

    async def get(self, request: pb.GetRequestRecordRequest) -> pb.GetRequestRecordResponse:
        check = Validator()
        check.request_id("change_request_id", request.change_request_id, required=True)
        check.raise_if_invalid()
        found = await self.idempotency.record_of(self.db, request.change_request_id)
        if found is None:
            return pb.GetRequestRecordResponse()  # no change of the caller's: nothing to say
        record = pb.RequestRecord(request_id=found.request_id, method=found.method, answered=found.answered)
        record.created_at.FromDatetime(found.created_at)
        return pb.GetRequestRecordResponse(record=record)
