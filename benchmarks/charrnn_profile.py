"""Where a char-rnn training iteration spends its time: per node type, then per line
of the recurrent layer node.

    python benchmarks/charrnn_profile.py [--hidden 128 128] [--cell lstm] [--threads 1]
                                         [--iterations 10] [--json FILE]

1. Per node type: every node of the training graph (CharRNN, float32, seq 50,
   batch 50, RMSProp as in benchmarks/charrnn.py) is timed in its forward and
   backward; the optimizer update is timed apart; what is left of the iteration
   is the graph's own bookkeeping (schedules, gradient sums, ``zeros_like``).
2. Per line of the layer node (``LSTMLayerNode``, ``GRULayerNode`` or
   ``RNNLayerNode``): a line tracer adds up the time of every line of its
   ``compute_output`` and ``compute_gradient``, and the lines are grouped as
   matrix products (``matmul``, ``@``), allocations and copies (``np.empty``,
   ``np.array``, ``copy``, ``ones``, ``zeros``), and element-wise work (the rest).
   The tracer costs about a microsecond per line, so the same node is also traced
   on a (T, 1, 1) problem, whose arithmetic is nothing: that is the Python and
   NumPy dispatch overhead, subtracted from each line of the full-size run and
   reported on its own.

Times are CPU seconds of this process (``time.process_time``, BLAS threads
included), not wall time: on a shared machine the time spent waiting for a core
would swamp the breakdown.  Part 1 adds up ``--iterations`` iterations (after one
untimed one); part 2 takes the median per line over as many.
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

# The sibling script's constants and data (run as a script, benchmarks/ is on sys.path).
from charrnn import BATCH_SIZE, CLIP, DECAY, LR, SEQ_LENGTH, batches

from dagnet.models.charrnn import CharRNN
from dagnet.nodes import GRULayerNode, LSTMLayerNode, RNNLayerNode
from dagnet.optim import RMSProp
from dagnet.threads import blas_threads
from dagnet.training import Batch

LAYER_NODES = {"lstm": LSTMLayerNode, "gru": GRULayerNode, "rnn": RNNLayerNode}
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 128])
    parser.add_argument("--cell", choices=sorted(LAYER_NODES), default="lstm",
                        help="the layer node traced in part 2 (part 1 always runs CharRNN's "
                             "LSTM)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    return parser.parse_args(argv)


def time_node_types(hidden: list[int], iterations: int) -> dict[str, float]:
    """Milliseconds per iteration: each node type's forward and backward, the optimizer,
    and the rest of the iteration (graph bookkeeping)."""
    data, V = batches(iterations + 1)
    net = CharRNN("".join(map(chr, range(32, 32 + V))), hidden, rng=np.random.default_rng(0))
    optimizer = RMSProp(net.parameter_nodes, LR, rho=DECAY, clip_value=CLIP)
    graph = net.graph(SEQ_LENGTH, training=True)
    spent: dict[str, float] = defaultdict(float)
    for node in graph.nodes:
        for method in ("compute_output", "compute_gradient"):
            step = "forward" if method == "compute_output" else "backward"
            label = f"{type(node).__name__}.{step}"
            setattr(node, method, _timed(getattr(node, method), label, spent))
    optimizer.optimize = _timed(optimizer.optimize, "optimizer update", spent)
    net.train_step(Batch(*data[0], data[0][0].size), optimizer)
    spent.clear()
    started = time.process_time()
    for X, Y in data[1:]:
        net.train_step(Batch(X, Y, X.size), optimizer)
    total = 1e3 * (time.process_time() - started) / iterations
    per_iteration = {k: 1e3 * v / iterations for k, v in spent.items()}
    per_iteration["graph bookkeeping (the rest)"] = total - sum(per_iteration.values())
    per_iteration["total"] = total
    return per_iteration


def _timed(function, label: str, spent: dict[str, float]):
    def wrapper(*args, **kwargs):
        started = time.process_time()
        result = function(*args, **kwargs)
        spent[label] += time.process_time() - started
        return result
    return wrapper


def line_times(cell: str, steps: int, batch: int, n: int, iterations: int
               ) -> dict[tuple[str, int], float]:
    """Median seconds per (method, line number) of one forward and backward of the layer."""
    cls = LAYER_NODES[cell]
    rng = np.random.default_rng(0)
    width = GATES[cell] * n
    values = [rng.standard_normal((steps, batch, width)).astype(np.float32)]
    values += [rng.standard_normal((batch, n)).astype(np.float32)
               for _ in range(2 if cell == "lstm" else 1)]
    values.append((rng.standard_normal((n, width)) / np.sqrt(n)).astype(np.float32))
    node = cls([])
    node.x = values
    rounds: dict[tuple[str, int], list[float]] = defaultdict(list)
    codes = {cls.compute_output.__code__: "forward", cls.compute_gradient.__code__: "backward"}
    for k in range(iterations + 1):
        spent: dict[tuple[str, int], float] = defaultdict(float)
        tracer = _LineTracer(codes, spent)
        sys.settrace(tracer.trace)
        try:
            node.y = node.compute_output()
            node.dJdy = [np.ones_like(y) for y in node.y]
            node.compute_gradient()
        finally:
            sys.settrace(None)
        if k:  # the first round warms the caches
            for key in set(spent) | set(rounds):
                rounds[key].append(spent.get(key, 0.0))
    return {key: statistics.median(v) for key, v in rounds.items()}


class _LineTracer:
    """Adds the time from each line event to the next to the earlier line."""

    def __init__(self, codes: dict, spent: dict):
        self.codes, self.spent = codes, spent
        self.line: tuple[str, int] | None = None
        self.started = 0.0

    def trace(self, frame, event, arg):
        if frame.f_code not in self.codes:
            return None
        return self.local

    def local(self, frame, event, arg):
        now = time.process_time()
        if self.line is not None:
            self.spent[self.line] += now - self.started
        self.line = (self.codes[frame.f_code], frame.f_lineno) if event == "line" else None
        self.started = time.process_time()
        return self.local


def classify(source: str) -> str:
    if "matmul" in source or " @ " in source:
        return "matrix products"
    if any(k in source for k in ("np.empty", "np.array(", "copy", "np.ones", "np.zeros")):
        return "allocations and copies"
    return "element-wise"


def line_breakdown(cell: str, n: int, iterations: int) -> dict:
    """Per-line milliseconds at full size minus the tiny-size (dispatch) time, grouped."""
    cls = LAYER_NODES[cell]
    full = line_times(cell, SEQ_LENGTH, BATCH_SIZE, n, iterations)
    tiny = line_times(cell, SEQ_LENGTH, 1, 1, iterations)
    sources = {}
    for method, label in ((cls.compute_output, "forward"), (cls.compute_gradient, "backward")):
        lines, first = inspect.getsourcelines(method)
        for k, text in enumerate(lines):
            sources[(label, first + k)] = text.strip()
    groups: dict[str, float] = defaultdict(float)
    lines = []
    for key, seconds in sorted(full.items(), key=lambda kv: -kv[1]):
        work = max(seconds - tiny.get(key, 0.0), 0.0)
        source = sources.get(key, "?")
        groups[f"{key[0]}: {classify(source)}"] += 1e3 * work
        lines.append({"pass": key[0], "line": key[1], "source": source,
                      "ms": 1e3 * seconds, "dispatch_ms": 1e3 * tiny.get(key, 0.0)})
    groups["Python and dispatch overhead (the (T, 1, 1) run)"] = 1e3 * sum(tiny.values())
    return {"groups": dict(groups), "lines": lines[:15],
            "traced_total_ms": 1e3 * sum(full.values())}


def main(argv=None) -> int:
    args = parse_arguments(argv)
    with blas_threads(args.threads):
        nodes = time_node_types(args.hidden, args.iterations)
        breakdown = line_breakdown(args.cell, args.hidden[-1], args.iterations)
    print(f"char-rnn {args.hidden}, seq {SEQ_LENGTH}, batch {BATCH_SIZE}, float32, "
          f"{args.threads} BLAS thread(s); median of {args.iterations} iterations")
    print("per node type, ms per iteration:")
    for label, ms in sorted(nodes.items(), key=lambda kv: -kv[1]):
        print(f"  {label:<44} {ms:8.2f}")
    print(f"{LAYER_NODES[args.cell].__name__} (T={SEQ_LENGTH}, B={BATCH_SIZE}, "
          f"H={args.hidden[-1]}) traced line by line, ms per forward + backward:")
    for label, ms in sorted(breakdown["groups"].items(), key=lambda kv: -kv[1]):
        print(f"  {label:<52} {ms:8.2f}")
    print("  the costliest lines (ms, of which dispatch ms):")
    for line in breakdown["lines"][:10]:
        print(f"    {line['pass']:<8} {line['ms']:7.2f} {line['dispatch_ms']:6.2f}  "
              f"{line['source'][:70]}")
    if args.json:
        Path(args.json).write_text(json.dumps({"hidden": args.hidden, "threads": args.threads,
                                               "nodes_ms": nodes, "layer": breakdown},
                                              indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
