"""Cost of an optimizer update on the MNIST network, against a training step and naive NumPy.

    python benchmarks/optimizer_step.py [--repeats 7] [--dtype float32] [--json FILE]

For the [784 -> 128 -> 64 -> 10] network of ``dagnet optimizers --dataset mnist``
(109,386 weights) and a batch of 64 images' worth of random
gradients, times ``optimizer.optimize(64)`` for every algorithm, and for three of
them (momentum, RMSProp, Adam) the same update written the obvious way, one
temporary array per operation (``m = b1 * m + (1 - b1) * g`` ...).  It also times
one forward and backward pass of a batch of 64 (``propagate`` + ``backpropagate``),
so the table shows what share of a training step the update is.  Configurations
alternate round by round (a noisy neighbour slows them all alike); the median
time per update over the rounds is reported, with ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from dagnet import fully_connected
from dagnet.optim import OPTIMIZERS, OptimizationAlgorithm


class NaiveMomentum(OptimizationAlgorithm):
    def compute_direction(self, i, grad):
        v = self.state[i].get("v", 0.0)
        self.state[i]["v"] = v = 0.9 * v + grad
        return v


class NaiveRMSProp(OptimizationAlgorithm):
    def compute_direction(self, i, grad):
        v = self.state[i].get("v", 0.0)
        self.state[i]["v"] = v = 0.9 * v + (1 - 0.9) * grad * grad
        return grad / (np.sqrt(v) + 1e-8)


class NaiveAdam(OptimizationAlgorithm):
    def compute_direction(self, i, grad):
        state = self.state[i]
        m = state["m"] = 0.9 * state.get("m", 0.0) + (1 - 0.9) * grad
        v = state["v"] = 0.999 * state.get("v", 0.0) + (1 - 0.999) * grad * grad
        m_hat = m / (1 - 0.9 ** self.t)
        v_hat = v / (1 - 0.999 ** self.t)
        return m_hat / (np.sqrt(v_hat) + 1e-8)


def naive_optimize(optimizer: OptimizationAlgorithm, batch_size: int) -> None:
    """The update as a first version would write it: w -= lr * d with temporaries."""
    optimizer.t += 1
    for i, node in enumerate(optimizer.parameter_nodes):
        grad = node.get_gradient(0) / batch_size
        node.w -= optimizer.learning_rate * optimizer.compute_direction(i, grad)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="rounds (default 7)")
    parser.add_argument("--updates", type=int, default=50,
                        help="updates per configuration and round (default 50)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--json", default=None, help="also write the results to FILE")
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    graph = fully_connected([128, 64, 10], 784, "relu", "softmax", rng=rng, dtype=dtype)
    X = rng.standard_normal((64, 784)).astype(dtype)
    Y = np.eye(10, dtype=dtype)[rng.integers(0, 10, 64)]
    graph.propagate([X])
    graph.backpropagate([Y])  # leaves dJ/dw on every parameter for the updates below
    nodes = graph.parameter_nodes
    weights = sum(node.w.size for node in nodes)

    def timed(update):
        started = time.perf_counter()
        for _ in range(args.updates):
            update()
        return (time.perf_counter() - started) / args.updates

    configurations = {f"dagnet {name}": (lambda cls=cls: (lambda o: lambda: o.optimize(64))(
        cls(nodes, 1e-9))) for name, cls in OPTIMIZERS.items()}
    for label, cls in (("momentum", NaiveMomentum), ("rmsprop", NaiveRMSProp),
                       ("adam", NaiveAdam)):
        configurations[f"naive {label}"] = (
            lambda cls=cls: (lambda o: lambda: naive_optimize(o, 64))(cls(nodes, 1e-9)))

    def training_step():
        graph.propagate([X])
        graph.backpropagate([Y])

    configurations["forward+backward"] = lambda: training_step
    updates = {label: make() for label, make in configurations.items()}
    for update in updates.values():  # warm-up: state and scratch arrays allocated
        update()
    times = {label: [] for label in updates}
    for _ in range(args.repeats):
        for label, update in updates.items():
            times[label].append(timed(update))
    medians = {label: statistics.median(values) for label, values in times.items()}
    step = medians["forward+backward"]
    print(f"{weights} weights ({args.dtype}), median of {args.repeats} rounds of "
          f"{args.updates} updates; forward+backward of a batch of 64: {step * 1e3:.2f} ms")
    print(f"{'update':20s} {'ms':>7s} {'/ fwd+bwd':>10s} {'/ dagnet':>9s}")
    for label, value in medians.items():
        if label == "forward+backward":
            continue
        reference = (medians.get(f"dagnet {label.split()[-1]}") if label.startswith("naive")
                     else None)
        ratio = f"{value / reference:9.2f}" if reference else ""
        print(f"{label:20s} {value * 1e3:7.3f} {value / step:10.3f} {ratio}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"weights": weights, "dtype": args.dtype, "repeats": args.repeats,
                       "median_seconds": medians, "all_seconds": times}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
