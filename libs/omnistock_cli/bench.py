"""`omnistock bench`: the benchmark against a stack started for the run (see docs/benchmark.md)."""

from __future__ import annotations

import asyncio
import shlex
import sys
import warnings
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from omnistock_bench.report import print_report
from omnistock_bench.rows import BY_NAME, Row
from omnistock_bench.runner import Bench, BenchConfig
from omnistock_bench.runner import Progress as BenchProgress
from omnistock_bench.stats import RowResult
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from omnistock_cli.context import fail
from omnistock_cli.output import console, err_console
from omnistock_platform.logging import configure_logging

# pgserver asks platformdirs for a runtime dir; the warning says nothing a user can act on.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


class RichProgress(BenchProgress):
    def __init__(self, progress: Progress) -> None:
        self.bar = progress
        self.overall: TaskID | None = None
        self.current: TaskID | None = None
        self.total = 0

    def begin(self, rows: list[Row]) -> None:
        self.total = len(rows)
        self.overall = self.bar.add_task("rows", total=len(rows))

    def row(self, row: Row, seconds: float) -> None:
        if self.current is not None:
            self.bar.remove_task(self.current)
        self.current = self.bar.add_task(f"  {row.title}", total=seconds)

    def tick(self, elapsed: float) -> None:
        if self.current is not None:
            self.bar.update(self.current, completed=elapsed)

    def done(self, result: RowResult) -> None:
        if self.overall is not None:
            self.bar.advance(self.overall)
        self.bar.console.print(
            f"[dim]{datetime.now().astimezone():%H:%M:%S %Z}[/] {result.title}: "
            f"{result.throughput:,.0f}/s, p99 {result.p99_ms:.1f} ms"
        )


def bench(
    duration: Annotated[float, typer.Option(help="Measured seconds per row (after the warm-up).")] = 10.0,
    concurrency: Annotated[int, typer.Option(help="Calls in flight, over all client processes.")] = 64,
    clients: Annotated[int, typer.Option(help="Client processes (each with its own event loop).")] = 2,
    only: Annotated[
        str | None, typer.Option(help=f"Comma-separated rows (the ceilings always run): {', '.join(BY_NAME)}.")
    ] = None,
    warmup: Annotated[float, typer.Option(help="Unmeasured seconds before each row.")] = 2.0,
    skus: Annotated[int, typer.Option(help="SKUs in the seeded catalogue.")] = 10_000,
    locations: Annotated[int, typer.Option(help="Locations in the seeded catalogue.")] = 50,
    inventory_processes: Annotated[int, typer.Option(help="Inventory processes sharing one port (SO_REUSEPORT).")] = 1,
    db_pool: Annotated[int, typer.Option(help="Database connections per service process.")] = 10,
    output_dir: Annotated[Path, typer.Option(help="Where the JSON report is written.")] = Path("bench/results"),
) -> None:
    """Load the real stack (started for the run) and report each figure against two ceilings.

    Ceiling A is an empty call on the same server bootstrap; ceiling B is the hold transaction
    straight from asyncpg. PostgreSQL: a fresh database on DATABASE_URL's server, else embedded.
    """
    configure_logging("WARNING", json=False)
    config = BenchConfig(
        duration=duration,
        warmup=warmup,
        concurrency=concurrency,
        clients=clients,
        only=[name.strip() for name in (only or "").split(",") if name.strip()],
        skus=skus,
        locations=locations,
        inventory_processes=inventory_processes,
        db_pool_max=db_pool,
        output_dir=output_dir,
    )
    try:
        config.rows()
    except ValueError as error:
        fail(str(error))
    if duration <= 0 or concurrency < 1 or clients < 1 or skus < 20 or locations < 2:
        fail("duration must be positive, concurrency and clients at least 1, skus >= 20 and locations >= 2")
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err_console, transient=True
    ) as progress:
        runner = Bench(config, RichProgress(progress), say=lambda text: progress.console.print(f"[dim]{text}[/]"))
        try:
            report = asyncio.run(runner.run())
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
    report["command"] = " ".join(["omnistock bench", *map(shlex.quote, _arguments())])
    # Written to a file or a pipe, the table keeps its columns instead of wrapping at 80.
    print_report(console if console.is_terminal else Console(width=150), report)
    # The command line goes into the file too, so a result says how it was made.
    from json import dumps

    Path(report["path"]).write_text(dumps({k: v for k, v in report.items() if k != "path"}, indent=2))


def _arguments() -> list[str]:
    """The options the benchmark was given (after `bench`, however it was started)."""
    arguments = sys.argv[1:]
    return arguments[arguments.index("bench") + 1 :] if "bench" in arguments else arguments


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


if __name__ == "__main__":  # `python -m omnistock_cli.bench`: what `make bench` runs
    typer.run(bench)
