"""The Trainer and its extensions: the loop, its history, how runs end, and what they save."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

import dagnet
from dagnet.errors import NonFiniteError
from dagnet.optim import Adam, GradientDescent
from dagnet.training import (
    ArrayBatches,
    Checkpoint,
    EpochDecay,
    Evaluate,
    Extension,
    Interrupt,
    MetricsLog,
    StopOnNonFinite,
    TimeBudget,
    Trainer,
    optimizer_from_checkpoint,
    resume,
)


def blobs(rng, n=200):
    """Two Gaussian blobs in the plane: an easy binary problem, labels 0/1."""
    labels = rng.integers(0, 2, n)
    X = rng.normal(0, 0.6, (n, 2)) + np.where(labels[:, None] == 1, 1.0, -1.0)
    return X, labels


def new_trainer(rng, extensions=(), epochs=3, lr=0.05, seed=0, **options):
    X, y = blobs(rng)
    model = dagnet.fully_connected([8, 2], 2, output_activation="softmax",
                                   rng=np.random.default_rng(seed))
    data = ArrayBatches(X, y, 32, np.random.default_rng(seed))
    return Trainer(model, Adam(model.parameter_nodes, lr), data, epochs=epochs,
                   extensions=list(extensions), **options)


def test_history_has_one_entry_per_epoch_with_mean_losses(rng):
    trainer = new_trainer(rng, [Evaluate(blobs(np.random.default_rng(5)))], epochs=4)
    history = trainer.run()
    assert history.stop_reason == "done" and history.steps == 4 * 7 and len(history) == 4
    assert [e["epoch"] for e in history] == [1, 2, 3, 4]
    assert history[-1]["loss"] < history[0]["loss"] < 1.0  # means per example, not sums
    assert history[-1]["val_accuracy"] > 0.95
    assert history.best["val_loss"] == min(history.column("val_loss"))


class Poison(Extension):
    """Turns a weight into NaN at a given step: a diverging run."""

    trigger = (1, "step")
    priority = 60

    def __init__(self, at):
        self.at = at

    def __call__(self, trainer):
        if trainer.step == self.at:
            trainer.model.parameter_nodes[0].w[0, 0] = np.nan


def test_divergence_names_epoch_and_step_and_saves_what_there_is(rng, tmp_path):
    log, checkpoint = MetricsLog(tmp_path / "metrics.jsonl"), Checkpoint(tmp_path,
                                                                         every=(1, "epoch"))
    trainer = new_trainer(rng, [StopOnNonFinite(), Poison(at=9), log, checkpoint], epochs=3)
    with pytest.raises(NonFiniteError, match=r"epoch 1\.\d+, step 10"):
        trainer.run()
    assert trainer.stop_reason == "diverged"
    # The epoch-1 checkpoint stays; the NaN weights were not written over it.
    saved = dagnet.load(tmp_path / "checkpoint.safetensors")
    assert np.all(np.isfinite(saved.parameter_nodes[0].w))
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [7]


def test_time_budget_stops_with_reason_budget(rng):
    class Slow(Extension):
        trigger = (1, "step")
        priority = 1  # before TimeBudget looks at the clock

        def __call__(self, trainer):
            if trainer.step == 5:
                budget.started -= 100  # as if 100 s had passed

    budget = TimeBudget(50)
    history = new_trainer(rng, [budget, Slow()], epochs=100).run()
    assert history.stop_reason == "budget" and history.steps == 5
    assert history[-1]["step"] == 5  # the partial epoch is logged


def test_ctrl_c_stops_after_the_step_and_checkpoints(rng, tmp_path):
    class CtrlC(Extension):
        trigger = (1, "step")
        priority = 0  # before Interrupt looks at its flag

        def __call__(self, trainer):
            if trainer.step == 3:
                os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    history = new_trainer(rng, [Interrupt(), CtrlC(), Checkpoint(tmp_path)]).run()
    assert history.stop_reason == "interrupted" and history.steps == 3
    assert signal.getsignal(signal.SIGINT) is before
    assert (tmp_path / "checkpoint.safetensors").exists()


def test_metrics_log_is_written_while_training(rng, tmp_path):
    seen = []

    class Peek(Extension):
        def on_log(self, trainer, entry):
            seen.append(len((tmp_path / "log.jsonl").read_text().splitlines()))

    new_trainer(rng, [MetricsLog(tmp_path / "log.jsonl"), Peek()], epochs=3).run()
    assert seen == [1, 2, 3]


def test_resume_mid_epoch_continues_bit_for_bit(rng, tmp_path):
    whole = new_trainer(np.random.default_rng(1), epochs=3)
    whole.run()
    first = new_trainer(np.random.default_rng(1), [Checkpoint(tmp_path)], max_steps=10,
                        epochs=3)
    first.run()  # stops mid-epoch 2, saves the checkpoint at step 10
    path = tmp_path / "checkpoint.safetensors"
    model = dagnet.load(path)
    X, y = blobs(np.random.default_rng(1))
    second = Trainer(model, optimizer_from_checkpoint(model, path),
                     ArrayBatches(X, y, 32, np.random.default_rng(999)), epochs=3)
    resume(second, path)
    assert second.step == 10 and second.data.position == 3
    history = second.run()
    # The interrupted run logged its partial epoch (step 10) before stopping.
    assert history.steps == 21 and [e["step"] for e in history] == [7, 10, 14, 21]
    for a, b in zip(whole.model.parameter_nodes, model.parameter_nodes):
        np.testing.assert_array_equal(a.w, b.w)
    assert history[-1]["loss"] == whole.history[-1]["loss"]
    assert history[0]["loss"] == whole.history[0]["loss"]


def test_checkpoint_best_and_last_keeps_two_files(rng, tmp_path):
    names = iter(f"c{k}.safetensors" for k in range(100))
    trainer = new_trainer(rng, [Evaluate(blobs(np.random.default_rng(5)), every=(3, "step")),
                                Checkpoint(tmp_path, lambda t: next(names), every=(3, "step"),
                                           keep="best+last")], epochs=4)
    trainer.run()
    files = sorted(p.name for p in tmp_path.glob("*.safetensors"))
    assert 1 <= len(files) <= 2
    best = trainer.history.best
    assert trainer.extensions[-1].best in files and trainer.extensions[-1].last in files
    assert best["val_loss"] == min(trainer.history.column("val_loss"))


def test_epoch_decay_follows_char_rnns_rule(rng):
    decay = EpochDecay(0.5, after=2)
    trainer = new_trainer(rng, [decay], epochs=4, lr=0.1)
    history = trainer.run()
    # Entries are written after the step that ends the epoch: the rate of that epoch.
    assert [e["learning_rate"] for e in history] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    assert decay.factor(0) == decay.factor(1) == 1 and decay.factor(3) == 0.25


def test_bounds_and_triggers_are_checked(rng):
    with pytest.raises(ValueError, match="epochs or max_steps"):
        new_trainer(rng, epochs=None)
    with pytest.raises(ValueError, match="positive finite"):
        new_trainer(rng, epochs=float("inf"))
    with pytest.raises(ValueError, match="trigger"):
        Evaluate(blobs(rng), every=(0, "epoch"))
    with pytest.raises(ValueError, match="positive number of seconds"):
        TimeBudget(float("nan"))


def test_sgd_learning_rate_is_the_trainers_schedule(rng):
    X, y = blobs(rng)
    model = dagnet.fully_connected([2], 2, output_activation="softmax")
    optimizer = GradientDescent(model.parameter_nodes, 0.5)
    history = Trainer(model, optimizer, ArrayBatches(X, y, 200), max_steps=3,
                      log_every=(1, "step")).run()
    assert [e["step"] for e in history] == [1, 2, 3]
    assert history[0]["learning_rate"] == 0.5
