"""Epoch time of convnet sizes relative to LeNet-5, both in dagnet, in alternated rounds.

    python benchmarks/mnist_cnn_sizes.py [--configs lenet5 convnet:8,16 convnet:12,24:64]
                                         [--batches 10] [--repeats 5] [--threads 1]

Each config is ``lenet5`` or ``convnet:C1,C2[:HIDDEN]`` (``convnet(channels=(C1, C2),
hidden=HIDDEN)``, the builder's default hidden size without it).  Every round times ``--batches``
consecutive training batches of each config (float32, batch 128, Adam, forward +
backward + update, training mode), in an order that is reversed every other
round, so a noisy neighbour slows all alike; the report is the median time per
batch, the epoch that makes (x 469 batches, extrapolated) and its ratio to the
first config's.  Random images: the time does not depend on the pixels.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from dagnet.models.convolutional import convnet, lenet5
from dagnet.optim import Adam

BATCH = 128
EPOCH_BATCHES = 469


def build(config: str):
    """The Graph a config names (weights from seed 0)."""
    rng = np.random.default_rng(0)
    if config == "lenet5":
        return lenet5(rng=rng)
    name, _, sizes = config.partition(":")
    if name != "convnet" or not sizes:
        raise SystemExit(f"a config is lenet5 or convnet:C1,C2[:HIDDEN], got {config!r}")
    channels, _, hidden = sizes.partition(":")
    size = {"hidden": int(hidden)} if hidden else {}  # else the builder's default
    return convnet(rng=rng, channels=tuple(int(c) for c in channels.split(",")), **size)


class Contender:
    def __init__(self, config: str, X: np.ndarray, Y: np.ndarray):
        self.config, self.X, self.Y = config, X, Y
        self.graph = build(config)
        self.graph.train()
        self.optimizer = Adam(self.graph.parameter_nodes, 1e-3)

    def train(self, start: int, batches: int) -> float:
        started = time.perf_counter()
        for k in range(start, start + batches):
            rows = slice(k * BATCH, (k + 1) * BATCH)
            self.graph.propagate([self.X[rows]])
            self.graph.backpropagate([self.Y[rows]])
            self.optimizer.optimize(BATCH)
        return (time.perf_counter() - started) / batches


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["lenet5", "convnet:8,16"])
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    n = BATCH * (args.batches + 1)
    X = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    contenders = [Contender(config, X, Y) for config in args.configs]
    times: dict[str, list[float]] = {c.config: [] for c in contenders}
    with threadpool_limits(args.threads):
        for c in contenders:
            c.train(0, 1)  # warm up: scratch arrays, BLAS
        for round_ in range(args.repeats):
            for c in (contenders if round_ % 2 == 0 else contenders[::-1]):
                times[c.config].append(c.train(1, args.batches))
            print(f"round {round_ + 1}/{args.repeats}: " + ", ".join(
                f"{k} {1e3 * v[-1]:.0f} ms" for k, v in times.items()), file=sys.stderr)
    medians = {k: statistics.median(v) for k, v in times.items()}
    first = medians[args.configs[0]]
    print(f"threads {args.threads}, batch {BATCH}, {args.batches} batches x {args.repeats} "
          f"rounds; epoch = median s/batch x {EPOCH_BATCHES}")
    for config, median in medians.items():
        print(f"{config:<22} {1e3 * median:8.1f} ms/batch {EPOCH_BATCHES * median:8.1f} s/epoch "
              f"{median / first:6.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"threads": args.threads, "batch_seconds": times,
                                         "ratio": {k: v / first for k, v in medians.items()}},
                                        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
