"""One MNIST training epoch and one pass of inference: dagnet against PyTorch.

    python benchmarks/mnist_mlp.py [--repeats 7] [--data-dir DIR] [--threads 2] [--busy 0]
                                   [--profile DIR] [--json FILE]

The network of ``dagnet mnist`` (784 -> 128 tanh -> 64 tanh -> 10, softmax
cross-entropy), float32, batch 128, plain SGD (lr 0.1), trained one epoch at a
time by the Trainer (``dagnet.training.Trainer``) and, when PyTorch is installed, by the same
model in PyTorch (``nn.Linear`` layers starting from dagnet's own initial
weights, the same shuffles, ``CrossEntropyLoss`` averaged over the batch, which
is what dagnet's summed cost divided by the batch size is).  Both use
``--threads`` threads (default 2, the cores of these machines): NumPy's BLAS
through dagnet.threads, PyTorch through ``torch.set_num_threads``; ``auto`` gives
dagnet the policy of ``dagnet.threads.auto_threads`` (chosen before every epoch)
and PyTorch the available cores.  ``--busy N`` runs everything beside N processes
spinning on a core each (benchmarks/busy.py).  The two alternate round by round
(a noisy neighbour slows both alike) and the median epoch time of each is
reported, with the ratio.

The GEMM-only lower bound is the epoch's matrix-product FLOPs (forward x·W,
backward xᵀ·g and g·Wᵀ except for the input) divided by the float32 GEMM rate
measured on the spot, in every round, on 1024x1024 matrices (the best rate of the
run: a bound assumes the machine at its best); the same products timed at the
epoch's own shapes (median over the rounds) are shown too.  Inference is the
10,000 test images in one ``propagate`` against one ``model(X)`` under
``torch.no_grad()``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

# benchmarks/busy.py, beside this script (run as a script, benchmarks/ is on sys.path)
from busy import busy_neighbours

from dagnet import GradientDescent, fully_connected
from dagnet.data.mnist import Preprocessing, load_mnist
from dagnet.errors import DataError
from dagnet.threads import available_cores, set_threads
from dagnet.training import ArrayBatches, Profile, Trainer
from dagnet.training.profile import PROFILE_TEXT

ROOT = Path(__file__).resolve().parents[1]
LAYERS = [128, 64, 10]
BATCH = 128
LR = 0.1


def get_data(data_dir: Path) -> tuple[np.ndarray, ...]:
    """Preprocessed float32 MNIST (X, labels, X_test, test labels), or random data
    of the same shapes when the files are missing (timings only)."""
    try:
        train_images, train_labels, test_images, test_labels = load_mnist(data_dir,
                                                                          download=False)
    except DataError as exc:
        print(f"MNIST not found ({exc}); timing on random data of the same shapes",
              file=sys.stderr)
        rng = np.random.default_rng(0)
        train_images = rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8)
        test_images = rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8)
        train_labels = rng.integers(0, 10, 60000).astype(np.uint8)
        test_labels = rng.integers(0, 10, 10000).astype(np.uint8)
    prep = Preprocessing.fit(train_images)
    return (prep.transform(train_images, np.float32), train_labels,
            prep.transform(test_images, np.float32), test_labels)


def gemm_flops_per_epoch(n: int, sizes: list[int]) -> int:
    """Multiply-adds x2 of one epoch's matrix products: x·W forward, xᵀ·g backward for
    every layer, g·Wᵀ for every layer but the first (the input needs no gradient)."""
    products = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * n * (2 * sum(products) + sum(products[1:]))


def gemm_seconds(a: np.ndarray, b: np.ndarray, repeats: int = 3) -> float:
    """The fastest of ``repeats`` products a @ b (after one to warm up)."""
    a @ b
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return best


def gemm_epoch_at_shapes(n: int, sizes: list[int]) -> float:
    """Seconds for the epoch's matrix products alone, at the epoch's own shapes."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((a, b), dtype=np.float32) for a, b in zip(sizes[:-1],
                                                                            sizes[1:])]
    acts = [rng.standard_normal((BATCH, a), dtype=np.float32) for a in sizes]
    started = time.perf_counter()
    for _ in range(math.ceil(n / BATCH)):
        for k, w in enumerate(weights):
            acts[k] @ w
        for k, w in enumerate(weights):
            acts[k].T @ acts[k + 1]
            if k > 0:
                acts[k + 1] @ w.T
    return time.perf_counter() - started


class Dagnet:
    name = "dagnet"

    def __init__(self, X, labels, X_test, dtype=np.float32, formulation="affine",
                 threads: str = "2", profile: Path | None = None):
        self.threads = threads
        # One Profile over every epoch of the run (it adds up across Trainers).
        self.extensions = [Profile(profile)] if profile is not None else []
        self.X, self.X_test = X.astype(dtype), X_test.astype(dtype)
        self.labels = labels
        self.graph = fully_connected(LAYERS, X.shape[1], "tanh", "softmax",
                                     rng=np.random.default_rng(0), dtype=dtype,
                                     formulation=formulation)
        self.optimizer = GradientDescent(self.graph.parameter_nodes, LR)

    def initial_weights(self) -> list[np.ndarray]:
        """W1, b1, W2, b2, ... (the affine formulation's parameters)."""
        return [node.w.copy() for node in self.graph.parameter_nodes]

    def epoch(self, order_rng: np.random.Generator) -> None:
        set_threads("auto" if self.threads == "auto" else int(self.threads))
        Trainer(self.graph, self.optimizer, ArrayBatches(self.X, self.labels, BATCH, order_rng),
                epochs=1, extensions=self.extensions).run()

    def infer(self) -> np.ndarray:
        return self.graph.propagate([self.X_test])[0]


class Torch:
    name = "pytorch"

    def __init__(self, X, labels, X_test, weights: list[np.ndarray], threads: str = "2"):
        import torch

        torch.set_num_threads(available_cores() if threads == "auto" else int(threads))
        self.torch = torch
        layers = []
        for k in range(len(LAYERS)):
            w, b = weights[2 * k], weights[2 * k + 1]
            linear = torch.nn.Linear(*w.shape)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(w.T.copy()))
                linear.bias.copy_(torch.from_numpy(b))
            layers.append(linear)
            if k < len(LAYERS) - 1:
                layers.append(torch.nn.Tanh())
        self.model = torch.nn.Sequential(*layers)
        self.X = torch.from_numpy(X)
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.X_test = torch.from_numpy(X_test)
        self.loss = torch.nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LR)

    def epoch(self, order_rng: np.random.Generator) -> None:
        torch = self.torch
        order = torch.from_numpy(order_rng.permutation(len(self.X)))
        for start in range(0, len(order), BATCH):
            rows = order[start:start + BATCH]
            self.optimizer.zero_grad(set_to_none=True)
            self.loss(self.model(self.X[rows]), self.labels[rows]).backward()
            self.optimizer.step()

    def infer(self) -> np.ndarray:
        with self.torch.no_grad():
            return self.torch.softmax(self.model(self.X_test), dim=1).numpy()


def timed(function, *args) -> tuple[float, float]:
    """Wall and process CPU seconds of ``function(*args)`` (CPU time: what the work cost
    when other processes make it wait for a core)."""
    wall, cpu = time.perf_counter(), time.process_time()
    function(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def run_rounds(contenders: list, repeats: int, n: int, sizes: list[int]) -> tuple:
    """Epoch and inference seconds per contender, and the GEMM timings, per round."""
    square = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    epoch_times = {c.name: [] for c in contenders}
    epoch_cpu = {c.name: [] for c in contenders}
    infer_times = {c.name: [] for c in contenders}
    square_times, shape_times = [], []
    for round_ in range(repeats):
        # The same shuffles for every contender; the order alternates round by round.
        seed = 1000 + round_
        for c in (contenders if round_ % 2 == 0 else contenders[::-1]):
            wall, cpu = timed(c.epoch, np.random.default_rng(seed))
            epoch_times[c.name].append(wall)
            epoch_cpu[c.name].append(cpu)
            infer_times[c.name].append(timed(c.infer)[0])
        square_times.append(gemm_seconds(square, square))
        shape_times.append(gemm_epoch_at_shapes(n, sizes))
        print(f"round {round_ + 1}/{repeats}: " + ", ".join(
            f"{name} {times[-1]:.3f} s" for name, times in epoch_times.items()),
            file=sys.stderr, flush=True)
    return epoch_times, epoch_cpu, infer_times, square_times, shape_times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7,
                        help="rounds, each one epoch per framework (default 7)")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" /
                        "mnist", help="MNIST folder (default ../shared/data/mnist)")
    parser.add_argument("--float64", action="store_true",
                        help="also time dagnet in float64 (the tutorial's precision)")
    parser.add_argument("--tutorial-formulation", action="store_true",
                        help="also time dagnet computing (1|x)·W with AddBiasNode, as the "
                             "tutorial does, instead of x·W + b")
    parser.add_argument("--threads", default="2",
                        choices=["auto"] + [str(k) for k in range(1, available_cores() + 1)],
                        help="BLAS and PyTorch threads, or auto (default 2)")
    parser.add_argument("--busy", type=int, default=0,
                        help="spinning neighbour processes to run beside (default 0)")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="also time dagnet with --profile's per-node timer on (its "
                             "overhead), writing profile.json and profile.txt into DIR")
    parser.add_argument("--json", type=Path, default=None, help="also write results to FILE")
    args = parser.parse_args(argv)

    X, labels, X_test, test_labels = get_data(args.data_dir)
    contenders = [Dagnet(X, labels, X_test, threads=args.threads)]
    try:
        contenders.append(Torch(X, labels, X_test, contenders[0].initial_weights(),
                                args.threads))
    except ImportError:
        print("PyTorch is not installed (pip install torch==2.13.0): timing dagnet alone",
              file=sys.stderr)
    if args.float64:
        contenders.append(Dagnet(X, labels, X_test, np.float64, threads=args.threads))
        contenders[-1].name = "dagnet float64"
    if args.tutorial_formulation:
        contenders.append(Dagnet(X, labels, X_test, formulation="tutorial",
                                 threads=args.threads))
        contenders[-1].name = "dagnet (1|x)·W"

    if args.profile is not None:
        contenders.append(Dagnet(X, labels, X_test, threads=args.threads, profile=args.profile))
        contenders[-1].name = "dagnet profiled"

    sizes = [X.shape[1]] + LAYERS
    with busy_neighbours(args.busy):
        epoch_times, epoch_cpu, infer_times, square_times, shape_times = run_rounds(
            contenders, args.repeats, len(X), sizes)

    flops = gemm_flops_per_epoch(len(X), sizes)
    # A lower bound takes the machine at its best: the fastest large product of the run.
    rate = 2 * 1024**3 / min(square_times)
    at_shapes = statistics.median(shape_times)
    results = {
        "repeats": args.repeats, "threads": args.threads, "busy": args.busy,
        "batch_size": BATCH, "layers": LAYERS, "lr": LR,
        "gemm_gflop_per_epoch": flops / 1e9, "gemm_gflops_measured": rate / 1e9,
        "gemm_bound_seconds": flops / rate, "gemm_at_epoch_shapes_seconds": at_shapes,
        "epoch_seconds": {k: statistics.median(v) for k, v in epoch_times.items()},
        "inference_seconds": {k: statistics.median(v) for k, v in infer_times.items()},
        "epoch_seconds_all": epoch_times,
        "epoch_cpu_seconds": {k: statistics.median(v) for k, v in epoch_cpu.items()},
        "load_average": os.getloadavg()[0],
        "test_accuracy_after": {c.name: float(np.mean(c.infer().argmax(1) == test_labels))
                                for c in contenders},
    }
    epoch, infer = results["epoch_seconds"], results["inference_seconds"]
    print(f"\nMNIST [784, {', '.join(map(str, LAYERS))}] tanh, float32, batch {BATCH}, SGD "
          f"lr {LR}; medians of {args.repeats} alternated rounds")
    cpu = results["epoch_cpu_seconds"]
    print(f"load average {results['load_average']:.1f}")
    print(f"{'':<16}{'epoch (s)':>11}{'epoch CPU (s)':>15}{'inference (s)':>15}"
          f"{'test acc.':>11}")
    for name in epoch:
        print(f"{name:<16}{epoch[name]:>11.3f}{cpu[name]:>15.3f}{infer[name]:>15.4f}"
              f"{100 * results['test_accuracy_after'][name]:>10.2f}%")
    print(f"GEMM-only bound: {flops / 1e9:.2f} GFLOP at {rate / 1e9:.1f} GFLOP/s = "
          f"{flops / rate:.3f} s; the same products at the epoch's shapes: {at_shapes:.3f} s")
    if "pytorch" in epoch:
        results["ratio_epoch"] = epoch["dagnet"] / epoch["pytorch"]
        results["ratio_inference"] = infer["dagnet"] / infer["pytorch"]
        results["ratio_epoch_cpu"] = cpu["dagnet"] / cpu["pytorch"]
        print(f"dagnet / PyTorch: epoch {results['ratio_epoch']:.2f} (CPU time "
              f"{results['ratio_epoch_cpu']:.2f}), inference {results['ratio_inference']:.2f}")
    print(f"dagnet epoch / GEMM bound: {epoch['dagnet'] / (flops / rate):.2f}")
    if args.profile is not None:
        results["ratio_profiled"] = epoch["dagnet profiled"] / epoch["dagnet"]
        results["ratio_profiled_cpu"] = cpu["dagnet profiled"] / cpu["dagnet"]
        print(f"profiled / plain dagnet epoch: {results['ratio_profiled']:.3f} (CPU time "
              f"{results['ratio_profiled_cpu']:.3f})\n")
        print((args.profile / PROFILE_TEXT).read_text(), end="")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
