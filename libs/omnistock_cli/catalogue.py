"""The demo catalogue, kept as data in `data/*.csv`: four German cities, their
stores and warehouses, furniture and apparel, and the stock that tells the story
of the last green velvet sofa (only one, at the Berlin city branch)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from stdnum import ean

from omnistock_platform.validation import MAX_QUANTITY, MAX_TEXT, Validator

DEMO_STORE = "STORE-BER-MITTE"
DEMO_WAREHOUSE = "WH-BER"
DEMO_SKU = "SOFA-VELVET-GREEN"


@dataclass(frozen=True)
class DemoLocation:
    location_id: str
    name: str
    kind: Literal["store", "warehouse"]
    city: str
    latitude: float
    longitude: float
    routing_rank: int
    ships: bool
    pickup: bool
    till_sales: bool


@dataclass(frozen=True)
class DemoSku:
    sku: str
    title: str
    category: str
    colour: str
    size: str
    material: str
    price_minor: int
    currency: str
    # Attributes from columns beyond the standard ones (an imported file may have more).
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def attributes(self) -> dict[str, str]:
        standard = {"category": self.category, "colour": self.colour, "size": self.size, "material": self.material}
        return {key: value for key, value in (*standard.items(), *self.extra) if value}


@dataclass(frozen=True)
class DemoStock:
    location_id: str
    sku: str
    on_hand: int
    safety_stock: int


@dataclass(frozen=True)
class Catalogue:
    locations: tuple[DemoLocation, ...]
    skus: tuple[DemoSku, ...]
    stock: tuple[DemoStock, ...]

    def location(self, location_id: str) -> DemoLocation:
        return next(location for location in self.locations if location.location_id == location_id)


def _demo_text(name: str) -> str:
    return resources.files("omnistock_cli").joinpath("data", name).read_text(encoding="utf-8")


@cache
def demo_catalogue() -> Catalogue:
    locations, bad_locations = parse_locations(_demo_text("locations.csv"), "locations.csv")
    skus, bad_skus = parse_skus(_demo_text("skus.csv"), "skus.csv")
    stock, bad_stock = parse_stock(_demo_text("stock.csv"), "stock.csv")
    problems = bad_locations + bad_skus + bad_stock
    if problems:
        raise ValueError("the demo catalogue is broken: " + "; ".join(map(str, problems)))
    return Catalogue(tuple(locations), tuple(skus), tuple(stock))


# ---------------------------------------------------------------------------------------------
# The CSV format, shared by the demo catalogue and `omnistock import`: every row is checked
# with the rules inventory applies, and every problem names its file, line and field.

LOCATION_COLUMNS = ("location_id", "name", "kind", "city", "latitude", "longitude")
LOCATION_OPTIONAL = ("routing_rank", "ships", "pickup", "till_sales")
SKU_COLUMNS = ("sku", "title")
SKU_OPTIONAL = ("category", "colour", "size", "material", "price_minor", "currency")
STOCK_COLUMNS = ("location_id", "sku", "on_hand")
STOCK_OPTIONAL = ("safety_stock",)
KINDS = ("store", "warehouse")
FLAGS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
MAX_ATTRIBUTES = 32


@dataclass(frozen=True)
class RowProblem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}, line {self.line}, {self.field}: {self.message}"


class _Row:
    """One CSV record being checked: typed reads that note a problem instead of raising."""

    def __init__(self, file: str, line: int, values: dict[str, str], problems: list[RowProblem]) -> None:
        self.file, self.line, self.values, self.problems = file, line, values, problems
        self.bad = False

    def problem(self, field: str, message: str) -> None:
        self.bad = True
        self.problems.append(RowProblem(self.file, self.line, field, message))

    def raw(self, field: str) -> str:
        return (self.values.get(field) or "").strip()

    def identifier(self, field: str) -> str:
        value = self.raw(field)
        check = Validator()
        check.identifier(field, value)
        for violation in check.violations:
            self.problem(field, violation.description)
        return value

    def text(self, field: str, *, required: bool = False, max_length: int = MAX_TEXT) -> str:
        value = self.raw(field)
        if required and not value:
            self.problem(field, "is required")
        elif len(value) > max_length:
            self.problem(field, f"must be at most {max_length} characters")
        return value

    def number(self, field: str, low: float, high: float) -> float:
        value = self.raw(field)
        try:
            number = float(value)
        except ValueError:
            self.problem(field, f"{value!r} is not a number" if value else "is required")
            return 0.0
        if not low <= number <= high:
            self.problem(field, f"must be between {low:g} and {high:g}, not {value}")
        return number

    def integer(self, field: str, low: int, high: int, *, default: int | None = None) -> int:
        value = self.raw(field)
        if not value and default is not None:
            return default
        try:
            number = int(value)
        except ValueError:
            self.problem(field, f"{value!r} is not a whole number" if value else "is required")
            return 0
        if not low <= number <= high:
            self.problem(field, f"must be between {low} and {high}, not {number}")
        return number

    def flag(self, field: str, default: bool) -> bool:
        value = self.raw(field).lower()
        if not value:
            return default
        if value not in FLAGS:
            self.problem(field, f"{value!r} is not true or false")
            return default
        return FLAGS[value]


def _records(
    text: str, file: str, required: tuple[str, ...], problems: list[RowProblem]
) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in required if name not in header]
    if missing:
        problems.append(RowProblem(file, 1, ", ".join(missing), "required column missing from the header"))
        return []
    reader.fieldnames = header
    records = []
    for values in reader:
        if not any((value or "").strip() for key, value in values.items() if key is not None):
            continue  # a blank line
        if values.get(None):  # type: ignore[call-overload]
            problems.append(RowProblem(file, reader.line_num, "(row)", "has more values than the header has columns"))
            continue
        records.append((reader.line_num, {key: value or "" for key, value in values.items() if key is not None}))
    return records


def _duplicate(row: _Row, seen: dict[object, int], key: str | tuple[str, ...], field: str) -> None:
    if key in seen:
        row.problem(field, f"{key if isinstance(key, str) else '/'.join(key)} is already on line {seen[key]}")
    else:
        seen[key] = row.line


def parse_locations(text: str, file: str = "locations.csv") -> tuple[list[DemoLocation], list[RowProblem]]:
    problems: list[RowProblem] = []
    found: list[DemoLocation] = []
    seen: dict[object, int] = {}
    for line, values in _records(text, file, LOCATION_COLUMNS, problems):
        row = _Row(file, line, values, problems)
        location_id = row.identifier("location_id")
        kind = row.raw("kind").lower()
        if kind not in KINDS:
            row.problem("kind", f"{kind!r} is not one of {', '.join(KINDS)}" if kind else "is required")
        location = DemoLocation(
            location_id=location_id,
            name=row.text("name", required=True),
            kind="warehouse" if kind == "warehouse" else "store",
            city=row.text("city", required=True),
            latitude=row.number("latitude", -90, 90),
            longitude=row.number("longitude", -180, 180),
            routing_rank=row.integer("routing_rank", 0, 1000, default=100),
            ships=row.flag("ships", kind == "warehouse"),
            pickup=row.flag("pickup", kind == "store"),
            till_sales=row.flag("till_sales", kind == "store"),
        )
        _duplicate(row, seen, location_id, "location_id")
        if not row.bad:
            found.append(location)
    return found, problems


# Barcode columns: a scanner matches them, so a typo would make an item unscannable.
BARCODE_COLUMNS = frozenset({"gtin", "ean"})


def is_gtin(value: str) -> bool:
    return value.isdigit() and len(value) in (8, 12, 13, 14) and ean.is_valid(value)


def parse_skus(text: str, file: str = "skus.csv") -> tuple[list[DemoSku], list[RowProblem]]:
    problems: list[RowProblem] = []
    found: list[DemoSku] = []
    seen: dict[object, int] = {}
    known = set(SKU_COLUMNS) | set(SKU_OPTIONAL)
    for line, values in _records(text, file, SKU_COLUMNS, problems):
        row = _Row(file, line, values, problems)
        code = row.identifier("sku")
        extra = tuple(
            (key, row.text(key, max_length=MAX_TEXT))
            for key in values
            if key not in known and key.strip() and row.raw(key)
        )
        for key, value in extra:
            if len(key) > 64:
                row.problem(key, "an attribute name must be at most 64 characters")
            if key.strip().lower() in BARCODE_COLUMNS and not is_gtin(value):
                row.problem(key, f"{value!r} is not a GTIN (8, 12, 13 or 14 digits with a valid check digit)")
        currency = row.raw("currency").upper() or "EUR"
        if len(currency) != 3 or not currency.isalpha():
            row.problem("currency", f"{currency!r} is not a 3-letter ISO code")
        sku = DemoSku(
            sku=code,
            title=row.text("title", required=True),
            category=row.text("category"),
            colour=row.text("colour"),
            size=row.text("size"),
            material=row.text("material"),
            price_minor=row.integer("price_minor", 0, 10**12, default=0),
            currency=currency,
            extra=extra,
        )
        if len(sku.attributes) > MAX_ATTRIBUTES:
            row.problem("(attributes)", f"at most {MAX_ATTRIBUTES} attributes")
        _duplicate(row, seen, code, "sku")
        if not row.bad:
            found.append(sku)
    return found, problems


def parse_stock(text: str, file: str = "stock.csv") -> tuple[list[DemoStock], list[RowProblem]]:
    problems: list[RowProblem] = []
    found: list[DemoStock] = []
    seen: dict[object, int] = {}
    for line, values in _records(text, file, STOCK_COLUMNS, problems):
        row = _Row(file, line, values, problems)
        location_id = row.identifier("location_id")
        sku = row.identifier("sku")
        on_hand = row.integer("on_hand", 0, MAX_QUANTITY)
        safety = row.integer("safety_stock", 0, MAX_QUANTITY, default=0)
        _duplicate(row, seen, (location_id, sku), "sku")
        if not row.bad:
            found.append(DemoStock(location_id, sku, on_hand, safety))
    return found, problems


def column_values(text: str, file: str, columns: tuple[str, ...]) -> list[tuple[int, tuple[str, ...]]]:
    """(line, values of `columns`) of every record, valid or not: what a file names."""
    return [
        (line, tuple(values.get(column, "").strip() for column in columns))
        for line, values in _records(text, file, columns, [])
    ]
