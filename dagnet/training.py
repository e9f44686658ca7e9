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
          description: str = "training", progress_unit: str = "example",
          example_unit: str = "ex") -> list[dict]:
    """Train ``graph`` on rows of ``X``/``Y`` for ``epochs`` passes; return the history.

    Each history entry has ``epoch``, ``cost`` (mean per example over the epoch)
    and ``seconds`` (training time of that epoch), plus whatever ``on_epoch(epoch)``
    returns (say, accuracies).  A NaN or infinite cost raises NonFiniteError naming
    the epoch and the step; the history so far is its ``history`` attribute.
    ``progress=None`` shows a bar only on a terminal: one per epoch counting
    examples, or with ``progress_unit="epoch"`` one for the whole run counting
    epochs (for many tiny epochs, like XOR's single full-batch step).
    ``example_unit`` names an example on the bar ("img" shows images/second).
    """
    if progress_unit not in ("example", "epoch"):
        raise ValueError(f"progress_unit must be 'example' or 'epoch', got {progress_unit!r}")
    n = len(X)
    history = []
    steps = math.ceil(n / batch_size)
    disable = (not progress) if progress is not None else None
    per_epoch = progress_unit == "example"
    run_bar = None if per_epoch else tqdm(total=epochs, desc=description, unit="epoch",
                                          disable=disable, leave=False)
    # A postfix redraws the bar: refresh it about 100 times per run, not every epoch.
    postfix_every = max(1, epochs // 100)
    for epoch in range(1, epochs + 1):
        total = 0.0
        started = time.perf_counter()
        bar = (tqdm(total=n, desc=f"{description} {epoch}/{epochs}", unit=example_unit,
                    disable=disable, leave=False) if per_epoch else None)
        for step, rows in enumerate(minibatches(n, batch_size, rng), start=1):
            graph.propagate([X[rows]])
            cost = graph.backpropagate([Y[rows]])
            if not math.isfinite(cost):
                for open_bar in (bar, run_bar):
                    if open_bar is not None:
                        open_bar.close()
                error = NonFiniteError(
                    f"the cost became {cost} at epoch {epoch}, step {step} of {steps}: "
                    f"try a lower learning rate (it is {optimizer.learning_rate:g})")
                error.history = history
                raise error
            optimizer.optimize(len(rows))
            total += cost
            if bar is not None:
                bar.update(len(rows))
                if step % 20 == 0 or step == steps:
                    bar.set_postfix(cost=f"{total / min(step * batch_size, n):.4f}")
        if bar is not None:
            bar.close()
        entry = {"epoch": epoch, "cost": total / n, "seconds": time.perf_counter() - started}
        if on_epoch is not None:
            entry.update(on_epoch(epoch))
        history.append(entry)
        if run_bar is not None:
            run_bar.update(1)
            if epoch % postfix_every == 0 or epoch == epochs:
                run_bar.set_postfix(cost=f"{entry['cost']:.4f}", refresh=False)
    if run_bar is not None:
        run_bar.close()
    return history
