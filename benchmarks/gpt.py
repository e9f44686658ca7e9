"""GPT training speed: dagnet against the same model in PyTorch, the FLOP bound, memory.

    python benchmarks/gpt.py [--threads 2] [--rounds 7] [--iterations 5] [--json FILE]
                             [--configs dagnet torch] [--profile] [--no-memory]

The model is nanoGPT's CPU "baby" configuration on tiny Shakespeare's 65
characters ($DAGNET_DATA_DIR/tinyshakespeare or the cache): 4 layers, 4 heads,
128 wide, context 64, batch 12, no dropout, float32; GELU in its tanh form on both
sides (GPT-2's); Adam at lr 1e-3 on the loss averaged over the B·T positions.  One
training iteration (forward, backward, update) on random windows of the text is
timed for:

* ``dagnet``  dagnet.models.gpt: a plain loop of graph.propagate, graph.backpropagate
              and Adam.optimize(B·T), with the fused MultiHeadAttentionNode;
* ``torch``   the same architecture written below with torch.nn, attention by
              F.scaled_dot_product_attention(is_causal=True), the output layer tied.

Configurations alternate round by round (a noisy neighbour slows them all alike);
each round times ``--iterations`` iterations after one untimed one; reported are
the median ms per iteration and the ratio of iterations per second.

The FLOP bound: a training step costs 6·N·B·T for the N weights of the products
(forward 2, backward 4 per weight and token) plus 12·L·B·T²·C for the attention
products (Q·Kᵀ and P·V, forward and backward, causal mask not exploited), divided
by the float32 GEMM rate measured here on the MLP's product (B·T, C)·(C, 4C) with
NumPy at the same thread count.  Peak memory: each configuration alone in a
subprocess, its peak resident set (VmHWM) and growth over the RSS before training.

``--profile`` prints the seconds per node type of dagnet's forward and backward.
Threads: the BLAS variables are set before NumPy is imported (hence imports inside
functions), and torch.set_num_threads likewise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CONFIGS = ("dagnet", "torch")
LAYERS, HEADS, WIDTH, CONTEXT, BATCH, LR = 4, 4, 128, 64, 12, 1e-3


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="BLAS and torch threads "
                                                              "(default 2)")
    parser.add_argument("--rounds", type=int, default=7, help="alternated rounds (default 7)")
    parser.add_argument("--iterations", type=int, default=5,
                        help="timed iterations per configuration and round (default 5)")
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--profile", action="store_true", help="time dagnet's nodes by type")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    parser.add_argument("--memory-of", choices=CONFIGS, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def set_threads(threads: int) -> None:
    for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[variable] = str(threads)


def batches(count: int, seed: int = 0):
    """``count`` random (X, Y) windows of the text, (B, T) symbols, and the vocabulary size."""
    import numpy as np

    from dagnet.data.text import Vocabulary, locate_tiny_shakespeare, read_text

    text = read_text(locate_tiny_shakespeare(download=False))
    vocabulary = Vocabulary.from_text(text)
    data = vocabulary.encode(text).astype(np.int64)
    rng = np.random.default_rng(seed)
    windows = []
    for _ in range(count):
        starts = rng.integers(0, len(data) - CONTEXT - 1, BATCH)
        rows = starts[:, None] + np.arange(CONTEXT)
        windows.append((data[rows], data[rows + 1]))
    return windows, len(vocabulary)


def make_dagnet(vocabulary_size: int):
    """``step(X, Y) -> mean loss`` for dagnet's GPT, and its graph."""
    import numpy as np

    from dagnet.models.gpt import GPTConfig, gpt
    from dagnet.optim import Adam

    config = GPTConfig(vocabulary_size, CONTEXT, LAYERS, HEADS, WIDTH, gelu="tanh")
    graph = gpt(config, rng=np.random.default_rng(0), dtype=np.float32)
    optimizer = Adam(graph.parameter_nodes, LR)

    def step(X, Y):
        graph.propagate([X])
        cost = graph.backpropagate([Y])
        optimizer.optimize(X.size)
        return cost / X.size
    return step, graph


def make_torch(vocabulary_size: int, threads: int):
    """``step(X, Y) -> mean loss`` for the same GPT in PyTorch, and its parameter count."""
    import numpy as np
    import torch
    from torch import nn
    from torch.nn import functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    C, V = WIDTH, vocabulary_size

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
            self.qkv, self.attn_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

        def forward(self, x):
            B, T, _ = x.shape
            q, k, v = (a.view(B, T, HEADS, C // HEADS).transpose(1, 2)
                       for a in self.qkv(self.ln1(x)).split(C, dim=2))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.attn_proj(y.transpose(1, 2).reshape(B, T, C))
            return x + self.mlp_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(CONTEXT, C)
            self.blocks = nn.Sequential(*[Block() for _ in range(LAYERS)])
            self.ln_f = nn.LayerNorm(C)

        def forward(self, X):
            x = self.wte(X) + self.wpe(torch.arange(X.shape[1]))
            return F.linear(self.ln_f(self.blocks(x)), self.wte.weight)

    model = GPT()
    with torch.no_grad():  # nanoGPT's initialisation, as dagnet.models.gpt
        for name, w in model.named_parameters():
            if name.endswith("bias"):
                w.zero_()
            elif w.ndim == 2:
                w.normal_(0.0, 0.02 / (2 * LAYERS) ** 0.5 if "proj" in name else 0.02)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)

    def step(X, Y):
        X, Y = torch.from_numpy(X.astype(np.int64)), torch.from_numpy(Y.astype(np.int64))
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X).reshape(-1, V), Y.reshape(-1))
        loss.backward()
        optimizer.step()
        return loss.item()
    return step, sum(p.numel() for p in model.parameters())


def gemm_rate(repeats: int = 50) -> float:
    """Float32 GFLOP/s of NumPy's (B·T, C)·(C, 4C) product, the MLP's, best of 5 runs."""
    import time

    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((BATCH * CONTEXT, WIDTH)).astype(np.float32)
    b = rng.standard_normal((WIDTH, 4 * WIDTH)).astype(np.float32)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, (time.perf_counter() - started) / repeats)
    return 2 * a.shape[0] * a.shape[1] * b.shape[1] / best / 1e9


def flops_per_iteration(n_parameters: int) -> float:
    """6·N·B·T for the weights plus 12·L·B·T²·C for the attention products."""
    tokens = BATCH * CONTEXT
    return 6 * n_parameters * tokens + 12 * LAYERS * BATCH * CONTEXT ** 2 * WIDTH


def profile(graph, data) -> None:
    """Seconds per node type, forward and backward, summed over ``data``'s iterations."""
    import time
    from collections import defaultdict

    forward, backward = defaultdict(float), defaultdict(float)
    for X, Y in data:
        graph.propagate([X])
        graph.compute_cost([Y])
        for node in graph._cost_order:
            started = time.perf_counter()
            node.forward()
            forward[type(node).__name__] += time.perf_counter() - started
        for node, sources in graph._backward_plan:
            started = time.perf_counter()
            node.backward(sources)
            backward[type(node).__name__] += time.perf_counter() - started
    print(f"dagnet per iteration by node type over {len(data)} iterations (ms):")
    print(f"{'node type':<32} {'forward':>8} {'backward':>9}")
    for name in sorted(forward, key=lambda k: -(forward[k] + backward.get(k, 0.0))):
        print(f"{name:<32} {1e3 * forward[name] / len(data):>8.2f} "
              f"{1e3 * backward.get(name, 0.0) / len(data):>9.2f}")
    print(f"{'total':<32} {1e3 * sum(forward.values()) / len(data):>8.2f} "
          f"{1e3 * sum(backward.values()) / len(data):>9.2f}")


def peak_memory(args: argparse.Namespace) -> int:
    """Run one configuration alone and print its memory figures as JSON."""
    data, V = batches(args.iterations + 1)
    step = (make_dagnet(V) if args.memory_of == "dagnet" else make_torch(V, args.threads))[0]
    before = _status_kib("VmRSS")
    for X, Y in data:
        step(X, Y)
    peak = _status_kib("VmHWM")
    print(json.dumps({"rss_before_mib": before / 1024, "peak_rss_mib": peak / 1024,
                      "growth_mib": (peak - before) / 1024}))
    return 0


def _status_kib(key: str) -> int:
    """VmRSS (resident now) or VmHWM (peak resident) of this process, in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/self/status")


def time_rounds(args, trainers, data) -> tuple[dict, dict]:
    """Median seconds per iteration of each configuration over alternated rounds."""
    import time

    configs = list(trainers)
    times: dict[str, list[float]] = {c: [] for c in configs}
    losses: dict[str, float] = {}
    per_round = args.iterations + 1
    for r in range(args.rounds):
        chunk = data[r * per_round:(r + 1) * per_round]
        for config in configs if r % 2 == 0 else configs[::-1]:
            trainers[config](*chunk[0])  # untimed: caches warm
            started = time.perf_counter()
            for X, Y in chunk[1:]:
                losses[config] = trainers[config](X, Y)
            times[config].append((time.perf_counter() - started) / args.iterations)
    return times, losses


def report(args, times, losses, n_parameters: int) -> dict:
    import numpy as np

    rate = gemm_rate()
    flops = flops_per_iteration(n_parameters)
    bound_ms = 1e3 * flops / (rate * 1e9)
    medians = {c: float(np.median(t)) for c, t in times.items()}
    print(f"GPT {LAYERS} layers, {HEADS} heads, width {WIDTH}, context {CONTEXT}, batch "
          f"{BATCH}, {n_parameters / 1e6:.2f}M parameters, {args.threads} thread(s), median of "
          f"{args.rounds} alternated rounds")
    print(f"FLOP bound: {flops / 1e9:.2f} GFLOP per iteration at the measured GEMM rate "
          f"{rate:.1f} GFLOP/s = {bound_ms:.1f} ms")
    results = {"threads": args.threads, "rounds": args.rounds, "iterations": args.iterations,
               "n_parameters": n_parameters, "gflop_per_iteration": flops / 1e9,
               "gemm_gflops": rate, "bound_ms": bound_ms, "configs": {}}
    # bound/time: the fraction of the FLOP bound's speed reached.
    print(f"{'configuration':<14} {'ms/iter':>8} {'it/s':>7} {'last loss':>9} {'bound/time':>10}"
          "  ratio")
    for c, t in medians.items():
        ratio = medians["torch"] / t if "torch" in medians else None
        results["configs"][c] = {"ms_per_iteration": 1e3 * t, "iterations_per_second": 1 / t,
                                 "rounds_ms": [1e3 * s for s in times[c]],
                                 "last_loss": losses[c], "ratio_vs_torch": ratio}
        print(f"{c:<14} {1e3 * t:>8.1f} {1 / t:>7.2f} {losses[c]:>9.3f} {bound_ms / 1e3 / t:>10.2f}"
              + (f"  {ratio:.2f}x torch's iterations/s" if ratio else ""))
    return results


def main(argv=None) -> int:
    args = parse_arguments(argv)
    set_threads(args.threads)
    if args.memory_of:
        return peak_memory(args)
    data, V = batches(args.rounds * (args.iterations + 1))
    trainers, graph, n_parameters = {}, None, None
    for config in args.configs:
        if config == "dagnet":
            trainers[config], graph = make_dagnet(V)
            n_parameters = sum(p.w.size for p in graph.parameter_nodes)
        else:
            trainers[config], n_parameters = make_torch(V, args.threads)
    times, losses = time_rounds(args, trainers, data)
    results = report(args, times, losses, n_parameters)
    if args.profile and graph is not None:
        profile(graph, data[:args.iterations])
    if not args.no_memory:
        print("peak memory, each configuration alone in a process (VmHWM; growth over the "
              "RSS before training):")
        for c in args.configs:
            out = subprocess.run([sys.executable, __file__, "--memory-of", c, "--threads",
                                  str(args.threads), "--iterations", "10"],
                                 capture_output=True, text=True, check=True)
            memory = json.loads(out.stdout.strip().splitlines()[-1])
            results["configs"][c]["memory"] = memory
            print(f"{c:<14} peak {memory['peak_rss_mib']:7.1f} MiB, growth "
                  f"{memory['growth_mib']:6.1f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
