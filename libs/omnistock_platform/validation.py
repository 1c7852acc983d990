"""Request validation in one place: collect every field violation, then raise once."""

from __future__ import annotations

import re
from collections.abc import Iterable

from omnistock_platform.errors import FieldViolation, InvalidArgument

MAX_QUANTITY = 1_000_000
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
MAX_TEXT = 200
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")


class Validator:
    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def fail(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(field, description))

    def identifier(self, field: str, value: str, *, required: bool = True) -> None:
        if not value:
            if required:
                self.fail(field, "is required")
        elif not _ID.match(value):
            self.fail(field, "must be 1-128 letters, digits or _.:- and start with a letter or digit")

    def text(self, field: str, value: str, *, required: bool = False, max_length: int = MAX_TEXT) -> None:
        if required and not value.strip():
            self.fail(field, "is required")
        if len(value) > max_length:
            self.fail(field, f"must be at most {max_length} characters")

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

    def check(self, condition: bool, field: str, description: str) -> None:
        if not condition:
            self.fail(field, description)

    def raise_if_invalid(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)
