"""The optimizer options every training command shares, and the optimizers commands."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from dagnet import DagnetError, ParameterNode
from dagnet.experiments.optimizers import chosen as _chosen
from dagnet.optim import (
    OPTIMIZERS,
    Adam,
    AdaMax,
    CosineSchedule,
    GradientDescent,
    Momentum,
    StepSchedule,
    WarmupSchedule,
)
from dagnet.optim.options import (
    add_optimizer_arguments,
    algorithm_options,
    flag,
    make_optimizer,
)


def parse(*argv, default="gd", default_lr=0.5):
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_optimizer_arguments(parser, default=default, default_lr=default_lr)
    return parser.parse_args(list(argv))


def build(*argv, total_steps=None, **kwargs):
    args = parse(*argv, **kwargs)
    return args, make_optimizer(args, [ParameterNode(np.zeros(3))], total_steps=total_steps)


def test_defaults_give_the_commands_optimizer_at_its_learning_rate():
    args, optimizer = build()
    assert type(optimizer) is GradientDescent and optimizer.learning_rate == 0.5
    assert args.lr == 0.5 and optimizer.schedule is None and optimizer.weight_decay == 0


def test_help_shows_a_commands_own_defaults():
    parser = argparse.ArgumentParser()
    add_optimizer_arguments(parser, default="adam", default_lr=0.002)
    parser.set_defaults(lr_schedule="cosine")
    text = " ".join(parser.format_help().split())
    assert "optimization algorithm (default adam)" in text
    assert "learning-rate schedule (default cosine)" in text
    assert "learning rate (default 0.002 for adam" in text


def test_another_optimizer_without_lr_gets_its_own_default():
    args, optimizer = build("--optimizer", "adam")
    assert type(optimizer) is Adam and optimizer.learning_rate == Adam.default_learning_rate
    assert args.lr == Adam.default_learning_rate


def test_every_registered_optimizer_is_reachable():
    for name, cls in OPTIMIZERS.items():
        _, optimizer = build("--optimizer", name, "--lr", "0.01")
        assert type(optimizer) is cls and optimizer.learning_rate == 0.01


def test_sgd_is_gradient_descent_wherever_a_name_is_accepted():
    args, optimizer = build("--optimizer", "sgd")  # the command's default algorithm: its rate
    assert type(optimizer) is GradientDescent and optimizer.learning_rate == 0.5
    assert args.optimizer == "gd"  # recorded under its registered name
    args, optimizer = build("--optimizer", "sgd", default="adam")
    assert optimizer.learning_rate == GradientDescent.default_learning_rate
    _, optimizer = build(default="sgd")
    assert type(optimizer) is GradientDescent and optimizer.learning_rate == 0.5
    assert _chosen("sgd,gd,adam") == ["gd", "adam"] and _chosen(None) == list(OPTIMIZERS)


def test_one_flag_per_declared_hyperparameter_with_derived_help():
    parser = argparse.ArgumentParser()
    add_optimizer_arguments(parser)
    text = " ".join(parser.format_help().split())
    for name, declarations in algorithm_options().items():
        assert flag(name) in text
        for algorithm, hyperparameter in declarations.items():
            assert algorithm in text and hyperparameter.help in text
    assert "rmsprop (default 0.9), adadelta (default 0.95): decay of the squared-gradient " \
           "average, in [0.0, 1.0)" in text
    assert "adagrad, rmsprop, adam, adamax, nadam (default 1e-08), adadelta (default 1e-06)" \
           in text
    assert sorted(algorithm_options()) == sorted(
        ["momentum", "eps", "initial_accumulator", "rho", "beta1", "beta2", "eps_inside_max",
         "momentum_decay"])


def test_algorithm_options_and_controls_reach_the_constructor():
    _, optimizer = build("--optimizer", "adamax", "--beta1", "0.8", "--eps-inside-max",
                         "--weight-decay", "0.01", "--weight-decay-mode", "l2",
                         "--clip-norm", "2", "--clip-value", "0.5")
    assert isinstance(optimizer, AdaMax) and optimizer.beta1 == 0.8 and optimizer.beta2 == 0.999
    assert optimizer.eps_inside_max and optimizer.weight_decay == 0.01
    assert optimizer.weight_decay_mode == "l2"
    assert optimizer.clip_norm == 2 and optimizer.clip_value == 0.5
    _, optimizer = build("--optimizer", "momentum", "--momentum", "0.5")
    assert isinstance(optimizer, Momentum) and optimizer.momentum == 0.5
    _, optimizer = build("--optimizer", "adamax", "--no-eps-inside-max")
    assert optimizer.eps_inside_max is False


def test_schedules_from_the_command_line():
    _, optimizer = build("--lr-schedule", "step", "--lr-step-size", "10")
    assert isinstance(optimizer.schedule, StepSchedule) and optimizer.schedule.gamma == 0.1
    _, optimizer = build("--lr-schedule", "cosine", "--warmup-steps", "5", total_steps=105)
    schedule = optimizer.schedule
    assert isinstance(schedule, WarmupSchedule) and schedule.warmup_steps == 5
    assert isinstance(schedule.inner, CosineSchedule) and schedule.inner.total_steps == 100
    _, optimizer = build("--lr-schedule", "exponential", "--lr-gamma", "0.99")
    assert optimizer.schedule(2) == pytest.approx(0.99 ** 2)


@pytest.mark.parametrize("argv, message", [
    (["--optimizer", "gd", "--beta1", "0.9"], "--beta1 does not apply to --optimizer gd"),
    (["--optimizer", "adam", "--momentum", "0.9"],
     r"--momentum does not apply to --optimizer adam \(it applies to momentum, nesterov\)"),
    (["--optimizer", "adam", "--no-eps-inside-max"], "--eps-inside-max does not apply"),
    (["--optimizer", "sgd", "--rho", "0.9"], "--rho does not apply to --optimizer gd"),
    (["--optimizer", "adam", "--beta1", "1.5"], r"beta1 must be in \[0.0, 1.0\)"),
    (["--weight-decay", "1.5"], "weight_decay must be in"),
    (["--lr-schedule", "cosine"], "cosine needs --lr-total-steps"),
    (["--lr-schedule", "step"], "step needs --lr-step-size"),
    (["--lr-schedule", "exponential"], "exponential needs --lr-gamma"),
    (["--lr-gamma", "0.5"], "--lr-gamma does not apply to --lr-schedule constant"),
])
def test_bad_options_are_one_line_dagnet_errors(argv, message):
    with pytest.raises(DagnetError, match=message):
        build(*argv)


@pytest.mark.parametrize("argv", [["--lr", "-1"], ["--lr", "nan"], ["--clip-norm", "0"],
                                  ["--warmup-steps", "-2"], ["--beta1", "inf"],
                                  ["--lr-step-size", "1.5"]])
def test_bad_values_are_refused_by_the_parser(argv):
    with pytest.raises((argparse.ArgumentError, SystemExit)):
        build(*argv)


# -- dagnet optimizers / dagnet trajectories ---------------------------------------------

def run_cli(*argv):
    from dagnet.cli import main

    return main([str(a) for a in argv])


def read_metrics(folder):
    import json

    return json.loads((folder / "metrics.json").read_text())


def test_optimizers_on_disk_writes_figure_and_table_reproducibly(tmp_path, capsys):
    argv = ["optimizers", "--dataset", "disk", "--epochs", "3", "--train-size", "200",
            "--optimizers", "gd,adam,nadam", "--lr-for", "adam=0.02"]
    assert run_cli(*argv, "--out", tmp_path / "a") == 0
    assert run_cli(*argv, "--out", tmp_path / "b") == 0
    first, second = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert (tmp_path / "a" / "optimizers.png").stat().st_size > 10_000
    table = first["table"]
    assert [row["optimizer"] for row in table] == ["gd", "adam", "nadam"]
    assert [row["learning_rate"] for row in table] == [0.3, 0.02, 0.01]
    curves = first["curves"]
    # Epoch 0 is the shared initial network; then the optimizers part ways.
    assert len({curve["cost"][0] for curve in curves.values()}) == 1
    assert len({curve["cost"][-1] for curve in curves.values()}) == 3
    assert all(len(curve["test_accuracy"]) == 4 for curve in curves.values())
    for row in table:
        assert row["final_cost"] < first["initial"]["cost"] and row["diverged"] is None
    timings = ("median_epoch_seconds", "train_seconds")
    strip = [{k: v for k, v in row.items() if k not in timings} for row in table]
    assert strip == [{k: v for k, v in row.items() if k not in timings}
                     for row in second["table"]]
    assert "test accuracy" in capsys.readouterr().err


def test_optimizers_on_mnist_subset(tmp_path):
    from tests.conftest import SHARED_DATA, require_data

    data = require_data(SHARED_DATA / "mnist")
    assert run_cli("optimizers", "--dataset", "mnist", "--data", data, "--epochs", "1",
                   "--train-size", "600", "--optimizers", "gd,adam", "--quiet",
                   "--out", tmp_path) == 0
    metrics = read_metrics(tmp_path)
    assert metrics["network"]["dtype"] == "float32" and metrics["network"]["inputs"] == 784
    # Ten updates on 600 images: well above chance (10%), below the initial cost.
    for row in metrics["table"]:
        assert row["final_test_accuracy"] > 0.3
        assert row["final_cost"] < metrics["initial"]["cost"]


def test_trajectories_write_png_gif_and_metrics(tmp_path):
    from PIL import Image

    assert run_cli("trajectories", "--optimizers", "gd,momentum,adam", "--rosenbrock-steps",
                   "40", "--quadratic-steps", "30", "--gif", "--quiet",
                   "--out", tmp_path) == 0
    metrics = read_metrics(tmp_path)
    assert set(metrics["results"]) == {"rosenbrock", "quadratic"}
    quadratic = metrics["results"]["quadratic"]
    assert list(quadratic) == ["gd", "momentum", "adam"]
    assert all(row["final_distance_to_minimum"] < np.hypot(1.5, 1.2) for row in
               quadratic.values())
    with Image.open(tmp_path / "trajectories.gif") as gif:
        assert gif.n_frames > 10
    assert (tmp_path / "trajectories.png").stat().st_size > 10_000


@pytest.mark.parametrize("argv, message", [
    (["optimizers", "--optimizers", "gd,adamw"], "unknown optimizer(s) adamw"),
    (["optimizers", "--optimizers", "gd", "--lr-for", "adam=0.1"], "'adam' is not among"),
    (["optimizers", "--lr-for", "gd=fast"], "'fast' is not a number"),
])
def test_bad_arguments_end_in_one_line_and_exit_1(argv, message, tmp_path, capsys):
    assert run_cli(*argv, "--out", tmp_path) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]


@pytest.mark.parametrize("argv", [["optimizers", "--epochs", "0"],
                                  ["optimizers", "--batch-size", "-3"],
                                  ["trajectories", "--quadratic-steps", "0"]])
def test_counts_must_be_positive(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(*argv)
    assert exit_info.value.code == 2
    assert "must be a positive integer" in capsys.readouterr().err
