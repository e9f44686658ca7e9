"""One recurrent layer, forward and backward: dagnet's layer nodes against the graph
unrolled step by step and against PyTorch's nn.LSTM / nn.GRU / nn.RNN.

    python benchmarks/recurrent_layers.py [--cells lstm gru rnn] [--hidden 128 512]
                                          [--threads 1] [--rounds 9] [--json FILE]

The layer reads a (T, B, H) float32 sequence (T = B = 50, as char-rnn's second
layer) from a zero state; J = Σ G⊙hs for a fixed random G, so backward sends G
into every step, and every version computes dJ/dx too.  Timed, with the input
projection x·W + b in every version:

* ``layer``    SequenceLinearNode then LSTMLayerNode / GRULayerNode / RNNLayerNode;
* ``steps``    ``unroll_layer``: one fused step node per step (the issue-4 path);
* ``torch``    torch.nn.LSTM / GRU / RNN (when PyTorch is installed).

The versions alternate round by round; reported are the median wall and CPU
(process) milliseconds of forward + backward and the ratios to PyTorch.  Threads:
NumPy's BLAS through dagnet.threads, PyTorch's through torch.set_num_threads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from dagnet import GradientNode, InputNode
from dagnet.models.rnn import CELL_TYPES, unroll_layer
from dagnet.nodes import GRULayerNode, LSTMLayerNode, RNNLayerNode
from dagnet.threads import set_threads

STEPS = BATCH = 50
LAYER_NODES = {"lstm": LSTMLayerNode, "gru": GRULayerNode, "rnn": RNNLayerNode}


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", nargs="+", choices=sorted(LAYER_NODES),
                        default=["lstm", "gru", "rnn"])
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    return parser.parse_args(argv)


def dagnet_layer(cell: str, n: int, x: np.ndarray, g: np.ndarray, fused_layer: bool):
    """A function running forward and backward of one dagnet layer (node or unrolled)."""
    layer = CELL_TYPES[cell](n, n, np.random.default_rng(0), np.float32, name=cell)
    x_node = InputNode(x)
    state = [InputNode(np.zeros((BATCH, n), dtype=np.float32)) for _ in layer.state_names]
    if fused_layer:
        hs = (LAYER_NODES[cell]([layer.project(x_node), *state, layer.U]), 0)
    else:
        hs = (unroll_layer(layer, x_node, STEPS, state)[0], 0)
    GradientNode([hs], g)

    def run():
        x_node.reset_memoization()
        for p in layer.parameters:
            p.get_gradient(0)
    return run


def torch_layer(cell: str, n: int, x: np.ndarray, g: np.ndarray):
    import torch

    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](n, n)
    # x needs its gradient, as in dagnet's graph (a second layer sends it to the first)
    x_t, g_t = torch.from_numpy(x).requires_grad_(), torch.from_numpy(g)

    def run():
        module.zero_grad(set_to_none=True)
        x_t.grad = None
        out, _ = module(x_t)
        (out * g_t).sum().backward()
    return run


def versions(cell: str, n: int) -> dict:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((STEPS, BATCH, n)).astype(np.float32)
    g = rng.standard_normal((STEPS, BATCH, n)).astype(np.float32)
    runs = {"layer": dagnet_layer(cell, n, x, g, True),
            "steps": dagnet_layer(cell, n, x, g, False)}
    try:
        runs["torch"] = torch_layer(cell, n, x, g)
    except ImportError:
        print("PyTorch is not installed: timing dagnet alone", file=sys.stderr)
    return runs


def measure(runs: dict, rounds: int) -> dict[str, dict[str, float]]:
    times = {name: {"wall": [], "cpu": []} for name in runs}
    names = list(runs)
    for r in range(rounds + 1):
        for name in names if r % 2 == 0 else names[::-1]:
            wall, cpu = time.perf_counter(), time.process_time()
            runs[name]()
            if r:  # round 0 warms up
                times[name]["wall"].append(time.perf_counter() - wall)
                times[name]["cpu"].append(time.process_time() - cpu)
    return {name: {k: 1e3 * statistics.median(v) for k, v in t.items()}
            for name, t in times.items()}


def main(argv=None) -> int:
    args = parse_arguments(argv)
    set_threads(args.threads)
    if "torch" in sys.modules or _has_torch():
        sys.modules["torch"].set_num_threads(args.threads)
    results = []
    print(f"one layer, T = B = {STEPS}, float32, forward + backward, {args.threads} "
          f"thread(s); median ms of {args.rounds} alternated rounds")
    print(f"{'cell':<5} {'H':>4} {'version':<7} {'wall ms':>8} {'cpu ms':>8}  vs torch (wall, cpu)")
    for cell in args.cells:
        for n in args.hidden:
            ms = measure(versions(cell, n), args.rounds)
            results.append({"cell": cell, "hidden": n, "ms": ms})
            for name, t in ms.items():
                ratio = ""
                if "torch" in ms and name != "torch":
                    ratio = (f"  {ms['torch']['wall'] / t['wall']:.2f}x, "
                             f"{ms['torch']['cpu'] / t['cpu']:.2f}x")
                print(f"{cell:<5} {n:>4} {name:<7} {t['wall']:8.1f} {t['cpu']:8.1f}{ratio}")
    if args.json:
        Path(args.json).write_text(json.dumps({"threads": args.threads, "results": results},
                                              indent=2) + "\n")
    return 0


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
