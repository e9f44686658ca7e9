"""LeNet-5 and the small CNN on MNIST: dagnet against PyTorch, training and inference.

    python benchmarks/mnist_cnn.py [--models lenet5 convnet] [--batches 20] [--repeats 5]
                                   [--threads 2] [--data-dir DIR] [--json FILE]

For each model (``dagnet.models.convolutional.lenet5`` and ``convnet``), dagnet
trains with a plain loop (``graph.propagate``, ``graph.backpropagate``,
``Adam.optimize(batch_size)``) and PyTorch trains the same network, started from
dagnet's initial weights, with ``CrossEntropyLoss`` and ``torch.optim.Adam``;
float32, batch 128, both limited to ``--threads`` threads (torch.set_num_threads,
and threadpoolctl for NumPy's BLAS when it is installed).  The two alternate
round by round (a noisy neighbour slows both alike); each round times
``--batches`` consecutive training batches, and the epoch time is the median time
per batch times the 469 batches of an epoch: extrapolated, not a full epoch.
Inference is the 10,000 test digits in chunks of ``--chunk`` images (in
inference mode: ``graph.eval()`` / ``model.eval()`` under ``torch.no_grad()``).

Peak memory is measured in a fresh process per framework and model (Linux): the
peak resident set (VmHWM, reset after imports, data loading and building the
model) while training ``--batches`` batches and running the inference, minus the
resident set before.

The GEMM-only bound is the FLOPs of one batch's matrix products (convolutions as
im2col products: forward, dJ/dW and dJ/dx; dense layers likewise) over the
float32 GEMM rate measured on the spot on 1024×1024 matrices (the best of the
run), times 469; the same products timed at their own shapes are shown too.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from dagnet import Graph
from dagnet.data.mnist import Preprocessing, load_mnist, one_hot
from dagnet.errors import DataError
from dagnet.models.convolutional import convnet, lenet5
from dagnet.nodes import Conv2DNode, DropoutNode, LinearNode
from dagnet.optim import Adam

ROOT = Path(__file__).resolve().parents[1]
BATCH = 128
LR = 1e-3
EPOCH_BATCHES = math.ceil(60000 / BATCH)
BUILDERS = {"lenet5": lenet5, "convnet": convnet}


def get_data(data_dir: Path) -> tuple[np.ndarray, ...]:
    """Images (N, 1, 28, 28) float32, /255 and centred, with their labels, for training
    and test; random images of the same shapes when the files are missing."""
    try:
        train_images, train_labels, test_images, test_labels = load_mnist(data_dir,
                                                                          download=False)
    except DataError as exc:
        print(f"MNIST not found ({exc}); timing on random data", file=sys.stderr)
        rng = np.random.default_rng(0)
        train_images = rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8)
        test_images = rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8)
        train_labels = rng.integers(0, 10, 60000).astype(np.uint8)
        test_labels = rng.integers(0, 10, 10000).astype(np.uint8)
    prep = Preprocessing.fit(train_images, "center")
    return (prep.transform(train_images, np.float32).reshape(-1, 1, 28, 28), train_labels,
            prep.transform(test_images, np.float32).reshape(-1, 1, 28, 28), test_labels)


def limit_threads(threads: int):
    """Limit NumPy's BLAS to ``threads`` (a threadpoolctl context), or None without it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("threadpoolctl is not installed: NumPy's BLAS keeps its default threads "
              "(set OPENBLAS_NUM_THREADS)", file=sys.stderr)
        return None
    return threadpool_limits(threads)


class Dagnet:
    framework = "dagnet"

    def __init__(self, model: str, X, labels, X_test, chunk: int):
        self.graph: Graph = BUILDERS[model](rng=np.random.default_rng(0))
        self.optimizer = Adam(self.graph.parameter_nodes, LR)
        self.X, self.Y, self.X_test, self.chunk = X, one_hot(labels, dtype=np.float32), \
            X_test, chunk

    def train(self, start: int, batches: int) -> None:
        self.graph.train()
        for k in range(start, start + batches):
            rows = slice(k * BATCH, (k + 1) * BATCH)
            self.graph.propagate([self.X[rows]])
            self.graph.backpropagate([self.Y[rows]])
            self.optimizer.optimize(BATCH)

    def infer(self) -> np.ndarray:
        self.graph.eval()
        return np.concatenate([self.graph.propagate([self.X_test[k:k + self.chunk]])[0]
                               for k in range(0, len(self.X_test), self.chunk)])


def torch_twin(model: str, graph: Graph):
    """The same network in PyTorch, holding copies of ``graph``'s weights."""
    import torch

    nn = torch.nn
    if model == "lenet5":
        layers = [nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                  nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                  nn.Linear(84, 10)]
    else:  # the sizes convnet was built with, read from its weights
        shapes = {node.name: node.w.shape for node in graph.parameter_nodes}
        channels = (shapes["conv2/W"][0], shapes["conv4/W"][0])
        hidden = shapes["fc1/W"][1]
        dropout = next((node.rate for node in graph.nodes if isinstance(node, DropoutNode)),
                       0.0)
        layers, c_in = [], 1
        for c_out in channels:
            for _ in range(2):
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                           nn.BatchNorm2d(c_out), nn.ReLU()]
                c_in = c_out
            layers.append(nn.MaxPool2d(2))
        layers += [nn.Flatten(), nn.Linear(c_in * 49, hidden), nn.ReLU(), nn.Dropout(dropout),
                   nn.Linear(hidden, 10)]
    net = nn.Sequential(*layers)
    tensors = [p for p in net.parameters()]
    ours = graph.parameter_nodes
    assert len(tensors) == len(ours), (len(tensors), len(ours))
    with torch.no_grad():
        for t, node in zip(tensors, ours):
            w = node.w.T if node.w.ndim == 2 else node.w  # dagnet's dense W is (in, out)
            t.copy_(torch.from_numpy(np.ascontiguousarray(w)))
    return net


class Torch:
    framework = "pytorch"

    def __init__(self, model: str, X, labels, X_test, chunk: int, graph: Graph):
        import torch

        self.torch = torch
        self.net = torch_twin(model, graph)
        self.optimizer = torch.optim.Adam(self.net.parameters(), LR)
        self.loss = torch.nn.CrossEntropyLoss()
        self.X, self.labels = torch.from_numpy(X), torch.from_numpy(labels.astype(np.int64))
        self.X_test, self.chunk = torch.from_numpy(X_test), chunk

    def train(self, start: int, batches: int) -> None:
        self.net.train()
        for k in range(start, start + batches):
            rows = slice(k * BATCH, (k + 1) * BATCH)
            self.optimizer.zero_grad(set_to_none=True)
            self.loss(self.net(self.X[rows]), self.labels[rows]).backward()
            self.optimizer.step()

    def infer(self) -> np.ndarray:
        self.net.eval()
        with self.torch.no_grad():
            return np.concatenate([self.torch.softmax(self.net(self.X_test[k:k + self.chunk]),
                                                      dim=1).numpy()
                                   for k in range(0, len(self.X_test), self.chunk)])


def batch_products(graph: Graph) -> list[tuple[int, int, int]]:
    """(m, k, n) of every matrix product of one training batch, from the shapes of the
    last propagate: a convolution's three (forward, dJ/dW, dJ/dx), a dense layer's
    three (two for a layer fed by the input)."""
    products = []
    for node in graph.nodes:
        if isinstance(node, Conv2DNode):
            n_out, n_in, kh, kw = node.x[1].shape
            columns = node.cols.shape[1]  # B·Ho·Wo
            products += [(n_out, n_in * kh * kw, columns), (n_out, columns, n_in * kh * kw)]
            if node.wants(0):
                products.append((n_in * kh * kw, n_out, columns))
        elif isinstance(node, LinearNode):
            (rows, n_in), n_out = node.x[0].shape, node.x[1].shape[1]
            products += [(rows, n_in, n_out), (n_in, rows, n_out)]
            if node.wants(0):
                products.append((rows, n_out, n_in))
    return products


def gemm_rate(repeats: int = 3) -> float:
    """float32 FLOP/s of the fastest of ``repeats`` 1024×1024 products."""
    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    a @ a
    return 2 * 1024**3 / min(timed(lambda: a @ a) for _ in range(repeats))


def time_products(products: list[tuple[int, int, int]]) -> float:
    """Seconds for one batch's products at their own shapes."""
    rng = np.random.default_rng(0)
    pairs = [(rng.standard_normal((m, k), dtype=np.float32),
              rng.standard_normal((k, n), dtype=np.float32)) for m, k, n in products]
    started = time.perf_counter()
    for a, b in pairs:
        a @ b
    return time.perf_counter() - started


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def memory_mb(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return math.nan


def measure_memory(args, model: str, framework: str) -> float:
    """Peak extra resident MB of training and inference, in a fresh process."""
    command = [sys.executable, __file__, "--memory-of", framework, "--models", model,
               "--batches", str(args.batches), "--threads", str(args.threads),
               "--chunk", str(args.chunk), "--data-dir", str(args.data_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return math.nan
    return float(done.stdout.strip().splitlines()[-1])


def memory_child(args) -> int:
    """--memory-of: train, infer, print the peak extra resident MB."""
    X, labels, X_test, _ = get_data(args.data_dir)
    model = args.models[0]
    contender = Dagnet(model, X, labels, X_test, args.chunk)
    if args.memory_of == "pytorch":
        import torch

        torch.set_num_threads(args.threads)
        contender = Torch(model, X, labels, X_test, args.chunk, contender.graph)
    # Linux resets the peak (VmHWM) to the current resident set when 5 is written here.
    Path("/proc/self/clear_refs").write_text("5")
    before = memory_mb("VmRSS")
    contender.train(0, args.batches)
    contender.infer()
    print(memory_mb("VmHWM") - before)
    return 0


def benchmark(args, model: str, data) -> dict:
    """Alternated rounds of training batches and inference for one model."""
    X, labels, X_test, test_labels = data
    contenders = [Dagnet(model, X, labels, X_test, args.chunk)]
    try:
        contenders.append(Torch(model, X, labels, X_test, args.chunk, contenders[0].graph))
    except ImportError:
        print("PyTorch is not installed: timing dagnet alone", file=sys.stderr)
    for c in contenders:  # warm up, and leave dagnet's shapes of a training batch
        c.train(0, 1)
    graph = contenders[0].graph
    products = batch_products(graph)
    im2col_mb = sum(n.cols.nbytes for n in graph.nodes if isinstance(n, Conv2DNode)) / 1e6
    train = {c.framework: [] for c in contenders}
    infer = {c.framework: [] for c in contenders}
    rates, at_shapes = [], []
    for round_ in range(args.repeats):
        start = (round_ * args.batches) % (EPOCH_BATCHES - args.batches)
        for c in (contenders if round_ % 2 == 0 else contenders[::-1]):
            train[c.framework].append(timed(c.train, start, args.batches) / args.batches)
            if round_ < args.infer_repeats:
                infer[c.framework].append(timed(c.infer))
        rates.append(gemm_rate())
        at_shapes.append(time_products(products))
        print(f"{model} round {round_ + 1}/{args.repeats}: " + ", ".join(
            f"{k} {1e3 * v[-1]:.1f} ms/batch" for k, v in train.items()), file=sys.stderr)
    flops = sum(2 * m * k * n for m, k, n in products)
    result = {
        "epoch_seconds": {k: EPOCH_BATCHES * statistics.median(v) for k, v in train.items()},
        "inference_seconds": {k: statistics.median(v) for k, v in infer.items()},
        "batch_seconds_all": train,
        "gemm_gflop_per_batch": flops / 1e9, "gemm_gflops_measured": max(rates) / 1e9,
        "gemm_bound_epoch_seconds": EPOCH_BATCHES * flops / max(rates),
        "gemm_at_shapes_epoch_seconds": EPOCH_BATCHES * statistics.median(at_shapes),
        "im2col_mb_per_batch": im2col_mb,
        "test_accuracy_after": {c.framework: float(np.mean(c.infer().argmax(1) == test_labels))
                                for c in contenders},
    }
    if not args.no_memory:
        result["peak_memory_mb"] = {c.framework: measure_memory(args, model, c.framework)
                                    for c in contenders}
    return result


def report(model: str, r: dict) -> None:
    epoch, infer = r["epoch_seconds"], r["inference_seconds"]
    memory = r.get("peak_memory_mb", {})
    print(f"\n{model}: float32, batch {BATCH}, Adam lr {LR}; epoch = median s/batch x "
          f"{EPOCH_BATCHES} (extrapolated)")
    print(f"{'':<10}{'epoch (s)':>11}{'inference (s)':>15}{'peak MB':>9}{'acc.':>8}")
    for name in epoch:
        print(f"{name:<10}{epoch[name]:>11.2f}{infer[name]:>15.3f}"
              f"{memory.get(name, math.nan):>9.0f}{100 * r['test_accuracy_after'][name]:>7.2f}%")
    if "pytorch" in epoch:
        print(f"dagnet / PyTorch: epoch {epoch['dagnet'] / epoch['pytorch']:.2f}, inference "
              f"{infer['dagnet'] / infer['pytorch']:.2f}")
    print(f"GEMM-only bound: {r['gemm_gflop_per_batch'] * EPOCH_BATCHES:.1f} GFLOP at "
          f"{r['gemm_gflops_measured']:.1f} GFLOP/s = {r['gemm_bound_epoch_seconds']:.2f} s; "
          f"at the products' own shapes {r['gemm_at_shapes_epoch_seconds']:.2f} s; "
          f"im2col copies {r['im2col_mb_per_batch']:.1f} MB per batch forward")


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(BUILDERS), default=list(BUILDERS))
    parser.add_argument("--batches", type=int, default=20,
                        help="training batches timed per round (default 20)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--infer-repeats", type=int, default=3,
                        help="rounds that also time the inference (default 3)")
    parser.add_argument("--chunk", type=int, default=1000,
                        help="test images per inference call (default 1000)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads of each framework (default 2)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory peaks")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" /
                        "mnist", help="MNIST folder (default ../shared/data/mnist)")
    parser.add_argument("--json", type=Path, default=None, help="also write results to FILE")
    parser.add_argument("--memory-of", choices=["dagnet", "pytorch"], help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_arguments(argv)
    limits = limit_threads(args.threads)
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    if args.memory_of:
        return memory_child(args)
    data = get_data(args.data_dir)
    results = {"batch_size": BATCH, "lr": LR, "threads": args.threads,
               "batches_per_round": args.batches, "repeats": args.repeats,
               "numpy_blas_limited": limits is not None, "models": {}}
    for model in args.models:
        results["models"][model] = benchmark(args, model, data)
        report(model, results["models"][model])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
