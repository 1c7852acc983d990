"""Whole classes of bad values, each tried in every field of its kind of every RPC, the fields found
from the proto descriptors (so a field added anywhere is tried without anyone listing it), each put
into a request that is otherwise valid (the access walk's, built as admin):

- a Timestamp or a Duration beyond its type's range (nanos of a second or more, or negative; a year
  0 or 10000; durations of mixed signs or over 10,000 years);
- a Duration negative, or of 10,000 years (within its type, beyond any limit);
- in a change, a Timestamp at the calendar's end (9999-12-31), which the services would carry into
  sums and promises;
- a FieldMask with no paths, an unknown or nested path, or a path twice before an unknown one (the
  violation names the unknown one's own index);
- an enum value the schema does not know (proto3 keeps them);
- an integer at its type's limits, or -1 where only counts go; a quantity of 0;
- a repeated field of 10,001 entries; two identical entries in a change (where the docs do not say
  they are summed or answered once).

Each is INVALID_ARGUMENT naming the field (google.rpc.BadRequest), and no row of any service table
is written or deleted (the quiet stack's snapshot, after the stack has settled)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.protobuf import descriptor
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2

from omnistock_platform.auth import Role
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import unique_id
from tests.integration.security.fields import FD, Place, places, value_at, with_items, with_value
from tests.integration.security.scenarios import SCENARIOS, Fixtures
from tests.integration.security.support import QuietStack, call, every_rpc, method_descriptor

# Past the end of every limit on a repeated field (the largest is 1,000 SKUs or locations).
MANY = 10_001
INT_TYPES = {
    FD.TYPE_INT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FD.TYPE_INT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
}
MASK = "google.protobuf.FieldMask"
END_OF_CALENDAR = 253_402_300_799  # 9999-12-31T23:59:59Z
TIMESTAMPS_OUT_OF_RANGE = {
    "nanos of a whole second": Timestamp(seconds=1_900_000_000, nanos=1_000_000_000),
    "negative nanos": Timestamp(seconds=1_900_000_000, nanos=-1),
    "the year 0": Timestamp(seconds=-62_135_596_801),
    "the year 10000": Timestamp(seconds=END_OF_CALENDAR + 1),
}
DURATIONS_OUT_OF_RANGE = {
    "nanos of a whole second": Duration(seconds=60, nanos=1_000_000_000),
    "mixed signs": Duration(seconds=60, nanos=-1),
    "over 10,000 years": Duration(seconds=315_576_000_001),
}
DURATIONS_BEYOND_LIMITS = {
    "negative": Duration(seconds=-60),
    "a negative nanosecond": Duration(nanos=-1),
    "10,000 years": Duration(seconds=315_576_000_000),
}

# Integers that may be negative, with why.
SIGNED = {
    ("inventory", "AdjustStock", "delta"),  # a loss
}
# Quantities that may be zero, with why.
ZERO = {
    ("inventory", "RecordCount", "quantity"),  # an empty shelf
    ("fulfilment", "ConfirmPick", "picked[0].quantity"),  # none found: a short pick
    ("orders", "EditOrder", "lines[0].quantity"),  # the line taken off the order
}
# Fields the docs say a request ignores: a pool's channel (the request's names it), the output
# fields of a subscription given to an update.
IGNORED = {("inventory", "SetChannelPools", "pools[0].channel")} | {
    ("webhooks", "UpdateSubscription", f"subscription.{name}")
    for name in (
        "create_time",
        "update_time",
        "secret_create_time",
        "previous_secret_expire_time",
        "pending_deliveries",
        "dead_deliveries",
    )
}
# Repeated fields whose identical entries the docs say are summed or answered once.
MERGED = {
    ("inventory", "BatchGetLocations", "location_ids"),
    ("inventory", "BatchGetSkus", "skus"),
    ("inventory", "BatchGetStock", "skus"),
    ("inventory", "BatchGetStock", "location_ids"),
    ("inventory", "WatchStock", "skus"),
    ("inventory", "WatchStock", "location_ids"),
    ("inventory", "Hold", "lines"),
    ("inventory", "CreateCount", "skus"),
    ("inventory", "ApproveCount", "skus"),
    # Sets: a group's members, a subscription's event patterns.
    ("inventory", "UpsertLocationGroup", "group.location_ids"),
    ("webhooks", "CreateSubscription", "event_types"),
    ("webhooks", "UpdateSubscription", "subscription.event_types"),
}


def is_change(service: str, method: str) -> bool:
    return "request_id" in method_descriptor(service, method).input_type.fields_by_name


def is_int(field: descriptor.FieldDescriptor) -> bool:
    return field.type in INT_TYPES


def is_message(name: str) -> Callable[[descriptor.FieldDescriptor], bool]:
    return lambda field: field.type == FD.TYPE_MESSAGE and field.message_type.full_name == name


def is_enum(field: descriptor.FieldDescriptor) -> bool:
    return field.type == FD.TYPE_ENUM


def is_repeated(field: descriptor.FieldDescriptor) -> bool:
    return field.is_repeated


@dataclass(frozen=True)
class Case:
    place: Place
    what: str
    # The request, given the RPC's valid one: the bad value at `place`.
    make: Callable[[Message], Message]
    # The field the refusal must name (a repeated field's item, or the field itself).
    named: str

    def __str__(self) -> str:
        return f"{self.named} ({self.what})"


def _put(place: Place, value: Any) -> Callable[[Message], Message]:
    return lambda base: _masked(with_value(base, place, value), place)


def _masked(request: Message, place: Place) -> Message:
    """An update (a request with a FieldMask beside the resource) changes only what its mask names:
    a value put into the resource gets its field named in the mask, so that it is not ignored."""
    masks = [f for f in request.DESCRIPTOR.fields if f.message_type and f.message_type.full_name == MASK]
    if masks and len(place.steps) > 1 and place.steps[0] not in masks:
        getattr(request, masks[0].name).CopyFrom(FieldMask(paths=[place.steps[1].name]))
    return request


def _mask(place: Place, paths: list[str]) -> Callable[[Message], Message]:
    """A mask of `paths`, where {valid} stands for the first path of the valid request's own mask."""

    def make(base: Message) -> Message:
        valid = _field_of(base, place).paths[0]
        return with_value(base, place, FieldMask(paths=[path.format(valid=valid) for path in paths]))

    return make


def _field_of(base: Message, place: Place) -> Any:
    """The value at `place` of a request where every message on the way is set (not a repeated one)."""
    target: Any = base
    for step in place.steps:
        target = getattr(target, step.name)
    return target


def _duplicated(place: Place) -> Callable[[Message], Message]:
    return lambda base: _masked(with_items(base, place, value_at(base, place)[:1] * 2), place)


def _many(place: Place) -> Callable[[Message], Message]:
    return lambda base: _masked(with_items(base, place, (value_at(base, place) or [_blank(place)])[:1] * MANY), place)


def _blank(place: Place) -> Any:
    if place.field.type == FD.TYPE_MESSAGE:
        return place.field.message_type._concrete_class()
    return place.field.default_value if not place.field.is_repeated else _scalar_default(place.field)


def _scalar_default(field: descriptor.FieldDescriptor) -> Any:
    return "X" if field.type == FD.TYPE_STRING else b"" if field.type == FD.TYPE_BYTES else 0


def cases_of(service: str, method: str) -> list[Case]:
    request = method_descriptor(service, method).input_type
    change = is_change(service, method)
    found: list[Case] = []
    for place in places(request, is_message("google.protobuf.Timestamp")):
        for what, stamp in TIMESTAMPS_OUT_OF_RANGE.items():
            found.append(Case(place, what, _put(place, stamp), place.item))
        if change:
            found.append(Case(place, "the calendar's end", _put(place, Timestamp(seconds=END_OF_CALENDAR)), place.item))
    for place in places(request, is_message("google.protobuf.Duration")):
        for what, span in {**DURATIONS_OUT_OF_RANGE, **DURATIONS_BEYOND_LIMITS}.items():
            found.append(Case(place, what, _put(place, span), place.item))
    for place in places(request, is_message(MASK)):
        for what, paths, named in (
            ("no paths", [], place.name),
            ("an unknown path", ["no_such_field"], f"{place.name}.paths[0]"),
            ("a nested path", ["{valid}.part"], f"{place.name}.paths[0]"),
            ("a path twice, then an unknown one", ["{valid}", "{valid}", "no_such_field"], f"{place.name}.paths[2]"),
        ):
            found.append(Case(place, what, _mask(place, paths), named))
    for place in places(request, is_enum):
        values = [value.number for value in place.field.enum_type.values]
        for unknown in (max(values) + 1, -1):
            found.append(Case(place, f"unknown value {unknown}", _put(place, unknown), place.item))
    for place in places(request, is_int):
        low, high = INT_TYPES[place.field.type]
        edges = {"the type's largest": high, "the type's smallest": low}
        if (service, method, place.name) not in SIGNED:
            edges["-1"] = -1
        if "quantity" in place.field.name and (service, method, place.name) not in ZERO:
            edges["zero"] = 0
        for what, value in edges.items():
            found.append(Case(place, what, _put(place, value), place.item))
    for place in places(request, is_repeated):
        if place.field.type in (FD.TYPE_MESSAGE, FD.TYPE_STRING) or is_int(place.field):
            found.append(Case(place, f"{MANY:,} entries", _many(place), place.name))
        if change and (service, method, place.name) not in MERGED:
            found.append(Case(place, "two identical entries", _duplicated(place), place.name))
    return [case for case in found if (service, method, case.place.name) not in IGNORED]


CASES = {(service, method): cases_of(service, method) for service, method in every_rpc()}
RPCS = [rpc for rpc, cases in CASES.items() if cases]


def test_every_rpc_with_such_a_field_is_tried() -> None:
    """Not vacuous: the classes reach the RPCs the system has, found without a list."""
    tried = {f"{service}.{method}" for service, method in RPCS}
    assert {"inventory.Hold", "inventory.ExpectStock", "orders.CreateOrder", "orders.ListOrders"} <= tried
    assert {"reservations.ExtendReservation", "fulfilment.ConfirmPick", "webhooks.RotateSubscriptionSecret"} <= tried


@pytest_asyncio.fixture(scope="module")
async def fixtures(quiet: QuietStack) -> AsyncIterator[Fixtures]:
    yield await Fixtures(quiet).setup()


def violations(error: grpc.aio.AioRpcError | None) -> list[str]:
    if error is None:
        return []
    return [v.field for bad in details_of(error, error_details_pb2.BadRequest) for v in bad.field_violations]


def names(fields: list[str], wanted: str) -> bool:
    return any(field == wanted or field.startswith((f"{wanted}.", f"{wanted}[")) for field in fields)


def fresh(request: Message) -> Message:
    """A new request id for each try: one refused wrongly would otherwise make the next a reuse."""
    if "request_id" in request.DESCRIPTOR.fields_by_name and request.request_id:  # type: ignore[attr-defined]
        request.request_id = unique_id()  # type: ignore[attr-defined]
    return request


def still_valid_item(case: Case, base: Message) -> bool:
    """A duplicate needs an entry to copy: the valid request has at least one."""
    return case.what != "two identical entries" or bool(value_at(base, case.place))


@pytest.mark.parametrize(("service", "method"), RPCS, ids=[f"{s}.{m}" for s, m in RPCS])
async def test_a_bad_value_of_a_whole_class_is_refused_naming_its_field_and_changes_nothing(
    quiet: QuietStack, fixtures: Fixtures, service: str, method: str
) -> None:
    scenario = SCENARIOS[(service, method)]
    base = await scenario.build(fixtures, Role.ADMIN, fixtures.home[scenario.at])
    cases = [case for case in CASES[(service, method)] if still_valid_item(case, base)]
    await quiet.settle()
    before = await quiet.snapshot()
    wrong = []
    for case in cases:
        request = fresh(case.make(base))
        code, error = await call(quiet.admin(service), service, method, request)
        fields = violations(error)
        if code != grpc.StatusCode.INVALID_ARGUMENT or not names(fields, case.named):
            wrong.append(f"{case}: {code.name} {fields or (error.details() if error else '')}")
    await quiet.settle()
    changed = await quiet.changed_since(before)
    assert not wrong, f"{service}.{method}:\n  " + "\n  ".join(wrong)
    assert not changed, f"{service}.{method}: refused, but changed {changed}"
