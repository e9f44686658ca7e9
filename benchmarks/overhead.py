"""Python overhead per node of propagate + backpropagate, and the time of the toy commands.

    python benchmarks/overhead.py [--repeats 7] [--chain 1000] [--runs 3] [--json FILE]

1. Per node, on tiny arrays, where the arithmetic costs almost nothing and what
   is left is dagnet's own bookkeeping: a chain of ``--chain`` TanhNodes on a
   (1, 1) parameter ending in a squared error, and the XOR network [4, 4, 1] on
   its four points (15 nodes).  Each is timed as microseconds per node of one
   ``propagate`` + ``backpropagate``, next to the same arithmetic written as
   plain NumPy calls (no graph), so the difference is the framework's overhead.
2. The wall time of one default ``dagnet xor`` and one default ``dagnet disk`` run,
   each a fresh ``python -m dagnet`` process (interpreter start, imports, training,
   figures, files), with the training time the run itself recorded in metrics.json.

Configurations alternate round by round, so a noisy neighbour slows them all
alike; medians over the rounds are reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dagnet import Graph, InputNode, ParameterNode, SquaredErrorNode, TanhNode, fully_connected
from dagnet.data.toy import xor


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7,
                        help="rounds of the per-node timings (default 7)")
    parser.add_argument("--chain", type=int, default=1000,
                        help="TanhNodes in the chain (default 1000)")
    parser.add_argument("--runs", type=int, default=3,
                        help="runs of each CLI command (default 3; 0 skips them)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser.parse_args(argv)


# -- 1. per-node overhead ----------------------------------------------------------------

def chain_graph(length: int) -> Graph:
    """w -> tanh -> tanh -> ... -> squared error against Y; every array is (1, 1)."""
    w = ParameterNode(np.full((1, 1), 0.5), name="w")
    node = w
    for _ in range(length):
        node = TanhNode([node])
    expected = InputNode(name="Y")
    cost = SquaredErrorNode([expected, node])
    return Graph(None, [], [node], [expected], cost)


def numpy_chain(length: int, w: np.ndarray, y: np.ndarray) -> None:
    """The chain's arithmetic alone: the same NumPy calls, no nodes, no graph."""
    values = [w]
    for _ in range(length):
        values.append(np.tanh(values[-1]))
    diff = values[-1] - y
    float(np.vdot(diff, diff))
    g = 2 * diff
    for v in reversed(values[1:]):
        g = g * (1 - v * v)


def numpy_mlp(params: list[np.ndarray], X: np.ndarray, Y: np.ndarray) -> tuple:
    """The XOR network's forward and backward arithmetic alone, as plain NumPy calls."""
    W1, b1, W2, b2, W3, b3 = params
    a1 = X @ W1 + b1
    h1 = np.tanh(a1)
    a2 = h1 @ W2 + b2
    h2 = np.tanh(a2)
    z = h2 @ W3 + b3
    p = (1 + np.tanh(z * 0.5)) * 0.5
    float(np.maximum(z, 0).sum() - np.vdot(z, Y) + np.log1p(np.exp(-np.abs(z))).sum())
    g = p - Y
    gW3, gb3 = h2.T @ g, g.sum(axis=0)
    g = (g @ W3.T) * (1 - h2 * h2)
    gW2, gb2 = h1.T @ g, g.sum(axis=0)
    g = (g @ W2.T) * (1 - h1 * h1)
    gW1, gb1 = X.T @ g, g.sum(axis=0)
    return gW1, gb1, gW2, gb2, gW3, gb3


def per_call_seconds(fn, min_seconds: float = 0.2) -> float:
    """Seconds per call of ``fn``, over enough calls to last ``min_seconds``."""
    fn()  # warm-up
    calls, elapsed = 1, 0.0
    while True:
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return elapsed / calls
        calls *= 2


def node_overhead(repeats: int, length: int) -> dict:
    chain = chain_graph(length)
    y = np.zeros((1, 1))
    w = chain.parameter_nodes[0].w
    mlp = fully_connected([4, 4, 1], 2, rng=np.random.default_rng(0))
    X, Y = xor()
    params = [p.w for p in mlp.parameter_nodes]
    configurations = {
        "chain": (len(chain.nodes), lambda: (chain.propagate([]), chain.backpropagate([y]))),
        "chain, NumPy only": (len(chain.nodes), lambda: numpy_chain(length, w, y)),
        "chain, propagate only": (len(chain.nodes), lambda: chain.propagate([])),
        "xor [4, 4, 1]": (len(mlp.nodes), lambda: (mlp.propagate([X]), mlp.backpropagate([Y]))),
        "xor [4, 4, 1], NumPy only": (len(mlp.nodes), lambda: numpy_mlp(params, X, Y)),
    }
    samples = {name: [] for name in configurations}
    for _ in range(repeats):
        for name, (nodes, fn) in configurations.items():
            samples[name].append(per_call_seconds(fn) / nodes * 1e6)
    results = {name: {"nodes": configurations[name][0],
                      "us_per_node": statistics.median(values),
                      "rounds": values} for name, values in samples.items()}
    for net in ("chain", "xor [4, 4, 1]"):
        results[net]["overhead_us_per_node"] = (results[net]["us_per_node"]
                                                - results[f"{net}, NumPy only"]["us_per_node"])
    return results


# -- 2. the toy commands -----------------------------------------------------------------

def command_times(runs: int) -> dict:
    wall = {"xor": [], "disk": []}
    training = {"xor": [], "disk": []}
    accuracy = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(runs):
            for command in wall:
                out = Path(tmp) / f"{command}-{k}"
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "dagnet", command, "--out", str(out),
                                "--no-progress"], check=True, capture_output=True)
                wall[command].append(time.perf_counter() - started)
                metrics = json.loads((out / "metrics.json").read_text())
                training[command].append(metrics["training_seconds"])
                accuracy[command] = metrics["accuracy"]  # the same every run: same seed
    return {command: {"wall_seconds": statistics.median(wall[command]),
                      "training_seconds": statistics.median(training[command]),
                      "accuracy": accuracy[command], "rounds": wall[command]}
            for command in wall}


def main(argv=None) -> int:
    args = parse_arguments(argv)
    results = {"numpy": np.__version__, "python": sys.version.split()[0],
               "per_node": node_overhead(args.repeats, args.chain)}
    print(f"propagate + backpropagate on tiny arrays, median of {args.repeats} rounds "
          "(microseconds per node):")
    print(f"  {'graph':<28} {'nodes':>6} {'µs/node':>9} {'overhead':>9}")
    for name, r in results["per_node"].items():
        overhead = r.get("overhead_us_per_node")
        print(f"  {name:<28} {r['nodes']:>6} {r['us_per_node']:>9.2f} "
              + (f"{overhead:>9.2f}" if overhead is not None else f"{'':>9}"))
    if args.runs > 0:
        results["commands"] = command_times(args.runs)
        print(f"default runs, median of {args.runs} (a fresh python -m dagnet process each):")
        for command, r in results["commands"].items():
            print(f"  dagnet {command:<5} wall {r['wall_seconds']:6.2f} s, of which training "
                  f"{r['training_seconds']:5.2f} s; accuracy {r['accuracy']:.1%}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
