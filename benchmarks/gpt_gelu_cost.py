"""What nanoGPT's model costs dagnet against GPT-2's: the exact GELU against the tanh form,
and a training step of the exact-GELU model without biases against one of the tanh-GELU
model with biases.

    python benchmarks/gpt_gelu_cost.py [--rounds 21] [--threads 1]

The GELU alone: forward and backward of GELUNode on the MLP's activations of one batch,
(12, 64, 512) float32.  The step: forward, backward and an Adam update of nanoGPT's CPU
"baby" GPT (4 × 128, context 64, batch 12) on random symbols.  The two configurations
alternate round by round (a noisy neighbour slows both alike); reported are the median
times and their ratio, the first round of each left out.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def median_ratio(first, second, rounds: int) -> tuple[float, float]:
    """Median seconds of ``first()`` and ``second()``, called alternately ``rounds`` times."""
    import numpy as np

    times: tuple[list, list] = ([], [])
    for _ in range(rounds):
        for record, call in zip(times, (first, second)):
            started = time.perf_counter()
            call()
            record.append(time.perf_counter() - started)
    return float(np.median(times[0][1:])), float(np.median(times[1][1:]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    import numpy as np

    from dagnet.models.gpt import GPT
    from dagnet.node import InputNode
    from dagnet.nodes import GELUNode
    from dagnet.optim import Adam
    from dagnet.training import Batch

    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 64, 512)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)

    def gelu(approximate: str):
        node = GELUNode([InputNode(x)], approximate=approximate)

        def call():
            node.x = [x]
            node.y = node.compute_output()
            node.dJdy = [g]
            node.compute_gradient()
        return call

    exact, tanh = median_ratio(gelu("none"), gelu("tanh"), args.rounds)
    print(f"GELU (12, 64, 512), forward and backward: exact {1e3 * exact:.1f} ms, tanh "
          f"{1e3 * tanh:.1f} ms, ratio {exact / tanh:.2f}")

    chars = "".join(chr(c) for c in range(32, 97))  # 65 symbols, as tiny Shakespeare
    X, Y = rng.integers(0, 65, (12, 64)), rng.integers(0, 65, (12, 64))

    def step(**options):
        model = GPT(chars, **options)
        optimizer = Adam(model.parameter_nodes, 1e-3)
        return lambda: model.train_step(Batch(X, Y, 12), optimizer)

    nano, gpt2 = median_ratio(step(gelu="none", bias=False), step(gelu="tanh", bias=True),
                              args.rounds)
    print(f"training step: exact GELU without biases {1e3 * nano:.0f} ms, tanh GELU with "
          f"biases {1e3 * gpt2:.0f} ms, ratio {nano / gpt2:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
