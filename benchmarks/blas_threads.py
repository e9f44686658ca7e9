"""Matrix products of char-rnn at 1 and 2 BLAS threads, on a quiet machine and beside
busy neighbours: does the best thread count depend on the product's size?

    python benchmarks/blas_threads.py [--hidden 128 512] [--busy 0 1] [--rounds 9]
                                      [--json FILE]

The products are those of one char-rnn training iteration (seq 50, batch 50, 65
characters, LSTM layers of H units, float32): the recurrent product of a step
h·U (50, H)·(H, 4H) and its backward dz·Uᵀ (50, 4H)·(4H, H), the whole-sequence
dJ/dU (H, 2500)·(2500, 4H), the second layer's input projection (2500, H)·(H, 4H)
and the output layer (2500, H)·(H, 65).  For each ``--busy`` count, that many
neighbour processes spin on a core each (``while True: pass``) while the products
are timed; 0 is the machine as it is (on a shared machine not quite quiet: the
load average is printed with the results).  The two thread counts alternate
product by product, round by round, and the median of the rounds is reported
with its ratio; each timing repeats the product until 20 ms have passed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from busy import busy_neighbours  # benchmarks/busy.py (run as a script, benchmarks/ is on sys.path)

from dagnet.threads import available_cores, blas_threads

SEQ_LENGTH, BATCH_SIZE, VOCABULARY = 50, 50, 65


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 1],
                        help="numbers of spinning neighbours to measure beside (default 0 1)")
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="thread counts to compare (default 1 and the available cores)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    return parser.parse_args(argv)


def products(n: int, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The operands of char-rnn's products for LSTM layers of n units, by name."""
    rows = SEQ_LENGTH * BATCH_SIZE
    shapes = {f"step h·U ({BATCH_SIZE},{n})·({n},{4 * n})": ((BATCH_SIZE, n), (n, 4 * n)),
              f"step dz·Uᵀ ({BATCH_SIZE},{4 * n})·({4 * n},{n})": ((BATCH_SIZE, 4 * n),
                                                                  (4 * n, n)),
              f"dJ/dU ({n},{rows})·({rows},{4 * n})": ((n, rows), (rows, 4 * n)),
              f"projection ({rows},{n})·({n},{4 * n})": ((rows, n), (n, 4 * n)),
              f"output ({rows},{n})·({n},{VOCABULARY})": ((rows, n), (n, VOCABULARY))}
    return {name: (rng.standard_normal(a).astype(np.float32),
                   rng.standard_normal(b).astype(np.float32)) for name, (a, b) in shapes.items()}


def seconds_per_product(a: np.ndarray, b: np.ndarray, budget: float = 0.02) -> float:
    """Mean seconds of a·b, repeated until ``budget`` seconds have passed (after one)."""
    out = a @ b
    count, started = 0, time.perf_counter()
    while True:
        np.matmul(a, b, out=out)
        count += 1
        elapsed = time.perf_counter() - started
        if elapsed >= budget:
            return elapsed / count


def measure(operands: dict, thread_counts: list[int], rounds: int) -> dict[str, dict]:
    """Median milliseconds per product and thread count, thread counts alternated."""
    times = {name: {k: [] for k in thread_counts} for name in operands}
    for r in range(rounds):
        for name, (a, b) in operands.items():
            for k in thread_counts if r % 2 == 0 else thread_counts[::-1]:
                with blas_threads(k):
                    times[name][k].append(seconds_per_product(a, b))
    results = {}
    for name, (a, b) in operands.items():
        ms = {k: 1e3 * statistics.median(v) for k, v in times[name].items()}
        results[name] = {"mflop": 2e-6 * a.shape[0] * a.shape[1] * b.shape[1], "ms": ms}
    return results


def main(argv=None) -> int:
    args = parse_arguments(argv)
    thread_counts = args.threads or sorted({1, available_cores()})
    rng = np.random.default_rng(0)
    report = {"cores": available_cores(), "threads": thread_counts, "runs": []}
    for busy in args.busy:
        with busy_neighbours(busy):
            time.sleep(0.5 if busy else 0)  # let the spinners start
            load = os.getloadavg()[0]
            for n in args.hidden:
                results = measure(products(n, rng), thread_counts, args.rounds)
                report["runs"].append({"busy": busy, "hidden": n, "load_average_1min": load,
                                       "products": results})
                print(f"H = {n}, {busy} busy neighbour(s), load average {load:.1f}, "
                      f"{available_cores()} cores; median ms of {args.rounds} rounds")
                head = "".join(f"{f'{k} thr':>10}" for k in thread_counts)
                print(f"  {'product':<40} {'MFLOP':>8}{head}  fastest")
                for name, r in results.items():
                    best = min(r["ms"], key=r["ms"].get)
                    cells = "".join(f"{r['ms'][k]:10.3f}" for k in thread_counts)
                    ratio = r["ms"][thread_counts[0]] / r["ms"][best]
                    print(f"  {name:<40} {r['mflop']:8.1f}{cells}  {best} thr "
                          f"({ratio:.2f}x vs {thread_counts[0]})")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
