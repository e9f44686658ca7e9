"""Busy neighbours for the benchmarks: processes that each spin on a core, the way other
jobs load a shared machine, started and stopped around a measurement.

    with busy_neighbours(1):
        ...  # timed beside one process running ``while True: pass``
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def busy_neighbours(count: int) -> Iterator[list[int]]:
    """Start ``count`` spinning Python processes; stop them (by pid) when the block ends.
    Yields their pids."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(count)]
    try:
        yield [p.pid for p in spinners]
    finally:
        for p in spinners:
            p.kill()
        for p in spinners:
            p.wait()
