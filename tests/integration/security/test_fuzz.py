"""Property-based fuzzing of every request of every RPC of every installed service, as admin.

For any request, however hostile:
- the answer is never UNKNOWN or INTERNAL (bad input is the caller's error, said so);
- INVALID_ARGUMENT names the offending field (google.rpc.BadRequest);
- every refusal carries google.rpc.ErrorInfo with a documented reason, in the service's domain;
- INVALID_ARGUMENT changed nothing: no row of any service table was written or deleted;
- the service still reports SERVING afterwards.

OMNISTOCK_FUZZ_EXAMPLES sets the examples per RPC (25 by default; `make fuzz`: 500).
"""

from __future__ import annotations

import contextvars
import os
import uuid
from collections import Counter
from functools import cache

import grpc
import pytest
from google.protobuf import duration_pb2, text_format, timestamp_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnistock.insights.v1 import insights_pb2 as insights_pb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform import paging
from omnistock_platform.auth import Principal, Role
from omnistock_platform.errors import Reason
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.grpc.server import MAX_MESSAGE_BYTES
from omnistock_platform.idempotency import caller_key
from omnistock_platform.registry import installed_services
from tests.integration.security.strategies import requests
from tests.integration.security.support import QuietStack, call, every_rpc, method_descriptor

EXAMPLES = int(os.environ.get("OMNISTOCK_FUZZ_EXAMPLES", "25"))
NEVER = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
# What the fuzzer got back, per RPC: shows whether requests get past validation at all.
ANSWERS: dict[str, Counter[str]] = {}


@cache
def strategy(service: str, method: str, known: tuple[str, ...]) -> st.SearchStrategy[Message]:
    return requests(method_descriptor(service, method).input_type, known)


def shown(request: Message | bytes) -> str:
    text = repr(request) if isinstance(request, bytes) else text_format.MessageToString(request, as_one_line=True)
    return text if len(text) < 2000 else f"{text[:2000]}... ({len(text)} characters)"


async def survives(quiet: QuietStack, service: str, method: str, request: Message | bytes) -> grpc.StatusCode:
    """Sends one request as admin and checks everything the module promises."""
    await quiet.settle()
    before = await quiet.snapshot()
    code, error = await call(quiet.admin(service), service, method, request)
    ANSWERS.setdefault(f"{service}.{method}", Counter())[code.name] += 1
    details = error.details() if error is not None else ""
    assert code not in NEVER, f"{service}.{method} answered {code.name} ({details}) to {shown(request)}"
    size = len(request) if isinstance(request, bytes) else request.ByteSize()
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        # Only for a request over the size limit: an answer too big for the client is a bug too.
        assert size > MAX_MESSAGE_BYTES, f"{service}.{method}: RESOURCE_EXHAUSTED ({details}) for {size} bytes"
    elif error is not None:  # every refusal of the service's own carries its reason (docs/errors.md)
        infos = details_of(error, error_details_pb2.ErrorInfo)
        assert [(info.domain, info.reason in Reason.__members__) for info in infos] == [
            (f"omnistock.{service}", True)
        ], f"{service}.{method} answered {code.name} ({details}) without a proper ErrorInfo"
    if code == grpc.StatusCode.INVALID_ARGUMENT and isinstance(request, Message):
        assert error is not None
        fields = [v.field for bad in details_of(error, error_details_pb2.BadRequest) for v in bad.field_violations]
        assert fields and all(fields), f"{service}.{method}: INVALID_ARGUMENT naming no field: {details}"
        changed = await quiet.changed_since(before)
        assert not changed, f"{service}.{method} refused {shown(request)} but changed {changed}"
    health = await quiet.health(service)
    assert health == "SERVING", f"{service} is {health} after {method}"
    return code


@pytest.mark.fuzz
@pytest.mark.parametrize(("service", "method"), every_rpc(), ids=[f"{s}.{m}" for s, m in every_rpc()])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(data=st.data())
async def test_any_request_is_answered_properly(quiet: QuietStack, service: str, method: str, data: st.DataObject):
    request = data.draw(strategy(service, method, tuple(quiet.known)), label="request")
    await survives(quiet, service, method, request)


@pytest.mark.fuzz
@pytest.mark.parametrize(("service", "method"), every_rpc(), ids=[f"{s}.{m}" for s, m in every_rpc()])
async def test_bytes_that_are_not_the_request_are_invalid_argument(quiet: QuietStack, service: str, method: str):
    garbage = [b"\xff\xff\xff", b"\x08", b"\x12\x80"]  # a bad tag, a cut varint, a cut length
    strings = [f for f in method_descriptor(service, method).input_type.fields if f.type == f.TYPE_STRING]
    if strings:  # a string field that is not UTF-8
        garbage.append(bytes([strings[0].number << 3 | 2, 4]) + b"\xff\xfe\xfd\xfc")
    for request in garbage:
        code = await survives(quiet, service, method, request)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, f"{service}.{method} took {request!r}: {code.name}"


def ts(seconds: int = 0, nanos: int = 0) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def span(seconds: int = 0, nanos: int = 0) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=seconds, nanos=nanos)


def key_token(service: str, method: str, request: Message, key: str) -> str:
    """A token of this key as the service gives it to the quiet stack's admin on a page of `request`:
    bound to that list, query and caller, so the service reads the key it holds."""

    def made() -> str:
        paging.bind(f"{service}.{method}", caller_key(Principal(subject="test", role=Role.ADMIN)), request)
        return paging.key_token(key)

    return contextvars.copy_context().run(made)


# Every request the fuzzer once answered wrongly, with the field the answer must now name.
REGRESSIONS: list[tuple[str, str, Message, str]] = [
    # NUL in text: PostgreSQL refused it, INTERNAL (Validator.text).
    ("inventory", "ListLocations", ipb.ListLocationsRequest(city="\x00"), "city"),
    ("inventory", "ListSkus", ipb.ListSkusRequest(attributes={"": "\x00"}), "attributes["),
    # A page token that decodes to NUL: PostgreSQL refused it, INTERNAL.
    ("inventory", "ListLocations", ipb.ListLocationsRequest(page_token="A00A"), "page_token"),
    ("inventory", "ListHolds", ipb.ListHoldsRequest(page_token="A00A"), "page_token"),
    # Timestamps and durations beyond their range: OverflowError in ToDatetime/ToTimedelta, INTERNAL.
    ("inventory", "Hold", ipb.HoldRequest(ttl=span(2**63 - 1)), "ttl"),
    ("inventory", "ExtendHold", ipb.ExtendHoldRequest(hold_id="h", expires_at=ts(2**63 - 1)), "expires_at"),
    ("inventory", "TransferHold", ipb.TransferHoldRequest(expires_at=ts(253_402_300_800)), "expires_at"),
    ("inventory", "ExpectStock", ipb.ExpectStockRequest(expected_at=ts(-(2**63))), "expected_at"),
    ("inventory", "ListMovements", ipb.ListMovementsRequest(since=ts(nanos=-1)), "since"),
    ("reservations", "CreateReservation", rpb.CreateReservationRequest(hold_for=span(2**63 - 1)), "hold_for"),
    ("reservations", "ExtendReservation", rpb.ExtendReservationRequest(extend_by=span(-(2**63))), "extend_by"),
    # A page token of digits beyond bigint: asyncpg overflow, INTERNAL.
    (
        "inventory",
        "ListMovements",
        ipb.ListMovementsRequest(
            page_token=key_token("inventory", "ListMovements", ipb.ListMovementsRequest(), "9" * 23)
        ),
        "page_token",
    ),
    # A page token whose key is a digit int() cannot read ("²" passes isdigit): ValueError, INTERNAL.
    (
        "inventory",
        "ListMovements",
        ipb.ListMovementsRequest(page_token=key_token("inventory", "ListMovements", ipb.ListMovementsRequest(), "²")),
        "page_token",
    ),
    # A report ending on 0001-01-01 starts before the calendar does: OverflowError, INTERNAL.
    ("insights", "GetChannelInsights", insights_pb.GetChannelInsightsRequest(to_date="0001-01-01"), "to_date"),
    # A request id the idempotency table cannot store (NUL), or x-request-id cannot carry (not ASCII).
    ("inventory", "UpsertSku", ipb.UpsertSkuRequest(request_id="\x00", sku=ipb.Sku(sku="A", title="t")), "request_id"),
    ("reservations", "CancelReservation", rpb.CancelReservationRequest(request_id="über-1"), "request_id"),
    # So many violations, or such long ones, that the error outgrew the client's 8 KiB for
    # trailers: RESOURCE_EXHAUSTED instead of INVALID_ARGUMENT.
    ("inventory", "BatchGetStock", ipb.BatchGetStockRequest(skus=["\x01" * 200] * 1001), "skus"),
    ("inventory", "UpsertSku", ipb.UpsertSkuRequest(sku=ipb.Sku(attributes={"k" * 100_000: "v"})), "sku.attributes["),
]


REGRESSIONS = [regression for regression in REGRESSIONS if regression[0] in installed_services()]


@pytest.mark.fuzz
@pytest.mark.parametrize(
    ("service", "method", "request_", "field"), REGRESSIONS, ids=[f"{s}.{m}-{f}" for s, m, _, f in REGRESSIONS]
)
async def test_what_the_fuzzer_found_stays_fixed(
    quiet: QuietStack, service: str, method: str, request_: Message, field: str
) -> None:
    code, error = await call(quiet.admin(service), service, method, request_)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, f"{code.name}: {error.details() if error else ''}"
    assert error is not None
    fields = [v.field for bad in details_of(error, error_details_pb2.BadRequest) for v in bad.field_violations]
    assert any(found.startswith(field) for found in fields), fields
    assert await survives(quiet, service, method, request_) == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.fuzz
async def test_the_row_check_sees_what_a_call_changed(quiet: QuietStack) -> None:
    """The no-change check is not vacuous: a call that writes is caught by it."""
    await quiet.settle()
    before = await quiet.snapshot()
    request = ipb.UpsertSkuRequest(request_id=str(uuid.uuid4()), sku=ipb.Sku(sku=f"SKU-{uuid.uuid4().hex}", title="t"))
    assert await call(quiet.admin("inventory"), "inventory", "UpsertSku", request) == (grpc.StatusCode.OK, None)
    changed = await quiet.changed_since(before)
    assert {"inventory.skus", "inventory.idempotency"} <= set(changed), changed


@pytest.mark.fuzz
def test_fuzz_summary() -> None:
    """Not a check: what the fuzzer got back per RPC, printed with -s (does it get past validation?)."""
    for rpc, answers in sorted(ANSWERS.items()):
        print(f"{rpc:45} {dict(answers.most_common())}")
