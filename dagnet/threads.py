"""How many threads NumPy's BLAS may use, changed at run time with threadpoolctl.

``set_threads(n)`` sets the count for the rest of the process; ``blas_threads(n)``
sets it for a ``with`` block and restores the previous count; ``get_threads()``
reads it.  ``n`` may be ``"auto"``: the policy of ``auto_threads()``, as many
threads as there are cores that other processes leave free, at least one.

Why the policy: a multi-threaded BLAS splits every product across its threads and
waits for all of them.  When another process holds one of the cores, the thread
that shares it runs only in the scheduler's time slices, and every product waits
for it: on a 2-core machine with busy neighbours, char-rnn's per-step products
ran 2 to 117 times slower with 2 threads than with 1 and a whole training
iteration 2 to 17 times slower (benchmarks/blas_threads.py, benchmarks/charrnn.py),
while on a quiet machine 2 threads made the iteration 1.5 times faster
(docs/charrnn.md).  The product's size does not decide it: beside busy
neighbours a 5-GFLOP dJ/dU lost with 2 threads while an input projection of the
same size gained up to 1.25x.  So the count follows the free cores, whatever the
product.

Only the BLAS libraries are touched (OpenBLAS or MKL under NumPy), not OpenMP,
so PyTorch's own threads are left alone.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy  # noqa: F401  (loaded before the scan below, which finds only loaded libraries)
from threadpoolctl import ThreadpoolController

PROC_STAT = "/proc/stat"
# How much of a core the other processes may take before the policy gives it up: a
# thread on a shared core stalls every product, a free core unused costs less.
SHARED_CORE_SLACK = 0.2
# /proc/stat counts in jiffies (10 ms): shorter windows are too coarse to read.
MIN_WINDOW_SECONDS = 0.1

_controller: ThreadpoolController | None = None
_last_sample: tuple[float, float, int, int] | None = None
_last_estimate: float | None = None
_pool: ThreadPoolExecutor | None = None


def _blas():
    """The BLAS libraries loaded in this process (found once: the scan takes milliseconds).
    Warns once if there is none threadpoolctl can see: then the counts are left alone."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
        if not _controller.select(user_api="blas").lib_controllers:
            warnings.warn("dagnet.threads: threadpoolctl finds no BLAS library under NumPy "
                          "(threadpoolctl older than 3.5 does not know NumPy 2's "
                          "scipy-openblas); the BLAS thread count is left as it is",
                          RuntimeWarning, stacklevel=3)
    return _controller.select(user_api="blas").lib_controllers


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def get_threads() -> int | None:
    """The thread count of NumPy's BLAS (the largest, if several libraries are loaded);
    None if no BLAS library can be seen."""
    return max((lib.get_num_threads() for lib in _blas()), default=None)


def set_threads(n: int | str) -> int:
    """Let NumPy's BLAS use ``n`` threads (1 to the available cores, or ``"auto"``) from
    now on; returns the count set."""
    count = _thread_count(n)
    for lib in _blas():
        if lib.get_num_threads() != count:
            lib.set_num_threads(count)
    return count


@contextmanager
def blas_threads(n: int | str) -> Iterator[int]:
    """``with blas_threads(1): ...`` runs the block with ``n`` BLAS threads (or ``"auto"``),
    then restores the previous counts.  Yields the count set."""
    previous = [lib.get_num_threads() for lib in _blas()]
    try:
        yield set_threads(n)
    finally:
        for lib, count in zip(_blas(), previous):
            lib.set_num_threads(count)


def auto_threads() -> int:
    """One thread per core that other processes left free lately (``free_cores``; the
    first call watches the machine for a tenth of a second), from 1 to the available
    cores.  Where the machine's load cannot be read, all available cores."""
    free = free_cores()
    if free is None:
        return available_cores()
    return max(1, min(available_cores(), int(free + SHARED_CORE_SLACK)))


def free_cores() -> float | None:
    """Cores not used by other processes since the previous estimate: the machine's idle
    time plus this process's own CPU time, over the wall time between two samples of
    Linux's /proc/stat at least ``MIN_WINDOW_SECONDS`` apart (closer calls get the
    previous estimate).  None where /proc/stat cannot be read."""
    global _last_sample, _last_estimate
    sample = _sample()
    if sample is None:
        return None
    if _last_sample is None:
        time.sleep(MIN_WINDOW_SECONDS)
        _last_sample, sample = sample, _sample()
    wall, own, idle, total = (a - b for a, b in zip(sample, _last_sample))
    if wall < MIN_WINDOW_SECONDS and _last_estimate is not None:
        return _last_estimate
    _last_sample = sample
    cores = os.cpu_count() or 1
    _last_estimate = (cores * idle / total if total > 0 else 0.0) + own / wall
    return _last_estimate


def _sample() -> tuple[float, float, int, int] | None:
    """(wall seconds, this process's CPU seconds, idle and total jiffies of the machine)."""
    try:
        with open(PROC_STAT, "rb") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal: idle and iowait are free time.
    return time.perf_counter(), time.process_time(), fields[3] + fields[4], sum(fields)


def _thread_count(n: int | str) -> int:
    if n == "auto":
        return auto_threads()
    cores = available_cores()
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= cores:
        raise ValueError(f"the BLAS thread count must be an integer from 1 to {cores} (the "
                         f"cores this process may use) or 'auto', got {n!r}")
    return n


def worker_count() -> int:
    """How many threads ``parallel_map`` would use: the BLAS thread count (1 if no BLAS
    library can be seen)."""
    return get_threads() or 1


def parallel_map(function: Callable, items: Sequence) -> list:
    """[function(item) for item in items], on as many threads as BLAS may use.

    For work a node splits into independent pieces (blocks of images, say) whose NumPy
    calls release the GIL: with n > 1 BLAS threads, the pieces run on n threads of one
    pool the process keeps, each piece's products on one BLAS thread (the count is
    restored after), so that the element-wise work and the copies run in parallel too,
    not only the products.  With one thread, or one item, a plain loop.
    """
    workers = min(len(items), worker_count())
    if workers <= 1:
        return [function(item) for item in items]
    global _pool
    if _pool is None:  # never more threads than cores, the most get_threads() allows
        _pool = ThreadPoolExecutor(max_workers=available_cores(), thread_name_prefix="dagnet")
    with blas_threads(1):
        return list(_pool.map(function, items))


def _forget_pool() -> None:
    """A forked child has none of its parent's threads: a pool inherited from the parent
    would take work and never run it, so the child starts its own when it needs one."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)

