"""The optimizer options every training command shares, and the optimizers commands."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from dagnet import DagnetError, ParameterNode
from dagnet.cli.common import add_optimizer_arguments, make_optimizer
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


def test_another_optimizer_without_lr_gets_its_own_default():
    args, optimizer = build("--optimizer", "adam")
    assert type(optimizer) is Adam and optimizer.learning_rate == Adam.default_learning_rate
    assert args.lr == Adam.default_learning_rate


def test_every_registered_optimizer_is_reachable():
    for name, cls in OPTIMIZERS.items():
        _, optimizer = build("--optimizer", name, "--lr", "0.01")
        assert type(optimizer) is cls and optimizer.learning_rate == 0.01


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
    (["--optimizer", "adam", "--momentum", "0.9"], "--momentum does not apply"),
    (["--optimizer", "adam", "--beta1", "1.5"], r"beta1 must be in \[0.0, 1.0\)"),
    (["--lr", "-1"], r"learning_rate must be in \(0.0, inf\]"),
    (["--weight-decay", "1.5"], "weight_decay must be in"),
    (["--clip-norm", "0"], "clip_norm must be in"),
    (["--lr-schedule", "cosine"], "cosine needs --lr-total-steps"),
    (["--lr-schedule", "step"], "step needs --lr-step-size"),
    (["--lr-schedule", "exponential"], "exponential needs --lr-gamma"),
    (["--lr-gamma", "0.5"], "--lr-gamma does not apply to --lr-schedule constant"),
    (["--warmup-steps", "-2"], "warmup_steps must be a positive integer"),
])
def test_bad_options_are_one_line_dagnet_errors(argv, message):
    with pytest.raises(DagnetError, match=message):
        build(*argv)
