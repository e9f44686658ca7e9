"""A new optimizer is its own class plus its test: nothing else is edited.

``Signum`` below (sign descent with momentum, Bernstein et al., 2018) is defined
and registered in this file only.  Registered, it works with the library
(make_optimizer, config, state_dict, checkpoints), with every training command's
options (--optimizer signum, --dead-zone, the shared --momentum) and with
``dagnet optimizers`` / ``dagnet trajectories``, which have no tuned rate for it.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

import dagnet
from dagnet import DagnetError, ParameterNode, fully_connected
from dagnet.cli import main
from dagnet.experiments.optimizers import PROBLEMS, follow, learning_rate_for
from dagnet.optim import (
    ALIASES,
    OPTIMIZERS,
    OptimizationAlgorithm,
    register_optimizer,
)
from dagnet.optim import make_optimizer as make_algorithm
from dagnet.optim.base import accumulate
from dagnet.optim.hyperparameters import decay, learning_rate, nonnegative
from dagnet.optim.options import add_optimizer_arguments, make_optimizer
from dagnet.training import ArrayBatches, Trainer, optimizer_from_checkpoint, save_checkpoint


class Signum(OptimizationAlgorithm):
    """m ← μ·m + (1 - μ)·g;  θ ← θ - η·sign(m) where |m| > z, else θ   (m starts at 0)."""

    hyperparameters = (
        learning_rate(0.02),
        decay("momentum", 0.5, "the momentum mu"),  # shares --momentum
        nonnegative("dead_zone", 0.0, "no step where |m| is at most this"),  # a new flag
    )

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        m = self.state_array(i, "m")
        accumulate(m, grad, self.momentum, self.work_array(i))
        np.sign(m, out=grad)
        grad[np.abs(m) <= self.dead_zone] = 0.0
        return grad


@pytest.fixture(autouse=True)
def signum():
    """Register Signum for one test, as ``@register_optimizer("signum")`` at its definition
    would (the decorator, called here so that the other test files never see it)."""
    saved = dict(OPTIMIZERS), dict(ALIASES)
    register_optimizer("signum", aliases=("signsgd",))(Signum)
    yield
    OPTIMIZERS.clear()
    OPTIMIZERS.update(saved[0])
    ALIASES.clear()
    ALIASES.update(saved[1])


def test_the_library_builds_validates_and_steps_it():
    node = ParameterNode(np.array([1.0, -1.0, 0.0]))
    optimizer = make_algorithm("signsgd", [node], dead_zone=0.1)
    assert type(optimizer) is Signum and optimizer.learning_rate == 0.02
    optimizer.step([np.array([4.0, -4.0, 0.1])])  # m = ½g: (2, -2, 0.05)
    np.testing.assert_allclose(node.w, [0.98, -0.98, 0.0], rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match=r"momentum must be in \[0.0, 1.0\), got 1.0"):
        Signum([node], momentum=1.0)
    with pytest.raises(ValueError, match=r"dead_zone must be in \[0.0, inf\), got -1.0"):
        Signum([node], dead_zone=-1)


def test_config_state_dict_and_checkpoint_round_trip(tmp_path):
    graph = fully_connected([3, 2], 4, "tanh", "softmax", rng=np.random.default_rng(0))
    optimizer = Signum(graph.parameter_nodes, 0.05, momentum=0.8, dead_zone=1e-3,
                       weight_decay=1e-3)
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((8, 4)), np.eye(2)[rng.integers(0, 2, 8)]

    def train_step(graph, optimizer):
        graph.propagate([X])
        graph.backpropagate([Y])
        optimizer.optimize(8)

    train_step(graph, optimizer)
    config = optimizer.config()
    assert (config["momentum"], config["dead_zone"]) == (0.8, 1e-3)
    assert Signum.from_config(graph.parameter_nodes, config).config() == config
    saved = optimizer.state_dict()
    assert saved["algorithm"] == "Signum" and set(saved["state"][0]) == {"m"}
    trainer = Trainer(graph, optimizer, ArrayBatches(X, Y, 8), max_steps=1)
    save_checkpoint(tmp_path / "run.safetensors", trainer)
    loaded = dagnet.load(tmp_path / "run.safetensors")
    restored = optimizer_from_checkpoint(loaded, tmp_path / "run.safetensors")
    assert type(restored) is Signum and restored.config() == config and restored.t == 1
    for _ in range(3):
        train_step(graph, optimizer)
        train_step(loaded, restored)
    for a, b in zip(graph.parameter_nodes, loaded.parameter_nodes):
        np.testing.assert_array_equal(a.w, b.w)


def parse(*argv, default="adam"):
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_optimizer_arguments(parser, default=default, default_lr=0.005)
    return parser, parser.parse_args(list(argv))


def test_every_commands_options_reach_it():
    parser, args = parse("--optimizer", "signum", "--momentum", "0.7", "--dead-zone", "0.01",
                         "--clip-norm", "2")
    optimizer = make_optimizer(args, [ParameterNode(np.zeros(3))])
    assert type(optimizer) is Signum and args.optimizer == "signum"
    assert (optimizer.momentum, optimizer.dead_zone, optimizer.clip_norm) == (0.7, 0.01, 2.0)
    assert optimizer.learning_rate == args.lr == 0.02  # not the command's default: its own
    text = " ".join(parser.format_help().split())
    assert "--dead-zone DEAD_ZONE signum: no step where |m| is at most this, in [0.0, inf)" \
           " (default 0)" in text
    assert ("momentum, nesterov (default 0.9), signum (default 0.5): the momentum mu" in text)
    assert "signum 0.02" in text and "signsgd is signum" in text
    _, args = parse("--optimizer", "signsgd")
    assert type(make_optimizer(args, [ParameterNode(np.zeros(3))])) is Signum
    _, args = parse("--dead-zone", "0.1")
    with pytest.raises(DagnetError, match=r"--dead-zone does not apply to --optimizer adam "
                                          r"\(it applies to signum\)"):
        make_optimizer(args, [ParameterNode(np.zeros(3))])


def test_the_comparison_commands_run_it_at_its_declared_rate(tmp_path, capsys):
    assert main(["optimizers", "--dataset", "disk", "--epochs", "2", "--train-size", "100",
                 "--optimizers", "gd,signum", "--out",
                 str(tmp_path / "curves")]) == 0
    table = json.loads((tmp_path / "curves" / "metrics.json").read_text())["table"]
    assert [(row["optimizer"], row["learning_rate"], row["learning_rate_source"])
            for row in table] == [("gd", 0.3, "tuned"), ("signum", 0.02, "declared default")]
    assert "signum    lr 0.02" in capsys.readouterr().err
    for problem in PROBLEMS:  # dagnet trajectories picks its rates the same way
        rate, source = learning_rate_for(problem["learning_rates"], "signum")
        assert (rate, source) == (0.02, "declared default")
        points = follow("signum", problem["gradient"], problem["start"], rate, 20)
        assert np.all(np.isfinite(points)) and not np.array_equal(points[0], points[-1])
