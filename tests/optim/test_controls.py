"""Training controls shared by every algorithm: weight decay, clipping, schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dagnet import ParameterNode
from dagnet.optim import (
    OPTIMIZERS,
    Adam,
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    GradientDescent,
    Momentum,
    StepSchedule,
    WarmupSchedule,
    schedule_from_config,
)


def test_decoupled_decay_is_the_tutorials_shrink_then_step():
    node = ParameterNode(np.array([2.0, -4.0]))
    GradientDescent([node], 0.1, weight_decay=0.25).step([np.array([1.0, 1.0])])
    # θ ← (1 - λ)θ - η∇J
    np.testing.assert_array_equal(node.w, [0.75 * 2.0 - 0.1, 0.75 * -4.0 - 0.1])


def test_l2_decay_adds_lambda_theta_to_the_gradient():
    node = ParameterNode(np.array([2.0, -4.0]))
    GradientDescent([node], 0.1, weight_decay=0.25, weight_decay_mode="l2").step(
        [np.array([1.0, 1.0])])
    np.testing.assert_allclose(node.w, [2.0 - 0.1 * (1 + 0.5), -4.0 - 0.1 * (1 - 1.0)],
                               rtol=0, atol=1e-15)


def test_l2_decay_goes_through_the_algorithms_state():
    decayed = ParameterNode(np.array([3.0]))
    optimizer = Momentum([decayed], 0.1, momentum=0.5, weight_decay=0.1,
                         weight_decay_mode="l2")
    optimizer.step([np.array([0.0])])
    optimizer.step([np.array([0.0])])
    # v₁ = 0.3, θ₁ = 2.97; v₂ = 0.5·0.3 + 0.297 = 0.447, θ₂ = 2.97 - 0.0447
    assert decayed.w[0] == pytest.approx(2.97 - 0.0447, abs=1e-15)


@pytest.mark.parametrize("mode", ["decoupled", "l2"])
def test_weight_decay_can_spare_the_vectors(mode):
    """nanoGPT's AdamW groups: matrices and embeddings decay, biases and gains do not."""
    matrix, vector = ParameterNode(np.full((2, 2), 2.0)), ParameterNode(np.full(2, 2.0))
    optimizer = GradientDescent([matrix, vector], 0.1, weight_decay=0.25,
                                weight_decay_mode=mode, weight_decay_vectors=False)
    optimizer.step([np.ones((2, 2)), np.ones(2)])
    np.testing.assert_array_equal(vector.w, [2.0 - 0.1, 2.0 - 0.1])
    shrunk = 0.75 * 2.0 - 0.1 if mode == "decoupled" else 2.0 - 0.1 * (1 + 0.5)
    np.testing.assert_allclose(matrix.w, shrunk, rtol=0, atol=1e-15)
    assert optimizer.config()["weight_decay_vectors"] is False
    rebuilt = GradientDescent.from_config([matrix, vector], optimizer.config())
    assert rebuilt.weight_decay_vectors is False
    with pytest.raises(ValueError, match="weight_decay_vectors must be true or false"):
        GradientDescent([matrix], weight_decay_vectors="no")


def test_with_adam_the_two_decays_differ():
    """Adam divides the L2 term by √v̂: for a weight with no other gradient every
    step is ≈ η whatever λ, while decoupled decay shrinks it by the factor (1 - λ)."""
    for decay in (1e-3, 1e-1):
        l2, decoupled = ParameterNode(np.array([5.0])), ParameterNode(np.array([5.0]))
        l2_optimizer = Adam([l2], 0.01, weight_decay=decay, weight_decay_mode="l2")
        decoupled_optimizer = Adam([decoupled], 0.01, weight_decay=decay)
        for _ in range(10):
            l2_optimizer.step([np.zeros(1)])
            decoupled_optimizer.step([np.zeros(1)])
        assert l2.w[0] == pytest.approx(5.0 - 10 * 0.01, abs=1e-4)  # 100x λ, same path
        assert decoupled.w[0] == pytest.approx(5.0 * (1 - decay) ** 10, rel=1e-12)


def test_decoupled_decay_follows_the_schedule():
    node = ParameterNode(np.array([1.0]))
    optimizer = GradientDescent([node], 0.1, weight_decay=0.5,
                                schedule=StepSchedule(1, gamma=0.5))
    optimizer.step([np.zeros(1)])
    optimizer.step([np.zeros(1)])
    assert node.w[0] == (1 - 0.5) * (1 - 0.25)


def test_clip_by_value():
    node = ParameterNode(np.array([0.0, 0.0, 0.0]))
    GradientDescent([node], 1.0, clip_value=0.5).step([np.array([3.0, -0.2, -7.0])])
    np.testing.assert_array_equal(node.w, [-0.5, 0.2, 0.5])


def test_clip_by_global_norm_scales_all_parameters_together():
    a, b = ParameterNode(np.zeros(2)), ParameterNode(np.zeros(1))
    optimizer = GradientDescent([a, b], 1.0, clip_norm=1.3)
    optimizer.step([np.array([3.0, 4.0]), np.array([12.0])])  # global norm 13
    np.testing.assert_allclose(np.concatenate([a.w, b.w]), [-0.3, -0.4, -1.2], rtol=1e-15)
    optimizer.step([np.array([0.3, 0.4]), np.array([1.2])])  # norm 1.3: unchanged
    np.testing.assert_allclose(np.concatenate([a.w, b.w]), [-0.6, -0.8, -2.4], rtol=1e-15)


def test_clipping_uses_the_batch_averaged_gradient():
    node = ParameterNode(np.zeros(1))
    GradientDescent([node], 1.0, clip_value=1.0).step([np.array([1.6])], batch_size=2)
    assert node.w[0] == -0.8


def test_schedules_by_hand():
    step = StepSchedule(step_size=3, gamma=0.5)
    assert [step(k) for k in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    exponential = ExponentialSchedule(0.9)
    assert [exponential(k) for k in range(3)] == [1.0, 0.9, 0.9 ** 2]
    cosine = CosineSchedule(total_steps=4, min_factor=0.2)
    assert [cosine(k) for k in range(6)] == pytest.approx(
        [1.0, 0.2 + 0.8 * (1 + math.sqrt(0.5)) / 2, 0.6, 0.2 + 0.8 * (1 - math.sqrt(0.5)) / 2,
         0.2, 0.2], abs=1e-15)
    warmup = WarmupSchedule(4, StepSchedule(2, 0.1))
    assert [warmup(k) for k in range(8)] == pytest.approx(
        [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 0.1, 0.1])
    assert WarmupSchedule(2)(5) == 1.0 and ConstantSchedule()(10 ** 6) == 1.0


def test_the_optimizer_applies_the_schedule_from_the_first_update():
    node = ParameterNode(np.zeros(1))
    optimizer = GradientDescent([node], 0.1, schedule=WarmupSchedule(2, ExponentialSchedule(0.5)))
    positions = []
    for _ in range(4):
        assert optimizer.current_learning_rate() == pytest.approx(
            0.1 * optimizer.schedule(optimizer.t))
        optimizer.step([np.ones(1)])
        positions.append(node.w[0])
    steps = -np.diff([0.0] + positions)
    np.testing.assert_allclose(steps, [0.05, 0.1, 0.1, 0.05], rtol=1e-12)


@pytest.mark.parametrize("schedule", [
    ConstantSchedule(), StepSchedule(7, 0.3), ExponentialSchedule(0.99),
    CosineSchedule(100, 0.1), WarmupSchedule(5), WarmupSchedule(5, CosineSchedule(50)),
])
def test_schedule_configs_round_trip(schedule):
    rebuilt = schedule_from_config(schedule.config())
    assert type(rebuilt) is type(schedule) and rebuilt.config() == schedule.config()
    assert [rebuilt(k) for k in range(120)] == [schedule(k) for k in range(120)]


@pytest.mark.parametrize("build, message", [
    (lambda: StepSchedule(0), "step_size must be a positive integer"),
    (lambda: StepSchedule(2.5), "step_size must be a positive integer"),
    (lambda: StepSchedule(2, gamma=0), "gamma must be in"),
    (lambda: ExponentialSchedule(1.5), "gamma must be in"),
    (lambda: CosineSchedule(10, min_factor=2), "min_factor must be in"),
    (lambda: WarmupSchedule(3, WarmupSchedule(2)), "a warm-up inside a warm-up"),
    (lambda: schedule_from_config({"name": "linear"}), "not a learning-rate schedule"),
    (lambda: schedule_from_config({"name": "step", "size": 3}), "bad step schedule"),
])
def test_schedule_arguments_are_validated(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_controls_work_with_every_algorithm_in_float32(name, rng):
    w = rng.standard_normal(5).astype(np.float32)
    node = ParameterNode(w)
    optimizer = OPTIMIZERS[name]([node], weight_decay=0.01, weight_decay_mode="l2",
                                 clip_norm=1.0, clip_value=0.5,
                                 schedule=WarmupSchedule(2, CosineSchedule(5)))
    before = w.copy()
    for _ in range(4):
        optimizer.step([rng.standard_normal(5).astype(np.float32)])
    assert node.w is w and w.dtype == np.float32 and not np.array_equal(w, before)
