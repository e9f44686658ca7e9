"""The toy problems in the plane: their network, what ``dagnet xor`` trains, and the
learning-rate sweep of ``dagnet lr-sweep``.

Points are rows, X:(N, 2), labels Y:(N, 1) in {0, 1} (``dagnet.data.toy``).  The
networks are fully connected with a sigmoid output (cross-entropy on the logits).

Randomness: a seed feeds ``seed_streams(seed, STREAMS)``, independent generators for
the initial weights, the shuffling, the training points and the test points, so the
same seed gives the same run bit for bit, and changing how many training points are
drawn leaves the initial weights alone.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dagnet.data import toy as data
from dagnet.errors import NonFiniteError, ShapeError
from dagnet.models import GraphModel, fully_connected
from dagnet.optim import OptimizationAlgorithm, make_optimizer
from dagnet.rng import seed_streams
from dagnet.training import (
    LOG_FILE,
    ArrayBatches,
    Evaluate,
    Extension,
    History,
    MetricsLog,
    StopOnNonFinite,
    Trainer,
)
from dagnet.viz.plots import plot_lr_sweep, plot_plane_run

STREAMS = ("init", "shuffle", "train", "test")  # keep the order: stream k is child k
HIDDEN_ACTIVATIONS = ("tanh", "relu", "sigmoid")
# With tanh hidden units XOR starts from small input weights (Glorot × 0.1): the net
# leaves tanh's linear regime along the directions the gradient picks, and [2, 1]
# avoids the saturated local minima far more often (96 of 100 seeds against 49;
# docs/xor.md).  Not for ReLU (scaling its weights moves no boundary, it only slows
# learning) nor sigmoid (its slope at 0 is 1/4): 1 for those.
XOR_INIT_SCALE = {"tanh": 0.1, "relu": 1.0, "sigmoid": 1.0}
# A constant rate leaves the disk's last weights jittering around the boundary: on 1,000
# fresh points, seeds 0-9 score 94.9-98.9% (tanh) and 96.6-99.1% (relu) with it,
# 99.2-99.9% and 98.9-99.7% with the cosine decay (measured in float64).
DISK_LR_SCHEDULE = "cosine"
SWEEP_LEARNING_RATES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
# A sweep run has converged when it classifies every point and its mean cost per
# example is below this: about 0.9 probability on the right class on average.
CONVERGED_COST = 0.1
# XOR trains for thousands of one-step epochs: its history keeps about this many entries.
LOG_POINTS = 200
MODEL_FILE = "model.safetensors"


def streams(seed: int) -> dict[str, np.random.Generator]:
    """The run's independent generators, by use (``STREAMS``)."""
    return seed_streams(seed, STREAMS)


def log_interval(steps: int, points: int = LOG_POINTS) -> int:
    """Steps between history entries, so that ``steps`` steps log at most ``points``."""
    return max(1, math.ceil(steps / points))


def toy_network(layers: Sequence[int], activation: str = "tanh", init_scale: float = 1.0,
                rng: np.random.Generator | None = None, dtype="float32") -> GraphModel:
    """A network for points of the plane: X:(B, 2) -> P(class 1):(B, 1).

    Hidden layers use ``activation``, the output a sigmoid; the first layer's initial
    weights (Glorot, He for ReLU, drawn from ``rng``) are multiplied by ``init_scale``.
    """
    if list(layers)[-1:] != [1]:
        raise ShapeError(f"a toy network ends with one output (the probability of class "
                         f"1), got layers {list(layers)}")
    model = fully_connected(layers, 2, hidden_activation=activation,
                            output_activation="sigmoid", rng=rng, dtype=np.dtype(dtype))
    first = next(node for node in model.parameter_nodes if node.name == "layer1/W")
    first.w *= init_scale
    return model


def xor_trainer(model: GraphModel, optimizer: OptimizationAlgorithm,
                extensions: Iterable[Extension] = (), *, epochs: int, log_every: int) -> Trainer:
    """The Trainer of ``dagnet xor``: full-batch steps on the four points; every
    ``log_every`` steps the history gets the training loss and accuracy after the step
    (``train_loss``, ``train_accuracy``)."""
    X, Y = data.xor(model.dtype)
    every = (log_every, "step")
    return Trainer(model, optimizer, ArrayBatches(X, Y, len(X)), epochs=epochs,
                   log_every=every, extensions=[Evaluate((X, Y), every, prefix="train_",
                                                         monitor=False), *extensions])


def xor_result(model: GraphModel, folder: str | os.PathLike, history: Sequence[dict],
               title: str) -> dict:
    """What an XOR run reports: ``final_cost`` (mean per point), ``accuracy``, the
    ``outputs`` on the four points, and the names of the ``figures`` it draws into
    ``folder`` (``plot_plane_run``, titled ``title`` and the accuracy)."""
    X, Y = data.xor(model.dtype)
    metrics = model.evaluate(X, Y)
    outputs = model.predict(X)[:, 0]
    figures = plot_plane_run(folder, model.predict, history, X, Y, data.XOR_BOUNDS,
                             f"{title}: {metrics['accuracy']:.0%} correct")
    return {"final_cost": metrics["loss"], "accuracy": metrics["accuracy"],
            "outputs": {f"{a:.0f} xor {b:.0f}": float(o) for (a, b), o in zip(X, outputs)},
            "figures": figures}


def disk_trainer(model: GraphModel, optimizer: OptimizationAlgorithm,
                 extensions: Iterable[Extension] = (), *, train: tuple, test: tuple,
                 batch_size: int, epochs: int, rng: np.random.Generator) -> Trainer:
    """The Trainer of ``dagnet disk``: mini-batches of the ``train`` points (X, Y),
    shuffled by ``rng``; after every epoch the loss and accuracy on the ``test`` points
    (``test_loss``, ``test_accuracy``; the best entry has the lowest test loss)."""
    return Trainer(model, optimizer, ArrayBatches(*train, batch_size, rng), epochs=epochs,
                   extensions=[Evaluate(test, prefix="test_"), *extensions])


def disk_result(model: GraphModel, train: tuple, test: tuple, folder: str | os.PathLike,
                history: Sequence[dict], title: str) -> dict:
    """What a disk run reports: ``accuracy`` (= ``test_accuracy``) and ``test_cost`` on
    the fresh ``test`` points, ``train_accuracy`` and ``final_cost`` on the ``train``
    points (costs are means per point), the data's ``class_1_fraction``, and the names
    of the ``figures`` it draws into ``folder`` (``plot_plane_run`` on the test points)."""
    on_train, on_test = model.evaluate(*train), model.evaluate(*test)
    figures = plot_plane_run(folder, model.predict, history, *test, data.DISK_BOUNDS,
                             f"{title}: {on_test['accuracy']:.1%} of {len(test[0]):,} fresh "
                             "points", truth=data.inside_disk)
    return {"accuracy": on_test["accuracy"], "test_accuracy": on_test["accuracy"],
            "test_cost": on_test["loss"], "accuracy_on": f"{len(test[0])} fresh test points",
            "train_accuracy": on_train["accuracy"], "final_cost": on_train["loss"],
            "disk_radius": data.DISK_RADIUS, "class_1_fraction": float(np.mean(train[1])),
            "figures": figures}


def train_xor(layers: Sequence[int] = (4, 4, 1), *, activation: str = "tanh",
              init_scale: float | None = None, seed: int = 0, epochs: int = 2000,
              learning_rate: float = 1.0, dtype="float32") -> tuple[GraphModel, History]:
    """What ``dagnet xor`` trains with these options and its default optimizer (gradient
    descent), without writing a file: ``(model, history)``.  ``init_scale`` defaults
    to ``XOR_INIT_SCALE[activation]``."""
    scale = XOR_INIT_SCALE[activation] if init_scale is None else init_scale
    model = toy_network(layers, activation, scale, streams(seed)["init"], dtype)
    optimizer = make_optimizer("gd", model.parameter_nodes, learning_rate=learning_rate)
    trainer = xor_trainer(model, optimizer, [StopOnNonFinite()], epochs=epochs,
                          log_every=log_interval(epochs))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return model, trainer.run()


# -- the learning-rate sweep ------------------------------------------------------------

@dataclass
class SweepRun:
    """One learning rate of a sweep: ``status`` is converged, slow, diverged or
    interrupted; ``reason`` says why a run diverged."""

    lr: float
    initial_cost: float
    status: str
    final_cost: float | None
    accuracy: float | None
    train_seconds: float
    history: list[dict] = field(repr=False)
    model: GraphModel = field(repr=False)
    reason: str | None = None

    def record(self) -> dict:
        """The run as the run record lists it (without the model)."""
        return {key: value for key, value in vars(self).items() if key != "model"}


def sweep_learning_rates(network: Callable[[], GraphModel],
                         optimizer: Callable[[GraphModel, float], OptimizationAlgorithm],
                         learning_rates: Iterable[float], epochs: int,
                         extensions: Callable[[float], Iterable[Extension]] = lambda lr: ()
                         ) -> list[SweepRun]:
    """Train ``network()`` (the same initial weights every time) on XOR with each learning
    rate for ``epochs`` full-batch steps, and classify each run.

    A run whose cost stops being finite, or ends above where it started, diverged; one
    that classifies every point with a cost below ``CONVERGED_COST`` converged; the
    others are slow.  A divergence does not stop the sweep; an interruption (Ctrl-C,
    through an ``Interrupt`` among ``extensions(lr)``) does.
    """
    runs = []
    for lr in learning_rates:
        model = network()
        X, Y = data.xor(model.dtype)
        initial_cost = model.evaluate(X, Y)["loss"]
        trainer = xor_trainer(model, optimizer(model, lr), [StopOnNonFinite(), *extensions(lr)],
                              epochs=epochs, log_every=log_interval(epochs))
        reason = None
        # A diverging run overflows on purpose: its warnings would only bury the report.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                trainer.run()
            except NonFiniteError as exc:
                reason = str(exc).split(":")[0]
            final = model.evaluate(X, Y)
        runs.append(_classified(lr, initial_cost, final, reason, trainer, model))
        if runs[-1].status == "interrupted":
            break
    return runs


def _classified(lr: float, initial_cost: float, final: dict, reason: str | None,
                trainer: Trainer, model: GraphModel) -> SweepRun:
    cost, accuracy = float(final["loss"]), final["accuracy"]
    if reason is not None or not math.isfinite(cost):
        status, cost, accuracy = "diverged", None, None
        reason = reason or "the cost stopped being a finite number"
    elif cost > initial_cost:
        status = "diverged"
        reason = f"the cost rose from {initial_cost:.3g} to {cost:.3g}"
    elif trainer.stop_reason == "interrupted":
        status = "interrupted"
    else:
        status = "converged" if accuracy == 1.0 and cost < CONVERGED_COST else "slow"
    return SweepRun(lr, float(initial_cost), status, cost, accuracy,
                    trainer.history.train_seconds, trainer.history.entries, model, reason)


def best_run(runs: Sequence[SweepRun]) -> SweepRun | None:
    """The run with the lowest final cost among those that did not diverge."""
    finished = [run for run in runs if run.final_cost is not None]
    return min(finished, key=lambda run: run.final_cost, default=None)


def save_sweep(folder: str | os.PathLike, runs: Sequence[SweepRun], title: str,
               metadata: dict) -> tuple[list[str], dict[str, Path]]:
    """Write a sweep's files into ``folder``: lr_sweep.png, metrics.jsonl (every run's
    history entries, each with its ``lr``) and, when a run did not diverge, the best
    one's model.safetensors (with ``metadata`` and its ``learning_rate``),
    learning_curve.png and decision_boundary.png.  Returns the figures' names, and the
    other files by role (``log``, ``model``)."""
    folder = Path(folder)
    figures = [plot_lr_sweep(folder / "lr_sweep.png", [run.record() for run in runs],
                             f"{title}: cost for each learning rate").name]
    log = MetricsLog(folder / LOG_FILE)
    log.path.unlink(missing_ok=True)  # a fresh sweep in an old folder starts a fresh log
    for run in runs:
        for entry in run.history:
            log.on_log(None, entry | {"lr": run.lr})
    files, best = {"log": log.path}, best_run(runs)
    if best is not None:
        figures += xor_result(best.model, folder, best.history, f"{title}, lr {best.lr:g}")[
            "figures"]
        files["model"] = best.model.save(folder / MODEL_FILE,
                                         metadata | {"learning_rate": best.lr})
    return figures, files


def sweep_summary(runs: Sequence[SweepRun]) -> dict:
    """The sweep's figures for its run record: the learning rates that ``converged``,
    were ``slow`` or ``diverged``; the best run's ``best_lr``, ``final_cost``,
    ``accuracy`` and ``history`` (None and [] when every run diverged); every run; and
    the record's own ``train_seconds`` (all runs), ``final`` (the best run's last entry)
    and ``stop_reason`` (``interrupted`` when a run was)."""
    best = best_run(runs)
    interrupted = any(run.status == "interrupted" for run in runs)
    summary = {status: [run.lr for run in runs if run.status == status]
               for status in ("converged", "slow", "diverged")}
    return summary | {"best_lr": best and best.lr, "final_cost": best and best.final_cost,
                      "accuracy": best and best.accuracy,
                      "history": best.history if best else [],
                      "converged_cost": CONVERGED_COST, "runs": [run.record() for run in runs],
                      "train_seconds": sum(run.train_seconds for run in runs),
                      "final": best.history[-1] if best and best.history else {},
                      "stop_reason": "interrupted" if interrupted else "done"}
