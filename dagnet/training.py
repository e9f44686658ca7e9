"""Mini-batch training: shuffle, propagate, backpropagate, optimize, record."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from dagnet.errors import NonFiniteError
from dagnet.graph import Graph
from dagnet.optim.base import OptimizationAlgorithm


def minibatches(n: int, batch_size: int, rng: np.random.Generator | None):
    """Index arrays covering range(n) in batches; shuffled when ``rng`` is given."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def train(graph: Graph, optimizer: OptimizationAlgorithm, X: np.ndarray, Y: np.ndarray, *,
          epochs: int, batch_size: int, rng: np.random.Generator | None = None,
          on_epoch: Callable[[int], dict] | None = None, progress: bool | None = None,
          description: str = "training") -> list[dict]:
    """Train ``graph`` on rows of ``X``/``Y`` for ``epochs`` passes; return the history.

    Each history entry has ``epoch``, ``cost`` (mean per example over the epoch)
    and ``seconds`` (training time of that epoch), plus whatever ``on_epoch(epoch)``
    returns (say, accuracies).  A NaN or infinite cost raises NonFiniteError naming
    the epoch and the step.  ``progress=None`` shows a bar only on a terminal.
    """
    n = len(X)
    history = []
    steps = math.ceil(n / batch_size)
    for epoch in range(1, epochs + 1):
        total = 0.0
        started = time.perf_counter()
        bar = tqdm(total=n, desc=f"{description} {epoch}/{epochs}", unit="ex",
                   disable=(not progress) if progress is not None else None, leave=False)
        for step, rows in enumerate(minibatches(n, batch_size, rng), start=1):
            graph.propagate([X[rows]])
            cost = graph.backpropagate([Y[rows]])
            if not math.isfinite(cost):
                bar.close()
                raise NonFiniteError(
                    f"the cost became {cost} at epoch {epoch}, step {step} of {steps}: "
                    f"try a lower learning rate (it is {optimizer.learning_rate:g})")
            optimizer.optimize(len(rows))
            total += cost
            bar.update(len(rows))
            if step % 20 == 0 or step == steps:
                bar.set_postfix(cost=f"{total / min(step * batch_size, n):.4f}")
        bar.close()
        entry = {"epoch": epoch, "cost": total / n, "seconds": time.perf_counter() - started}
        if on_epoch is not None:
            entry.update(on_epoch(epoch))
        history.append(entry)
    return history
