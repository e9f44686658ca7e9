"""Train nanoGPT's CPU "baby" GPT on tiny Shakespeare with dagnet; report validation loss.

    python benchmarks/gpt_shakespeare.py [--iterations 2000] [--minutes 20] [--threads 2]
                                         [--eval-every 250] [--json FILE]

nanoGPT's recipe (config/train_shakespeare_char.py with the README's CPU options):
characters, first 90% of the text for training and the last 10% for validation;
4 layers, 4 heads, 128 wide, context 64, batch 12, no dropout; AdamW (lr 1e-3,
β = (0.9, 0.99), weight decay 0.1 on the matrices and embeddings only) with a linear
warm-up over 100 iterations then a cosine decay to 1e-4 at iteration 2000; gradients
clipped to a global norm of 1.0.  Differences: GELU in its tanh form (GPT-2's; nanoGPT
uses the exact one) and biases everywhere (nanoGPT's bias=False).  The validation loss
is measured on every non-overlapping 64-symbol window of the validation text (nanoGPT
estimates it on 20 random batches); nanoGPT reports 1.88 at 2000 iterations.

Stops after ``--iterations`` or ``--minutes`` of training, whichever comes first, and
prints a 300-character sample from the last weights.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

CONTEXT, BATCH, LR, MIN_LR, WARMUP, DECAY_ITERATIONS = 64, 12, 1e-3, 1e-4, 100, 2000
WEIGHT_DECAY, BETA2, CLIP = 0.1, 0.99, 1.0


def parse_arguments(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=DECAY_ITERATIONS)
    parser.add_argument("--minutes", type=float, default=20.0, help="training time budget")
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads (default 2)")
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_arguments(argv)
    for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    import numpy as np  # after the thread variables, which BLAS reads when it loads

    from dagnet.data.text import Vocabulary, locate_tiny_shakespeare, read_text

    text = read_text(locate_tiny_shakespeare(download=False))
    vocabulary = Vocabulary.from_text(text)
    data = vocabulary.encode(text).astype(np.int64)
    split = int(0.9 * len(data))
    train, validation = data[:split], data[split:]
    graph, step = make_trainer(len(vocabulary))
    rng = np.random.default_rng(1337)
    history, started, trained = [], time.perf_counter(), 0.0
    for iteration in range(args.iterations + 1):
        if iteration % args.eval_every == 0 or iteration == args.iterations:
            loss = validation_loss(graph, validation)
            history.append({"iteration": iteration, "validation_loss": loss,
                             "train_seconds": trained})
            print(f"iteration {iteration:5d}  validation loss {loss:.4f}  "
                  f"({trained:.0f} s of training)", flush=True)
        if iteration == args.iterations or trained > 60 * args.minutes:
            break
        X, Y = batch(train, rng)
        tick = time.perf_counter()
        train_loss = step(iteration, X, Y)
        trained += time.perf_counter() - tick
        if iteration % 100 == 0:
            print(f"iteration {iteration:5d}  train loss {train_loss:.4f}", flush=True)
    print(f"{time.perf_counter() - started:.0f} s in all; sample:")
    print(sample(graph, vocabulary, 300, np.random.default_rng(0)))
    if args.json:
        Path(args.json).write_text(json.dumps({"history": history}, indent=2) + "\n")
    return 0


def make_trainer(vocabulary_size: int):
    """The GPT graph and ``step(iteration, X, Y) -> mean training loss``."""
    import numpy as np

    from dagnet.models.gpt import GPTConfig, gpt
    from dagnet.optim import Adam, CosineSchedule, WarmupSchedule

    graph = gpt(GPTConfig(vocabulary_size, CONTEXT, 4, 4, 128), rng=np.random.default_rng(0))
    schedule = WarmupSchedule(WARMUP, CosineSchedule(DECAY_ITERATIONS - WARMUP, MIN_LR / LR))
    decayed = [p for p in graph.parameter_nodes if p.w.ndim == 2]
    plain = [p for p in graph.parameter_nodes if p.w.ndim != 2]
    # dagnet's decoupled decay is θ ← (1 - λ·s_k)θ; torch's AdamW is θ ← (1 - η·s_k·wd)θ.
    optimizers = [Adam(decayed, LR, beta2=BETA2, weight_decay=LR * WEIGHT_DECAY,
                       schedule=schedule),
                  Adam(plain, LR, beta2=BETA2, schedule=schedule)]

    def step(iteration, X, Y):
        graph.propagate([X])
        cost = graph.backpropagate([Y])
        n = X.size
        # Clip the global norm of the mean-loss gradient over both groups, then update.
        gradients = [[p.get_gradient(0) for p in o.parameter_nodes] for o in optimizers]
        norm = np.sqrt(sum(float(np.vdot(g, g)) for group in gradients for g in group)) / n
        scale = min(1.0, CLIP / max(norm, 1e-12))
        for optimizer, group in zip(optimizers, gradients):
            optimizer.step([g * scale for g in group], n)
        return cost / n
    return graph, step


def batch(data, rng):
    """BATCH random windows of ``data`` and the symbols that follow them, (B, T) each."""
    import numpy as np

    starts = rng.integers(0, len(data) - CONTEXT - 1, BATCH)
    rows = starts[:, None] + np.arange(CONTEXT)
    return data[rows], data[rows + 1]


def validation_loss(graph, data, batch_size: int = 64) -> float:
    """Mean loss per symbol over every non-overlapping window of ``data``."""
    import numpy as np

    windows = (len(data) - 1) // CONTEXT
    rows = np.arange(windows)[:, None] * CONTEXT + np.arange(CONTEXT)
    total = 0.0
    for k in range(0, windows, batch_size):
        graph.propagate([data[rows[k:k + batch_size]]])
        total += graph.compute_cost([data[rows[k:k + batch_size] + 1]])
    return total / (windows * CONTEXT)


def sample(graph, vocabulary, length: int, rng) -> str:
    """``length`` characters drawn from the model after a newline, temperature 1."""
    import numpy as np

    symbols = list(vocabulary.encode("\n"))
    for _ in range(length):
        logits = graph.propagate([np.array([symbols[-CONTEXT:]])])[0][0, -1]
        p = np.exp(logits.astype(np.float64) - logits.max())
        symbols.append(int(rng.choice(len(p), p=p / p.sum())))
    return vocabulary.decode(np.array(symbols[1:]))


if __name__ == "__main__":
    sys.exit(main())
