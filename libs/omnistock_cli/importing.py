"""`omnistock import`: a retailer's own locations, SKUs and stock from CSV files in the
format of the demo catalogue (`omnistock_cli/data/*.csv`).

Every row of every file is checked first, with the rules inventory applies, and stock rows
must name locations and SKUs that are in the files or already in inventory. No row may name a
set (bundle) inventory has: it has no stock of its own, and the sku file cannot say its
components (loading it would make it a plain SKU). One bad row and
nothing is loaded: every problem is listed with its file, line and field. Otherwise the rows
are loaded the way the demo catalogue is seeded: request ids derived from the content, so an
import run again (or resumed after a failure) never counts a unit twice."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated

import grpc
import typer
from omnistock_client import OmnistockClient
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_cli.acting import Call, acting
from omnistock_cli.catalogue import (
    Catalogue,
    DemoLocation,
    DemoSku,
    DemoStock,
    RowProblem,
    column_values,
    parse_locations,
    parse_skus,
    parse_stock,
)
from omnistock_cli.context import fail
from omnistock_cli.output import console, emit, err_console, table
from omnistock_cli.seed import SeedResult, current_levels, load_catalogue
from omnistock_platform.auth import Role

LOOKUPS_IN_FLIGHT = 16


@dataclass
class ImportFiles:
    locations: list[DemoLocation] = field(default_factory=list)
    skus: list[DemoSku] = field(default_factory=list)
    stock: list[DemoStock] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    # What each file names, bad rows included: a stock row naming a location of a bad
    # location row is reported once, for the location row.
    listed: dict[str, set[str]] = field(default_factory=lambda: {"location": set(), "sku": set()})
    stock_rows: list[tuple[str, int, str, str]] = field(default_factory=list)  # file, line, location, sku
    sku_rows: list[tuple[str, int, str]] = field(default_factory=list)  # file, line, sku

    @property
    def catalogue(self) -> Catalogue:
        return Catalogue(tuple(self.locations), tuple(self.skus), tuple(self.stock))


def read_files(locations: Path | None, skus: Path | None, stock: Path | None) -> ImportFiles:
    """Every row of every file, checked on its own; the problems of all files together."""
    found = ImportFiles()
    for path, parse, target in (
        (locations, parse_locations, "locations"),
        (skus, parse_skus, "skus"),
        (stock, parse_stock, "stock"),
    ):
        if path is None:
            continue
        try:
            # utf-8-sig: spreadsheets often write a byte-order mark first.
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            found.problems.append(RowProblem(str(path), 0, "(file)", f"cannot be read: {error}"))
            continue
        rows, problems = parse(text, str(path))  # type: ignore[operator]
        getattr(found, target).extend(rows)
        found.problems.extend(problems)
        if target == "locations":
            found.listed["location"] |= {key for _, (key,) in column_values(text, str(path), ("location_id",))}
        elif target == "skus":
            found.sku_rows = [(str(path), line, key) for line, (key,) in column_values(text, str(path), ("sku",))]
            found.listed["sku"] |= {key for _, _, key in found.sku_rows}
        else:
            found.stock_rows = [
                (str(path), line, location_id, sku)
                for line, (location_id, sku) in column_values(text, str(path), ("location_id", "sku"))
            ]
    return found


async def _lookup(client: OmnistockClient, kind: str, key: str) -> tuple[bool, list[str]]:
    """Whether inventory has it, and, for a SKU that is a set, its components."""
    try:
        if kind == "location":
            await client.call(client.inventory.GetLocation, pb.GetLocationRequest(location_id=key))
            return True, []
        reply = await client.call(client.inventory.GetSku, pb.GetSkuRequest(sku=key))
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return False, []
        raise
    return True, sorted(component.sku for component in reply.sku.components)


async def check_references(client: OmnistockClient, files: ImportFiles) -> list[RowProblem]:
    """Stock rows must name a location and a SKU that are in the files or already in inventory, and
    no row may name a set (bundle) inventory has."""
    in_files = files.listed
    named = [(file, line, location_id, sku) for file, line, location_id, sku in files.stock_rows if location_id and sku]
    listed = [(file, line, sku) for file, line, sku in files.sku_rows if sku]
    wanted = (
        {("location", row[2]) for row in named if row[2] not in in_files["location"]}
        | {("sku", row[3]) for row in named}
        | {("sku", row[2]) for row in listed}
    )
    slots = asyncio.Semaphore(LOOKUPS_IN_FLIGHT)

    async def known(kind: str, key: str) -> tuple[tuple[str, str], tuple[bool, list[str]]]:
        async with slots:
            return (kind, key), await _lookup(client, kind, key)

    answers = dict(await asyncio.gather(*(known(kind, key) for kind, key in sorted(wanted))))
    problems = []
    for file, line, location_id, sku in named:
        for kind, key, column in (("location", location_id, "location_id"), ("sku", sku, "sku")):
            exists, components = answers.get((kind, key), (True, []))
            if not exists and key not in in_files[kind]:
                problems.append(RowProblem(file, line, column, f"{key} is in neither the {kind} file nor inventory"))
            elif components:
                problems.append(
                    RowProblem(
                        file,
                        line,
                        column,
                        f"{key} is a set of {', '.join(components)}: it has no stock of its own; give its"
                        " components' stock",
                    )
                )
    for file, line, sku in listed:
        _, components = answers[("sku", sku)]
        if components:
            problems.append(
                RowProblem(
                    file,
                    line,
                    "sku",
                    f"{sku} is a set of {', '.join(components)} in inventory: this file cannot say its components,"
                    " so loading it would make it a plain SKU; change it with `omnistock bundle`",
                )
            )
    return problems


@dataclass
class ImportResult:
    loaded: bool
    problems: list[RowProblem]
    result: SeedResult | None = None
    rows_above_file: int = 0


async def run_import(client: OmnistockClient, files: ImportFiles, *, document_ref: str, progress: bool) -> ImportResult:
    if files.stock_rows or files.sku_rows:
        files.problems.extend(await check_references(client, files))
    if files.problems:
        files.problems.sort(key=lambda problem: (problem.file, problem.line, problem.field))
        return ImportResult(False, files.problems)
    catalogue = files.catalogue
    levels = await current_levels(client, catalogue) if catalogue.stock else {}
    above = sum(
        1
        for row in catalogue.stock
        if (level := levels.get((row.location_id, row.sku))) is not None and level.on_hand > row.on_hand
    )
    if not progress:
        return ImportResult(True, [], await load_catalogue(client, catalogue, document_ref=document_ref), above)
    with Progress(
        TextColumn("[bold]importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    ) as bar:
        task = bar.add_task("import", total=None)
        result = await load_catalogue(
            client,
            catalogue,
            document_ref=document_ref,
            advance=lambda n: bar.advance(task, n),
            total=lambda n: bar.update(task, total=n),
        )
    return ImportResult(True, [], result, above)


# No --request-id: every row's request id follows from its content, so an import done again acts once.
@acting(Role.ADMIN, writes=False, works_at=False)
def import_(
    locations: Annotated[Path | None, typer.Option("--locations", dir_okay=False, help="locations.csv")] = None,
    skus: Annotated[Path | None, typer.Option("--skus", dir_okay=False, help="skus.csv")] = None,
    stock: Annotated[Path | None, typer.Option("--stock", dir_okay=False, help="stock.csv")] = None,
    ref: Annotated[str, typer.Option("--ref", help="Document reference of the receipts.")] = "import",
    check_only: Annotated[bool, typer.Option("--check", help="Only check the files; load nothing.")] = False,
    *,
    call: Call,
) -> None:
    """Load locations, SKUs and stock from CSV files (the demo catalogue's columns), all or nothing.

    \b
    locations.csv  location_id,name,kind,city,latitude,longitude[,routing_rank,ships,pickup,till_sales]
    skus.csv       sku,title[,category,colour,size,material,price_minor,currency,<any attribute>...]
    stock.csv      location_id,sku,on_hand[,safety_stock]
    """
    if locations is None and skus is None and stock is None:
        fail("give at least one file: --locations, --skus or --stock")
    files = read_files(locations, skus, stock)
    if check_only and not files.stock_rows and not files.sku_rows:
        files.problems.sort(key=lambda problem: (problem.file, problem.line, problem.field))
        _report(ImportResult(False, files.problems), as_json=call.as_json, checked_only=True)
        return

    async def work(client: OmnistockClient) -> ImportResult:
        if check_only:
            files.problems.extend(await check_references(client, files))
            files.problems.sort(key=lambda problem: (problem.file, problem.line, problem.field))
            return ImportResult(False, files.problems)
        return await run_import(client, files, document_ref=ref, progress=not call.as_json)

    _report(call.run(work), as_json=call.as_json, checked_only=check_only)


def _report(outcome: ImportResult, *, as_json: bool, checked_only: bool) -> None:
    problems = outcome.problems
    if problems:
        rows = [[problem.file, problem.line or "", problem.field, problem.message] for problem in problems]
        emit(
            {"loaded": False, "problems": [asdict(problem) for problem in problems]},
            as_json=as_json,
            render=table(f"{len(problems)} problem(s): nothing was loaded", ["file", "line", "field", "problem"], rows),
        )
        raise typer.Exit(1)
    if checked_only:
        emit(
            {"loaded": False, "problems": []},
            as_json=as_json,
            render="Every row is fine; nothing was loaded (--check).",
        )
        return
    result = outcome.result or SeedResult()
    emit(
        {"loaded": True, **asdict(result), "rows_above_file": outcome.rows_above_file},
        as_json=as_json,
        render=f"Imported {result.locations} locations, {result.skus} SKUs and {result.stock_rows} stock rows "
        f"({result.units_received} units received).",
    )
    if outcome.rows_above_file and not as_json:
        console.print(
            f"[yellow]{outcome.rows_above_file} stock row(s) already had more on hand than the file says; "
            "they were left as they are (count them down with `omnistock adjust --set N --reason count`).[/]"
        )


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
