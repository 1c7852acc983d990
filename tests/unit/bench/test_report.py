"""The printed table shows what a call costs: the system's CPU per call, the load generators left out."""

from __future__ import annotations

from omnistock_bench.report import cpu_breakdown, system_cpu_ms, table
from rich.console import Console

ROW = {
    "name": "get_stock",
    "title": "GetStock",
    "throughput": 1000.0,
    "p50_ms": 1.0,
    "p95_ms": 2.0,
    "p99_ms": 3.0,
    "ratio_a": 0.5,
    "ratio_b": None,
    "codes": {"OK": 100},
    "extra": {"cpu_ms_per_op": {"inventory": 0.25, "postgres": 0.5, "nats": 0.05, "clients": 0.9, "bench": 0.01}},
}


def test_the_cost_of_a_call_sums_the_systems_processes_only() -> None:
    assert system_cpu_ms(ROW) == 0.8
    assert cpu_breakdown(ROW) == "postgres 0.50, inventory 0.25, nats 0.05"
    assert system_cpu_ms({**ROW, "extra": {}}) is None


def test_the_table_has_a_cost_column() -> None:
    report = {"config": {"duration": 5, "concurrency": 8, "clients": 2, "inventory_processes": 1}, "rows": [ROW]}
    console = Console(width=200, record=True)
    console.print(table(report))
    printed = console.export_text()
    assert "CPU ms/call" in printed
    assert "0.80" in printed
