"""--profile and the Profile extension: per-node-type times of the training steps only."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import dagnet
from dagnet.cli import build_parser
from dagnet.graph import node_timer
from dagnet.optim import Adam
from dagnet.training import ArrayBatches, Evaluate, Profile, Run, Trainer


def new_trainer(extensions, steps=7):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    labels = (X[:, 0] > 0).astype(int)
    model = dagnet.fully_connected([5, 2], 3, output_activation="softmax", rng=rng)
    return Trainer(model, Adam(model.parameter_nodes, 0.01),
                   ArrayBatches(X, labels, 16, np.random.default_rng(1)), max_steps=steps,
                   extensions=list(extensions))


def profiled_run(tmp_path, extensions=()):
    trainer = new_trainer([Profile(tmp_path), *extensions])
    trainer.run()
    return json.loads((tmp_path / "profile.json").read_text()), trainer


def test_the_profile_counts_every_node_of_every_step_and_adds_up(tmp_path):
    summary, trainer = profiled_run(tmp_path)
    assert summary["steps"] == 7 and trainer.profiler is None and node_timer() is None
    rows = {(e["type"], e["phase"]): e for e in summary["nodes"]}
    # fully_connected([5, 2]): two LinearNodes, one TanhNode, one loss, every step.
    assert rows["LinearNode", "forward"]["calls_per_step"] == 2
    assert rows["LinearNode", "backward"]["calls_per_step"] == 2
    assert rows["TanhNode", "backward"]["calls_per_step"] == 1
    assert summary["optimizer"]["Adam"]["calls_per_step"] == 1
    parts = (sum(e["seconds"] for e in summary["nodes"]) + summary["optimizer"]["Adam"]["seconds"]
             + summary["rest_of_step"]["seconds"])
    assert parts == pytest.approx(summary["step_seconds"])
    assert summary["rest_of_step"]["seconds"] > 0
    assert summary["step_seconds"] == pytest.approx(trainer.history.train_seconds)
    shares = [e["share"] for e in summary["nodes"]]
    assert shares == sorted(shares, reverse=True)
    text = (tmp_path / "profile.txt").read_text()
    assert "7 training steps" in text and "LinearNode" in text and "optimizer (Adam)" in text


def test_evaluations_between_steps_are_not_counted_as_nodes(tmp_path):
    X = np.random.default_rng(2).normal(size=(500, 3))
    evaluate = Evaluate((X, (X[:, 0] > 0).astype(int)), every=1, batch_size=50)
    summary, _ = profiled_run(tmp_path, [evaluate])
    rows = {(e["type"], e["phase"]): e for e in summary["nodes"]}
    assert rows["LinearNode", "forward"]["calls_per_step"] == 2  # not 2 + 20 per step
    assert summary["outside_step"]["between_steps"]["seconds"] > 0


def test_a_profiled_run_writes_the_files_and_its_record_lists_them(tmp_path):
    for profile in (True, False):
        run = Run("test", tmp_path / str(profile), argv=[], quiet=True, profile=profile)
        trainer = new_trainer(run.extensions())
        run.train(trainer)
        run.finish("done")
        files = json.loads((run.folder / "metrics.json").read_text())["files"]
        assert (run.folder / "profile.json").exists() == profile
        assert (files.get("profile"), files.get("profile_text")) == (
            ("profile.json", "profile.txt") if profile else (None, None))


def test_the_profile_flag_reaches_the_run():
    args = build_parser().parse_args(["xor", "--profile"])
    assert args.profile is True


def test_one_profile_adds_up_several_trainers_without_the_time_between_them(tmp_path):
    profile = Profile(tmp_path)
    new_trainer([profile], steps=3).run()
    ended = profile.profile.between_seconds
    time.sleep(0.05)  # between two trainers: neither a step nor "between steps"
    new_trainer([profile], steps=4).run()
    summary = json.loads((tmp_path / "profile.json").read_text())
    assert summary["steps"] == 7
    assert profile.profile.between_seconds - ended < 0.05
