"""Recurrent nets learn the Reber grammars: one run (``dagnet reber``) and the comparison
of RNN, GRU and LSTM cells of about the same size over seeds (``dagnet reber-compare``).

A net reads a string one symbol at a time and predicts the next one.  Training
strings are drawn fresh for every update (``GeneratedBatches``), ``batch_size``
strings padded to the longest and masked in the cost.  An ``Evaluate`` extension
measures ``reber.prediction_accuracy`` on a fixed set of fresh test strings
``evaluations`` times over the run (``test_accuracy`` and, for the embedded grammar,
``test_penultimate_accuracy``), and every history entry counts the training
``strings`` seen so far: the learning curve's x-axis.

Randomness: a seed feeds one ``SeedSequence`` split into the streams ``STREAMS``
(initial weights, training strings, test strings), so the same seed gives the same
run and the test strings do not depend on how many strings are trained.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from dagnet.data import reber
from dagnet.files import write_json
from dagnet.models.rnn import RecurrentNetwork, count_parameters, hidden_for_parameters
from dagnet.optim import OptimizationAlgorithm
from dagnet.rng import seed_streams
from dagnet.training import (
    Evaluate,
    Extension,
    GeneratedBatches,
    History,
    Interrupt,
    ProgressBar,
    StopOnNonFinite,
    Trainer,
    jsonable,
)

STREAMS = ("init", "train", "test")  # keep the order: stream k is the seed's k-th child
N_SYMBOLS = len(reber.SYMBOLS)
# reber-compare sizes every cell like an LSTM of this many units, unless told otherwise.
COMPARE_LSTM_UNITS = 16
LEVEL = 0.99  # the accuracy that counts as "learnt"


@dataclass(frozen=True)
class ReberTask:
    """What a run learns and how it is scored: the grammar, the training strings (each
    drawn fresh, ``batch_size`` per update), the test strings, the threshold above
    which a symbol counts as predicted, and how many measurements the run makes."""

    embedded: bool = False
    strings: int = 20000
    batch_size: int = 16
    test_strings: int = 1000
    threshold: float = 0.3
    evaluations: int = 20

    @property
    def updates(self) -> int:
        return math.ceil(self.strings / self.batch_size)

    @property
    def every(self) -> tuple[int, str]:
        """The trigger of the accuracy measurements, and of the history entries."""
        return (math.ceil(self.updates / self.evaluations), "step")


def streams(seed: int) -> dict[str, np.random.Generator]:
    """The generators of a seed: ``init`` (weights), ``train`` and ``test`` (strings)."""
    return seed_streams(seed, STREAMS)


def test_strings(task: ReberTask, seed: int) -> list[str]:
    """The ``task.test_strings`` fresh strings a run of ``seed`` is measured on."""
    return reber.generate(task.test_strings, streams(seed)["test"], task.embedded)


def reber_network(cell: str, hidden: int, rng: np.random.Generator, *, dtype="float32",
                  fused: bool = True, debug: bool = False) -> RecurrentNetwork:
    """One recurrent layer of ``hidden`` units reading and predicting the 7 symbols,
    its weights drawn from ``rng``."""
    return RecurrentNetwork(cell, N_SYMBOLS, hidden, N_SYMBOLS, fused=fused, rng=rng,
                            dtype=np.dtype(dtype), debug=debug)


class Accuracy:
    """``Evaluate``'s measurement: ``reber.prediction_accuracy`` of a model's predicted
    next-symbol distributions on fixed ``strings`` (encoded once, time first)."""

    def __init__(self, strings: Sequence[str], task: ReberTask, dtype):
        self.strings, self.task = list(strings), task
        self.X = reber.encode_batch(self.strings, dtype)[0]

    def __call__(self, model: RecurrentNetwork) -> dict:
        return reber.prediction_accuracy(model.predict(self.X), self.strings,
                                         self.task.embedded, self.task.threshold)

    def point(self, model: RecurrentNetwork) -> dict:
        """The measurement as the learning curve's first point, before any update."""
        return {"strings": 0} | {f"test_{k}": v for k, v in self(model).items()}


class StringsSeen(Extension):
    """Puts ``strings``, the training strings drawn so far, into the entries logged at
    ``every`` (and into the last one)."""

    run_at_end = True
    priority = 30  # before the entry is logged

    def __init__(self, every: tuple[int, str]):
        self.trigger = every

    def __call__(self, trainer: Trainer) -> None:
        trainer.observation["strings"] = trainer.data.examples_seen


def reber_trainer(model: RecurrentNetwork, optimizer: OptimizationAlgorithm, task: ReberTask,
                  rng: np.random.Generator, accuracy: Accuracy,
                  extensions: Sequence[Extension] = ()) -> Trainer:
    """A Trainer over ``task.strings`` fresh strings drawn with ``rng``, measuring
    ``accuracy`` ``task.evaluations`` times; the best entry has the best test accuracy."""
    data = GeneratedBatches(partial(reber.sample_batch, embedded=task.embedded,
                                    dtype=model.dtype), task.strings, task.batch_size, rng)
    evaluate = Evaluate(accuracy, task.every, prefix="test_", monitor="test_accuracy",
                        mode="max")
    return Trainer(model, optimizer, data, epochs=1, log_every=task.every,
                   extensions=[evaluate, StringsSeen(task.every), *extensions])


def strings_to_reach(points: Sequence[dict], level: float = LEVEL) -> int | None:
    """Strings seen at the first measurement with test accuracy >= ``level`` (None if
    never)."""
    return next((p["strings"] for p in points if p.get("test_accuracy", 0) >= level), None)


def run_figures(history: History, untrained: dict, embedded: bool) -> dict:
    """A run's figures for its record: the final test accuracy (and second-to-last
    symbol's), strings and updates, strings until 99%, training strings per second,
    the ``untrained`` point and the ``history`` entries."""
    last = history.last
    strings = last.get("strings", 0)
    figures = {"accuracy": last.get("test_accuracy"), "strings_seen": strings,
               "updates": history.steps,
               "strings_to_99_percent": strings_to_reach([untrained, *history.entries]),
               "strings_per_second": strings / max(history.train_seconds, 1e-12),
               "untrained": untrained, "history": history.entries}
    if embedded:
        figures["penultimate_accuracy"] = last.get("test_penultimate_accuracy")
    return figures


def describe(cell: str, figures: dict) -> str:
    """One line for a run's ``run_figures``."""
    line = f"{cell}: {figures['accuracy']:.1%} of strings correct"
    if "penultimate_accuracy" in figures:
        line += f", second-to-last symbol {figures['penultimate_accuracy']:.1%}"
    return f"{line} after {figures['strings_seen']} strings"


# -- the comparison of cells ------------------------------------------------------------------

class SweepLog(Extension):
    """Appends each log entry, with ``labels`` (cell, seed), as a JSON line to ``path``:
    one log for all the runs of a sweep (the sweep starts the file)."""

    def __init__(self, path: str | os.PathLike, **labels):
        self.path, self.labels = Path(path), labels

    def on_log(self, trainer: Trainer, entry: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(jsonable(self.labels | entry), allow_nan=False) + "\n")


@dataclass
class Comparison:
    """What ``compare_cells`` found: its ``settings`` (the task, seeds, dtype, weights
    aimed at), per cell its size and runs (one per seed, in order), how the sweep
    ended, and its training seconds in all."""

    settings: dict
    cells: dict[str, dict] = field(default_factory=dict)
    stop_reason: str = "done"
    train_seconds: float = 0.0

    def summary(self) -> dict:
        """Per cell: its size, accuracies seed by seed, means and seeds at 99%."""
        summary = {}
        for cell, result in self.cells.items():
            runs = result["runs"]
            accuracies = [r["accuracy"] for r in runs]
            penultimate = [r["penultimate_accuracy"] for r in runs]
            summary[cell] = {
                "hidden": result["hidden"], "parameters": result["parameters"],
                "mean_accuracy": float(np.mean(accuracies)),
                "mean_penultimate_accuracy": float(np.mean(penultimate)),
                "seeds_at_99_percent": sum(a >= LEVEL for a in accuracies),
                "accuracies": accuracies, "penultimate_accuracies": penultimate,
                "strings_to_99_percent": [r["strings_to_99_percent"] for r in runs]}
        return summary

    def record_fields(self) -> dict:
        """How the sweep ended for a run record: ``stop_reason``, ``train_seconds`` in
        all, ``final`` (each cell's mean accuracy) and no ``best``."""
        return {"stop_reason": self.stop_reason, "train_seconds": self.train_seconds,
                "best": None, "final": {cell: r["mean_accuracy"]
                                        for cell, r in self.summary().items()}}

    def report(self) -> list[str]:
        """One line per cell: its size, accuracy seed by seed and seeds at 99%."""
        return [f"{cell} ({r['hidden']} units, {r['parameters']} weights): accuracy "
                + " ".join(f"{a:.1%}" for a in r["accuracies"])
                + f"; {r['seeds_at_99_percent']}/{len(r['accuracies'])} seeds at 99%"
                for cell, r in self.summary().items()]


def compare_cells(cells: Sequence[str], seeds: Sequence[int], task: ReberTask,
                  make_optimizer: Callable[[list, int], OptimizationAlgorithm], *,
                  parameters: int | None = None, dtype="float32", fused: bool = True,
                  train: Callable[[Trainer], History] = Trainer.run,
                  progress: bool | None = None, log: str | os.PathLike | None = None,
                  extensions: Sequence = ()) -> Comparison:
    """Train each cell, sized to about ``parameters`` weights (default: an LSTM of 16
    units), once per seed on ``task`` (the embedded grammar); stop after a run that does
    not finish (interrupted, out of budget).

    ``make_optimizer(parameter_nodes, updates)`` gives each run its optimizer;
    ``train(trainer)`` runs it (a command's ``CommandRun.train``); ``log`` collects
    every run's history entries, labelled with the cell and the seed; ``extensions``
    join every run's (a Profile that adds up all of them).
    """
    if not task.embedded:
        raise ValueError("the cells are compared on the embedded grammar (task.embedded)")
    target = parameters or count_parameters("lstm", N_SYMBOLS, COMPARE_LSTM_UNITS, N_SYMBOLS)
    comparison = Comparison({
        "strings": task.strings, "batch_size": task.batch_size, "test_strings":
        task.test_strings, "threshold": task.threshold, "dtype": np.dtype(dtype).name,
        "seeds": list(seeds), "target_parameters": target})
    if log is not None:
        Path(log).unlink(missing_ok=True)
    for cell in cells:
        hidden = hidden_for_parameters(cell, N_SYMBOLS, N_SYMBOLS, target)
        for seed in seeds:
            model = reber_network(cell, hidden, streams(seed)["init"], dtype=dtype, fused=fused)
            each = [StopOnNonFinite(), Interrupt(),
                    ProgressBar(progress, f"{cell} seed {seed}", "str"), *extensions]
            if log is not None:
                each.append(SweepLog(log, cell=cell, seed=seed))
            run = train_seed(model, seed, task, make_optimizer, train, each)
            result = comparison.cells.setdefault(
                cell, {"hidden": hidden, "parameters": model.n_parameters, "runs": []})
            result["runs"].append(run)
            comparison.train_seconds += run["train_seconds"]
            if run["stop_reason"] != "done":
                comparison.stop_reason = run["stop_reason"]
                return comparison
    return comparison


def train_seed(model: RecurrentNetwork, seed: int, task: ReberTask,
               make_optimizer: Callable[[list, int], OptimizationAlgorithm],
               train: Callable[[Trainer], History] = Trainer.run,
               extensions: Sequence[Extension] = ()) -> dict:
    """Train ``model`` (weights from the seed's ``init`` stream) on ``task`` with the
    seed's training and test strings; its figures (``run_figures``), the seed, the
    training seconds and how the run ended."""
    rng = streams(seed)
    accuracy = Accuracy(test_strings(task, seed), task, model.dtype)
    untrained = accuracy.point(model)
    trainer = reber_trainer(model, make_optimizer(model.parameter_nodes, task.updates), task,
                            rng["train"], accuracy, extensions)
    history = train(trainer)
    return {"seed": seed, **run_figures(history, untrained, task.embedded),
            "train_seconds": history.train_seconds, "stop_reason": history.stop_reason}


def write_comparison(path: str | os.PathLike, comparison: Comparison,
                     settings: dict | None = None) -> Path:
    """``compare.json``: the settings (with ``settings`` added) and every run of every
    cell, floats to 6 digits."""
    return write_json(path, _rounded(jsonable({
        "settings": comparison.settings | (settings or {}), "cells": comparison.cells})))


def _rounded(value):
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value
