"""Hypothesis strategies for any protobuf request, built from its descriptor.

A hostile field is unset or has a hostile value of its type: strings empty, random, unicode,
with control characters (NUL included), longer than any limit; integers at the edges of their
type; doubles including NaN, infinities and huge values; enums including values the schema
does not know; repeated fields and maps empty, small or over their limits; nested messages;
Timestamps and Durations at and beyond their ranges.

A plausible field has a value a well-behaved client would send: ids that exist in the
database, small positive quantities, known enum values, times near now. Requests are wholly
hostile, wholly plausible (they get past validation into the use cases), or plausible with
some hostile fields (they reach the checks that only run once the rest is valid).
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from google.protobuf import descriptor, message_factory
from google.protobuf.message import Message
from hypothesis import strategies as st

FD = descriptor.FieldDescriptor
MAX_DEPTH = 4


class Style(Enum):
    HOSTILE = "hostile"
    PLAUSIBLE = "plausible"
    MIXED = "mixed"


# Longer than every text limit in the services (identifiers 128, text 200, notes 500, ...).
HUGE_LENGTHS = (129, 201, 257, 501, 1025, 4097)
# Over the services' limits on repeated fields (100 lines, 1000 SKUs, ...).
LARGE_COUNTS = (33, 101, 1001)

INT32_EDGES = (0, 1, -1, 2, 100, 101, 500, 501, 1000, 1001, 2**31 - 1, -(2**31))
INT64_EDGES = (*INT32_EDGES, 1_000_000, 1_000_001, 10**12, 10**12 + 1, 2**53, 2**63 - 1, -(2**63))
UINT32_EDGES = (0, 1, 2**31 - 1, 2**32 - 1)
UINT64_EDGES = (*UINT32_EDGES, 2**63 - 1, 2**64 - 1)
DOUBLE_EDGES = (
    0.0,
    -0.0,
    1.0,
    -1.0,
    90.0,
    90.000001,
    -90.0,
    180.0,
    180.000001,
    -180.0,
    20_000.0,
    20_000.5,
    5e-324,
    1e308,
    -1e308,
    math.inf,
    -math.inf,
    math.nan,
)

# Timestamp and Duration limits (google/protobuf/timestamp.proto, duration.proto) and beyond.
TIMESTAMP_SECONDS = (
    0,
    -1,
    1,
    1_700_000_000,
    4_102_444_800,  # 2100
    -62_135_596_800,  # 0001-01-01
    -62_135_596_801,
    253_402_300_799,  # 9999-12-31T23:59:59
    253_402_300_800,
    2**31 - 1,
    2**63 - 1,
    -(2**63),
)
DURATION_SECONDS = (
    0,
    1,
    -1,
    60,
    86_400,
    7 * 86_400,
    15 * 86_400,
    315_576_000_000,
    315_576_000_001,
    -315_576_000_000,
    -315_576_000_001,
    2**63 - 1,
    -(2**63),
)
NANOS = (0, 1, 999_999_999, 1_000_000_000, -1, -999_999_999, 2**31 - 1, -(2**31))

DAYS = ("2024-01-31", "2024-02-30", "0001-01-01", "0001-01-05", "9999-12-31", "1970-01-01", "2024-1-1", "tomorrow")


def _huge(alphabet: Sequence[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda ch, n: ch * n, st.sampled_from(alphabet), st.sampled_from(HUGE_LENGTHS))


def _tokens() -> st.SearchStrategy[str]:
    """Page tokens: base64 of almost-right contents, and plain junk."""
    inner = st.one_of(
        st.sampled_from(
            [
                "garbage",
                "12|",
                "|",
                "-1",
                "99999999999999999999999",
                json.dumps(["not-a-date", "x"]),
                json.dumps(["9999-12-31T23:59:59+00:00", "9999-12-31T23:59:59+00:00", "x"]),
                json.dumps({"after": ["0001-01-01", "x", "y"], "query": "q"}),
                json.dumps({"after": 1}),
                "99999999999999999999|x",
                "\x00",
            ]
        ),
        st.text(max_size=20),
    )
    encoded = inner.map(lambda text: base64.urlsafe_b64encode(text.encode()).decode())
    return st.one_of(encoded, st.sampled_from(["=", "!!!", "a", "ab=", "%%%%"]))


def string_strategy(name: str, known: Sequence[str]) -> st.SearchStrategy[str]:
    options: list[st.SearchStrategy[str]] = [
        st.just(""),
        st.sampled_from([" ", "A", "a" * 128, "LOC-1", "sku:1.a_b-c", "-leading-dash", "über", "🛋️", "a b"]),
        st.text(max_size=24),
        st.text(st.characters(codec="ascii", categories=["Cc"]), min_size=1, max_size=4),
        st.text(st.characters(codec="ascii"), max_size=24).map(lambda text: f"A{text}\x00"),
        _huge(["x", "é", "\x00", "🛋", " ", "\u202e"]),
    ]
    if known:
        options.append(st.sampled_from(known_for(name, known)))
    if "token" in name:
        options.append(_tokens())
    if "date" in name:
        options.append(st.sampled_from(DAYS))
    if "email" in name:
        options.append(st.sampled_from(["a@b.co", "@", "a@b", "x" * 250 + "@b.co"]))
    if "phone" in name:
        options.append(st.sampled_from(["+49 40 1234567", "+", "1" * 40]))
    if "currency" in name:
        options.append(st.sampled_from(["EUR", "eur", "EU", "€€€"]))
    return st.one_of(*options)


def _integers(edges: Sequence[int], low: int, high: int) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from([e for e in edges if low <= e <= high]), st.integers(low, high))


def scalar_strategy(field: descriptor.FieldDescriptor, known: Sequence[str]) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == FD.TYPE_STRING:
        return string_strategy(field.name, known)
    if kind == FD.TYPE_BYTES:
        return st.one_of(st.binary(max_size=32), st.just(b"\xff" * 5000))
    if kind == FD.TYPE_BOOL:
        return st.booleans()
    if kind in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        width = 64 if kind == FD.TYPE_DOUBLE else 32
        edges = DOUBLE_EDGES if width == 64 else tuple(v for v in DOUBLE_EDGES if abs(v) < 3e38 or math.isnan(v))
        return st.one_of(st.sampled_from(edges), st.floats(width=width))
    if kind == FD.TYPE_ENUM:
        values = [value.number for value in field.enum_type.values]
        unknown = [max(values) + 1, -1, 2**31 - 1, -(2**31)]
        return st.sampled_from(values + unknown)
    if kind in (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32):
        return _integers(INT32_EDGES, -(2**31), 2**31 - 1)
    if kind in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64):
        return _integers(INT64_EDGES, -(2**63), 2**63 - 1)
    if kind in (FD.TYPE_UINT32, FD.TYPE_FIXED32):
        return _integers(UINT32_EDGES, 0, 2**32 - 1)
    if kind in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
        return _integers(UINT64_EDGES, 0, 2**64 - 1)
    raise AssertionError(f"no strategy for field type {kind} of {field.full_name}")


def _well_known(message_type: descriptor.Descriptor) -> st.SearchStrategy[dict[str, Any]] | None:
    if message_type.full_name == "google.protobuf.Timestamp":
        seconds = st.one_of(st.sampled_from(TIMESTAMP_SECONDS), st.integers(-62_135_596_800, 253_402_300_799))
        return st.fixed_dictionaries({"seconds": seconds, "nanos": st.sampled_from(NANOS)})
    if message_type.full_name == "google.protobuf.Duration":
        seconds = st.one_of(st.sampled_from(DURATION_SECONDS), st.integers(-315_576_000_000, 315_576_000_000))
        return st.fixed_dictionaries({"seconds": seconds, "nanos": st.sampled_from(NANOS)})
    return None


# Which kind of existing id suits a field, by the words in its name (first match wins).
KINDS = (
    ("pickup_code", "code"),
    ("location", "location"),
    ("store", "location"),
    ("sku", "sku"),
    ("customer", "customer"),
    ("reservation", "reservation"),
    ("order", "order"),
    ("task", "task"),
    ("hold", "hold"),
    ("owner", "owner"),
    ("count", "count"),
)


def known_for(name: str, known: Sequence[str]) -> list[str]:
    """The existing ids a field named `name` would take; `known` holds "kind:id" entries."""
    kind = next((kind for word, kind in KINDS if word in name), None)
    matching = [entry.split(":", 1)[1] for entry in known if kind is None or entry.startswith(f"{kind}:")]
    return matching or [entry.split(":", 1)[1] for entry in known]


def plausible_scalar(field: descriptor.FieldDescriptor, known: Sequence[str]) -> st.SearchStrategy[Any]:
    kind, name = field.type, field.name
    if kind == FD.TYPE_STRING:
        if name.endswith("request_id"):
            return st.uuids().map(str)
        if "token" in name:
            return st.just("")
        if "date" in name:
            today = datetime.now(UTC).date()
            return st.integers(0, 40).map(lambda days: (today - timedelta(days=days)).isoformat())
        for hint, value in (("email", "ada@example.com"), ("phone", "+49 40 1234567"), ("currency", "EUR")):
            if hint in name:
                return st.just(value)
        made_up = st.from_regex(r"[A-Z][A-Z0-9\-]{2,12}", fullmatch=True)
        existing = known_for(name, known)
        return st.one_of(st.sampled_from(existing), st.sampled_from(existing), made_up) if existing else made_up
    if kind == FD.TYPE_BYTES:
        return st.binary(max_size=8)
    if kind == FD.TYPE_BOOL:
        return st.booleans()
    if kind in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return st.floats(-10.0, 60.0)  # a latitude, a longitude, a distance: all in range
    if kind == FD.TYPE_ENUM:
        values = [value.number for value in field.enum_type.values]
        return st.sampled_from([v for v in values if v] or values)
    return st.integers(1, 5)


def _plausible_well_known(message_type: descriptor.Descriptor) -> st.SearchStrategy[dict[str, Any]] | None:
    if message_type.full_name == "google.protobuf.Timestamp":
        now = int(time.time())
        return st.integers(now - 3 * 86_400, now + 3 * 86_400).map(lambda seconds: {"seconds": seconds})
    if message_type.full_name == "google.protobuf.Duration":
        return st.integers(1, 2 * 86_400).map(lambda seconds: {"seconds": seconds})
    return None


def _repeated(element: st.SearchStrategy[Any], style: Style) -> st.SearchStrategy[list[Any]]:
    if style is Style.PLAUSIBLE:
        return st.lists(element, min_size=1, max_size=2)
    many = st.builds(lambda item, count: [item] * count, element, st.sampled_from(LARGE_COUNTS))
    return st.one_of(st.just([]), st.lists(element, min_size=1, max_size=3), many)


def _map(
    field: descriptor.FieldDescriptor, known: Sequence[str], depth: int, style: Style
) -> st.SearchStrategy[dict[Any, Any]]:
    entry = field.message_type
    key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
    values = _single(value_field, known, depth, style)
    if style is Style.PLAUSIBLE:
        return st.dictionaries(plausible_scalar(key_field, ()), values, max_size=2)
    keys = scalar_strategy(key_field, known)
    many = st.builds(
        lambda value, count: {f"k{i}" if key_field.type == FD.TYPE_STRING else i: value for i in range(count)},
        values,
        st.sampled_from(LARGE_COUNTS),
    )
    return st.one_of(st.just({}), st.dictionaries(keys, values, max_size=3), many)


def _single(
    field: descriptor.FieldDescriptor, known: Sequence[str], depth: int, style: Style
) -> st.SearchStrategy[Any]:
    if field.type == FD.TYPE_MESSAGE:
        return message_fields(field.message_type, known, depth + 1, style)
    return plausible_scalar(field, known) if style is Style.PLAUSIBLE else scalar_strategy(field, known)


def _field(field: descriptor.FieldDescriptor, known: Sequence[str], depth: int, style: Style) -> st.SearchStrategy[Any]:
    if field.type == FD.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
        return _map(field, known, depth, style)
    if field.is_repeated:
        return _repeated(_single(field, known, depth, style), style)
    return _single(field, known, depth, style)


def _chosen(field: descriptor.FieldDescriptor, known: Sequence[str], depth: int, style: Style) -> Any:
    """The strategy of one field's value (None: left unset) in a request of the given style."""
    hostile = st.deferred(lambda: _field(field, known, depth, Style.HOSTILE))
    plausible = st.deferred(lambda: _field(field, known, depth, Style.PLAUSIBLE))
    if style is Style.HOSTILE:
        return st.one_of(st.none(), hostile)
    if style is Style.MIXED:
        return st.one_of(plausible, plausible, plausible, hostile, st.none())
    if field.containing_oneof is not None:  # members of a oneof (and proto3 `optional`) may stay unset
        return st.one_of(st.none(), plausible)
    return plausible


def message_fields(
    message_type: descriptor.Descriptor, known: Sequence[str] = (), depth: int = 0, style: Style = Style.HOSTILE
) -> st.SearchStrategy[dict[str, Any]]:
    """A dict of field name -> value (nested messages as dicts); unset fields are left out."""
    hostile, plausible = _well_known(message_type), _plausible_well_known(message_type)
    if hostile is not None and plausible is not None:
        return {Style.HOSTILE: hostile, Style.PLAUSIBLE: plausible, Style.MIXED: st.one_of(plausible, hostile)}[style]
    if depth > MAX_DEPTH:
        return st.just({})
    chosen = {field.name: _chosen(field, known, depth, style) for field in message_type.fields}
    return st.fixed_dictionaries(chosen).map(lambda drawn: {k: v for k, v in drawn.items() if v is not None})


def fill(message: Message, values: dict[str, Any]) -> Message:
    """Sets the drawn values on a message (a oneof keeps its last member set)."""
    fields = message.DESCRIPTOR.fields_by_name
    for name, value in values.items():
        field = fields[name]
        target = getattr(message, name)
        if field.type == FD.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                if value_field.type == FD.TYPE_MESSAGE:
                    fill(target[key], item)
                else:
                    target[key] = item
        elif field.is_repeated:
            for item in value:
                if field.type == FD.TYPE_MESSAGE:
                    fill(target.add(), item)
                else:
                    target.append(item)
        elif field.type == FD.TYPE_MESSAGE:
            target.SetInParent()
            fill(target, value)
        else:
            setattr(message, name, value)
    return message


def requests(message_type: descriptor.Descriptor, known: Sequence[str] = ()) -> st.SearchStrategy[Message]:
    """Requests of one message type, hostile, plausible or mixed, ready to send."""
    cls = message_factory.GetMessageClass(message_type)
    styles = [message_fields(message_type, known, style=style) for style in Style]
    return st.one_of(*styles).map(lambda values: fill(cls(), values))
