"""The table a person reads at the end of a run, and the summary under it."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from omnistock_bench.rows import BY_NAME

# Processes that drive the load or measure it: what they spend is not the system's cost.
LOAD_PROCESSES = frozenset({"clients", "bench"})


def system_cpu_ms(row: dict[str, Any]) -> float | None:
    """CPU milliseconds the system (services, PostgreSQL, NATS) spent per OK call, all processes summed."""
    per_process = row["extra"].get("cpu_ms_per_op")
    if not per_process:
        return None
    return sum(value for name, value in per_process.items() if name not in LOAD_PROCESSES)


def cpu_breakdown(row: dict[str, Any]) -> str:
    """Per process, the CPU milliseconds per OK call, costliest first."""
    per_process = row["extra"].get("cpu_ms_per_op") or {}
    ours = sorted(
        ((name, value) for name, value in per_process.items() if name not in LOAD_PROCESSES),
        key=lambda item: -item[1],
    )
    return ", ".join(f"{name} {value:.2f}" for name, value in ours)


def _num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _ratio(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{100 * value:.0f}%"


def table(report: dict[str, Any]) -> Table:
    config = report["config"]
    result = Table(
        title=(
            f"Omnistock benchmark — {config['duration']:g} s per row, concurrency {config['concurrency']}, "
            f"{config['clients']} client processes, {config['inventory_processes']} inventory process(es)"
        ),
        title_justify="left",
    )
    result.add_column("row")
    result.add_column("ops/s", justify="right")
    result.add_column("p50 ms", justify="right")
    result.add_column("p95 ms", justify="right")
    result.add_column("p99 ms", justify="right")
    result.add_column("÷ A", justify="right")
    result.add_column("÷ B", justify="right")
    result.add_column("CPU ms/call", justify="right")
    result.add_column("not OK", justify="right")
    for row in report["rows"]:
        failures = {code: count for code, count in row["codes"].items() if code != "OK"}
        result.add_row(
            row["title"],
            _num(row["throughput"]),
            _num(row["p50_ms"], 2),
            _num(row["p95_ms"], 2),
            _num(row["p99_ms"], 2),
            _ratio(row["ratio_a"]),
            _ratio(row["ratio_b"]) if row.get("ceiling_b") else "—",
            _num(system_cpu_ms(row), 2),
            ", ".join(f"{code} {count}" for code, count in failures.items()) or "0",
        )
    return result


def print_report(console: Console, report: dict[str, Any]) -> None:
    console.print(table(report))
    console.print()
    console.print(
        "[bold]What limited each row[/] (CPU in % of one core over the measured window), and what a call"
        " cost each process (CPU ms/call in the table: services, PostgreSQL and NATS summed; the load"
        " generators left out)"
    )
    for row in report["rows"]:
        console.print(f"  [cyan]{escape(row['title'])}[/]: {escape(row['limit'])}")
        if breakdown := cpu_breakdown(row):
            console.print(f"    CPU ms per call: {escape(breakdown)}")
        for error in row["extra"].get("client_errors", [])[:1]:
            console.print(f"    [red]client error:[/] {escape(error.strip().splitlines()[-1])}")
    checks = report["checks"]
    console.print()
    seed = report["seed"]
    console.print(
        f"Seed: {seed['stock_rows']:,} stock rows in {seed['seconds']} s "
        f"(invariant violations after seeding: {seed['invariant_violations_after_seed']})."
    )
    hot = checks["hot_row"]
    sellout = next((row for row in report["rows"] if row["name"] == "sellout"), None)
    console.print(
        f"Oversold units: [bold]{checks['oversold_units']}[/]; shortfalls: {checks['shortfalls']}; "
        f"invariant violations after the run: {checks['invariant_violation_count']}; "
        f"hot row held {hot['held_in_database']:,} (clients were granted {hot['units_granted_to_clients']:,})."
    )
    if sellout is not None:
        extra = sellout["extra"]
        console.print(
            f"Sell-out: {extra.get('units_granted', 0)} units granted of {extra.get('stock')} "
            f"(held in the database: {extra.get('held_in_database')}), "
            f"{sellout['codes'].get('FAILED_PRECONDITION', 0)} shortfalls."
        )
    if checks["outbox_drained_seconds"] is None:
        console.print("[yellow]the outbox had not drained 120 s after the last row[/]")
    for violation in checks["invariant_violations"]:
        console.print(f"  [red]{escape(violation)}[/]")
    console.print()
    for target in report["targets"]:
        mark = {True: "[green]met[/]", False: "[red]missed[/]", None: "[dim]not measured[/]"}[target["met"]]
        console.print(f"  {mark}  {target['target']} (value: {target['value']})")
    if "path" in report:
        console.print(f"\nJSON: {report['path']}")


def describe_rows() -> str:
    return "\n".join(f"{name}: {row.meaning}" for name, row in BY_NAME.items())
