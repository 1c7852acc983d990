"""Request validation in one place: collect every field violation, then raise once."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from omnistock_platform.errors import FieldViolation, InvalidArgument

MAX_QUANTITY = 1_000_000
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
MAX_TEXT = 200
MAX_REQUEST_ID = 128
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}")
# The whole rule of `Validator.identifier` for a value given: a hot read checks its common shape with it alone.
IDENTIFIER = _ID
# The ranges of google.protobuf.Timestamp (0001-01-01 to 9999-12-31) and Duration.
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799
_MAX_DURATION_SECONDS = 315_576_000_000
_NANOS = 1_000_000_000
# Characters no text a person reads back may hold (tab, line feed and carriage return may):
# - the C0 and C1 control characters and DEL: PostgreSQL cannot store NUL, and the others garble
#   logs and terminals (U+009B is a terminal's CSI, U+0085 ends a line for many readers);
# - the line and paragraph separators U+2028/U+2029, which start a new line in a log or a screen;
# - the bidirectional embeddings, overrides and isolates U+202A-U+202E and U+2066-U+2069, which
#   make a name read in another order than it is stored ("Trojan Source"), on a console page, a
#   terminal or a packing slip. The marks U+200E/U+200F that right-to-left text needs remain.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# How far a caller's clock may lag the service's: a time "now" by the caller's clock is not in the past.
CLOCK_SKEW = timedelta(minutes=1)
# How far ahead an announced time (a delivery, a transfer's arrival) may be: promises are counted
# from it in days and opening hours, which past the calendar's last year cannot be counted at all.
MAX_AHEAD = timedelta(days=366)


_UNITS = (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000), ("ms", 1_000))


def duration_text(value: timedelta) -> str:
    """A duration as callers write one (settings, the CLI): 7d, 1d12h, 90s as 1m30s, 500ms; never
    Python's "7 days, 0:00:00", which reads as a list inside a message."""
    left = abs(value) // timedelta(microseconds=1)
    parts = []
    for unit, size in _UNITS:
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    if left:
        parts.append(f"{left}us")
    return ("-" if value < timedelta(0) else "") + ("".join(parts) or "0s")


def whole_number(text: str, maximum: int = 2**63 - 1) -> int | None:
    """The number `text` writes in digits, from 0 to `maximum`; None for any other text. Not
    `text.isdigit()` then `int(text)`: isdigit also takes digits int() cannot read ("²", "①"), and
    int() refuses more than 4,300 digits, so such text ended in a crash instead of a clear refusal."""
    if not text.isdigit() or len(text.lstrip("0")) > len(str(maximum)):
        return None
    try:
        number = int(text)
    except ValueError:
        return None
    return number if number <= maximum else None


class Validator:
    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def fail(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(field, description))

    def identifier(self, field: str, value: str, *, required: bool = True) -> None:
        if not value:
            if required:
                self.fail(field, "is required")
        elif not _ID.fullmatch(value):
            self.fail(field, "must be 1-128 letters, digits or _.:- and start with a letter or digit")

    def text(self, field: str, value: str, *, required: bool = False, max_length: int = MAX_TEXT) -> None:
        if required and not value.strip():
            self.fail(field, "is required")
        if len(value) > max_length:
            self.fail(field, f"must be at most {max_length} characters")
        elif _CONTROL.search(value):
            self.fail(field, "must not contain control characters (nor line separators or bidi overrides)")

    def name(self, field: str, value: str, *, required: bool = False, max_length: int = MAX_TEXT) -> None:
        """A name people read back (a customer's, a location's, an address line): optional or not,
        one given must say something, so only spaces is refused as an empty required one is."""
        if value and not value.strip():
            self.fail(field, "must not be only spaces")
        else:
            self.text(field, value, required=required, max_length=max_length)

    def request_id(self, field: str, value: str, *, required: bool = False) -> None:
        """Any client-chosen string of up to MAX_REQUEST_ID printable ASCII characters (a UUID, a
        ULID, ...): it travels on to other services in the x-request-id header."""
        if not value:
            if required:
                self.fail(field, "is required")
        elif len(value) > MAX_REQUEST_ID or not (value.isascii() and value.isprintable()):
            self.fail(field, f"must be 1-{MAX_REQUEST_ID} printable ASCII characters")

    def quantity(self, field: str, value: int, *, maximum: int = MAX_QUANTITY, allow_zero: bool = False) -> None:
        low = 0 if allow_zero else 1
        if value < low or value > maximum:
            self.fail(field, f"must be between {low} and {maximum}")

    def non_negative(self, field: str, value: int, *, maximum: int = MAX_QUANTITY) -> None:
        self.quantity(field, value, maximum=maximum, allow_zero=True)

    def enum(self, field: str, value: int, allowed: Iterable[int]) -> None:
        if value == 0:
            self.fail(field, "must be set")
        elif value not in set(allowed):
            self.fail(field, f"unknown value {value}")

    def point(self, field: str, latitude: float, longitude: float) -> None:
        if not -90.0 <= latitude <= 90.0:
            self.fail(f"{field}.latitude", "must be between -90 and 90")
        if not -180.0 <= longitude <= 180.0:
            self.fail(f"{field}.longitude", "must be between -180 and 180")

    def page_size(self, field: str, value: int) -> int:
        if value < 0 or value > MAX_PAGE_SIZE:
            self.fail(field, f"must be between 0 and {MAX_PAGE_SIZE}")
        return value or DEFAULT_PAGE_SIZE

    def timestamp(self, field: str, value: Timestamp | None, *, required: bool = False) -> datetime | None:
        """The instant in UTC; None when unset or out of range (years 1 to 9999, nanos 0 to 10^9 - 1)."""
        if value is None:
            if required:
                self.fail(field, "is required")
            return None
        if not (_MIN_SECONDS <= value.seconds <= _MAX_SECONDS and 0 <= value.nanos < _NANOS):
            self.fail(field, "must be a time between the years 1 and 9999")
            return None
        return value.ToDatetime(tzinfo=UTC)

    def not_past(self, field: str, value: datetime | None, *, skew: timedelta = CLOCK_SKEW) -> None:
        """A time that must still be ahead (an arrival, a due date): refused when it is more than
        `skew` in the past, so a caller whose clock lags a little can still say "now"."""
        if value is not None and value < datetime.now(UTC) - skew:
            self.fail(field, "must not be in the past")

    def not_future(self, field: str, value: datetime | None, *, skew: timedelta = CLOCK_SKEW) -> None:
        """A time that has happened (when something was found): refused when more than `skew` ahead."""
        if value is not None and value > datetime.now(UTC) + skew:
            self.fail(field, "must not be in the future")

    def ahead(self, field: str, value: datetime | None) -> None:
        """A time still to come that others are promised from (an arrival): not in the past (as
        `not_past`) and at most MAX_AHEAD away."""
        self.not_past(field, value)
        if value is not None and value > datetime.now(UTC) + MAX_AHEAD:
            self.fail(field, f"must be at most {duration_text(MAX_AHEAD)} ahead")

    def duration(self, field: str, value: Duration | None, *, required: bool = False) -> timedelta | None:
        """The span; None when unset, negative, or not a valid google.protobuf.Duration (at most 10,000
        years). Every span a request gives runs forward (a hold's life, an extension, a grace): a
        negative one is refused here, before a part of a microsecond is rounded away and -1 ns reads
        as zero, which many fields take as "the default"."""
        if value is None:
            if required:
                self.fail(field, "is required")
            return None
        same_sign = value.seconds == 0 or value.nanos == 0 or (value.seconds < 0) == (value.nanos < 0)
        if not (abs(value.seconds) <= _MAX_DURATION_SECONDS and abs(value.nanos) < _NANOS and same_sign):
            self.fail(field, "must be a valid duration of at most 10,000 years")
            return None
        if value.seconds < 0 or value.nanos < 0:
            self.fail(field, "must not be negative")
            return None
        return value.ToTimedelta()

    def check(self, condition: bool, field: str, description: str) -> None:
        if not condition:
            self.fail(field, description)

    def raise_if_invalid(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)
