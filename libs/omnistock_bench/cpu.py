"""CPU use of the processes a row involves, from /proc (Linux), sampled over the row.

Figures are in percent of one core: 100 means one core busy all the time. A Python service
process serves from one event-loop thread, so near 100 it is the limit; the machine's total
shows how much the other tenants of the box took at the same time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def process_ticks(pid: int) -> int:
    """utime + stime of one process (all its threads), in clock ticks; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def machine_ticks() -> tuple[int, int]:
    """(busy, total) ticks of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def postgres_pids() -> list[int]:
    """PostgreSQL's own processes on this machine (its backends and the WAL writer alike)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm.startswith("postgres") or comm.startswith("postmaster"):
            found.append(int(entry.name))
    return found


@dataclass
class CpuWindow:
    """Ticks of named groups of processes between start() and stop().

    Each process's ticks are read at every sample(), and a process that ends inside the window
    counts with what it had used when last seen: a client's database connections close the
    moment its row ends, and a process gone by stop() must not count as less than nothing."""

    groups: dict[str, list[int]]
    _start: dict[int, int] = field(default_factory=dict)
    _last: dict[int, int] = field(default_factory=dict)
    _machine: tuple[int, int] = (0, 0)
    _t0: float = 0.0
    result: dict[str, float] = field(default_factory=dict)

    def _pids(self) -> set[int]:
        return {pid for pids in self.groups.values() for pid in pids}

    def start(self) -> None:
        self._start = {pid: process_ticks(pid) for pid in self._pids()}
        self._last = dict(self._start)
        self._machine = machine_ticks()
        self._t0 = time.monotonic()

    def sample(self) -> None:
        for pid in self._last:
            # A process's ticks only grow; 0 (gone) or less keeps what was last seen.
            self._last[pid] = max(self._last[pid], process_ticks(pid))

    def stop(self) -> dict[str, float]:
        self.sample()
        elapsed = max(time.monotonic() - self._t0, 1e-6)
        busy, total = machine_ticks()
        self.result = {
            name: round(
                100.0 * sum(self._last.get(pid, 0) - self._start.get(pid, 0) for pid in set(pids)) / TICKS / elapsed,
                1,
            )
            for name, pids in self.groups.items()
        }
        span = max(total - self._machine[1], 1)
        self.result["machine"] = round(100.0 * CORES * (busy - self._machine[0]) / span, 1)
        return self.result


def per_process(pids: Iterable[int]) -> dict[int, int]:
    return {pid: process_ticks(pid) for pid in pids}
