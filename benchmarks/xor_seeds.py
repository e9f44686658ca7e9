"""How often does a small network learn XOR?  Seeds, initial scales, and where it gets stuck.

    python benchmarks/xor_seeds.py [--layers 2 1] [--seeds 100] [--init-scales 0.1 1]
                                   [--epochs 2000] [--dtype float32] [--json FILE]

Trains the network of ``dagnet xor --layers ... --seed S --init-scale X`` (exactly
what the command trains, without writing files: ``dagnet.experiments.toy.train_xor``)
for every seed and initial scale, and reports the seeds that solve XOR (all four
points on the right side of 0.5) and, for the others, where they stopped: the cost
per example, and which points share the same saturated hidden code.  docs/xor.md
quotes its output.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from dagnet.data.toy import xor
from dagnet.experiments.toy import train_xor


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--seeds", type=int, default=100, help="seeds 0..N-1 (default 100)")
    parser.add_argument("--init-scales", type=float, nargs="+", default=[0.1, 1.0])
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def one_run(layers: list[int], seed: int, init_scale: float, epochs: int,
            dtype: str = "float32") -> dict:
    model, _ = train_xor(layers, seed=seed, init_scale=init_scale, epochs=epochs, dtype=dtype)
    X, Y = xor(dtype)
    (p,) = model.propagate([X])
    cost = float(model.compute_cost([Y]) / len(X))
    hidden = next(n for n in model.nodes if n.name == "layer1/tanh").y[0]
    codes = np.sign(np.round(hidden, 2)).astype(int)
    same = [[i, j] for i in range(4) for j in range(i + 1, 4)
            if np.allclose(hidden[i], hidden[j], atol=0.05)]
    return {"seed": seed, "solved": bool(np.all((p > 0.5) == (Y > 0.5))), "cost": cost,
            "outputs": p[:, 0].astype(float).round(3).tolist(),
            "hidden": hidden.astype(float).round(3).tolist(),
            "hidden_signs": codes.tolist(), "points_sharing_a_code": same}


def main(argv=None) -> int:
    args = parse_arguments(argv)
    X, _ = xor()
    results = {}
    for scale in args.init_scales:
        runs = [one_run(args.layers, seed, scale, args.epochs, args.dtype)
                for seed in range(args.seeds)]
        failed = [r for r in runs if not r["solved"]]
        first10 = sum(r["solved"] for r in runs[:10])
        results[str(scale)] = {"solved": len(runs) - len(failed), "of": len(runs),
                               "solved_of_seeds_0_to_9": first10,
                               "failed_seeds": [r["seed"] for r in failed], "runs": runs}
        print(f"layers {args.layers}, --init-scale {scale:g}: solved {len(runs) - len(failed)}"
              f" of {len(runs)} seeds ({first10} of seeds 0-9); failed seeds "
              f"{[r['seed'] for r in failed]}")
        for r in failed[:10]:
            pairs = ", ".join(f"{X[i].astype(int).tolist()}={X[j].astype(int).tolist()}"
                              for i, j in r["points_sharing_a_code"]) or "none"
            print(f"  seed {r['seed']:>3}: cost {r['cost']:.4f} per example "
                  f"(2 ln 2 / 4 = {2 * math.log(2) / 4:.4f}), outputs {r['outputs']}, "
                  f"same hidden code: {pairs}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
