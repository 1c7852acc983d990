"""The benchmark's CPU figures: a process that ends inside the measured window (a client's
database connection closing as its row ends) still counts what it used, never less than nothing."""

from __future__ import annotations

import subprocess
import sys

from omnistock_bench.cpu import CpuWindow, process_ticks

# Burns CPU for a fixed amount of its own CPU time, says so, then waits for its input to close.
BURNER = (
    "import sys, time\n"
    "start = time.process_time()\n"
    "while time.process_time() - start < 0.3:\n"
    "    pass\n"
    "print('burnt', flush=True)\n"
    "sys.stdin.read()\n"
)


def test_a_process_that_ends_inside_the_window_counts_what_it_used() -> None:
    child = subprocess.Popen([sys.executable, "-c", BURNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    window = CpuWindow({"ending": [child.pid]})
    window.start()
    assert child.stdout is not None and child.stdout.readline().strip() == "burnt"
    window.sample()
    used = process_ticks(child.pid) - window._start[child.pid]
    assert used > 0
    child.communicate("")  # closes its input: it ends, and is gone from /proc
    assert process_ticks(child.pid) == 0

    result = window.stop()

    assert result["ending"] > 0
    assert "machine" in result
