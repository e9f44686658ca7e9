"""Every optimization algorithm: golden trajectories, Rosenbrock, dtypes, lazy state, checks.

The references below are written from the papers' equations, one coordinate at a
time on Python floats (no NumPy, no dagnet), so they share no code with the
optimizers they check.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dagnet import ParameterNode
from dagnet.optim import (
    OPTIMIZERS,
    Adadelta,
    Adagrad,
    Adam,
    AdaMax,
    CosineSchedule,
    GradientDescent,
    Momentum,
    Nadam,
    Nesterov,
    RMSProp,
)

# The quadratic f(θ) = Σ ½·a_j·θ_j² - b_j·θ_j, gradient a⊙θ - b, from θ₀.
A, B, THETA0 = (1.0, 10.0), (0.5, 1.0), (1.0, -2.0)


def quadratic_gradient(theta):
    return [a * x - b for a, x, b in zip(A, theta, B)]


def reference_trajectory(update, steps=3):
    """θ₁..θ_steps, with ``update(j, t, θ_j, g_j, state_j) -> θ_j`` applied per coordinate."""
    theta, states, path = list(THETA0), [{}, {}], []
    for t in range(1, steps + 1):
        g = quadratic_gradient(theta)
        theta = [update(j, t, theta[j], g[j], states[j]) for j in range(len(theta))]
        path.append(theta)
    return path


def ref_gradient_descent(lr):
    return lambda j, t, x, g, s: x - lr * g


def ref_momentum(lr, mu):
    def update(j, t, x, g, s):
        s["v"] = mu * s.get("v", 0.0) + g
        return x - lr * s["v"]
    return update


def ref_nesterov(lr, mu):
    def update(j, t, x, g, s):
        s["v"] = mu * s.get("v", 0.0) + g
        return x - lr * (g + mu * s["v"])
    return update


def ref_adagrad(lr, eps, g0):
    def update(j, t, x, g, s):
        s["G"] = s.get("G", g0) + g * g
        return x - lr * g / (math.sqrt(s["G"]) + eps)
    return update


def ref_rmsprop(lr, rho, eps):
    def update(j, t, x, g, s):
        s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g * g
        return x - lr * g / (math.sqrt(s["v"]) + eps)
    return update


def ref_adadelta(lr, rho, eps):
    def update(j, t, x, g, s):
        s["Eg"] = rho * s.get("Eg", 0.0) + (1 - rho) * g * g
        delta = math.sqrt(s.get("Ed", 0.0) + eps) / math.sqrt(s["Eg"] + eps) * g
        s["Ed"] = rho * s.get("Ed", 0.0) + (1 - rho) * delta * delta
        return x - lr * delta
    return update


def ref_adam(lr, b1, b2, eps):
    def update(j, t, x, g, s):
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        m_hat, v_hat = s["m"] / (1 - b1 ** t), s["v"] / (1 - b2 ** t)
        return x - lr * m_hat / (math.sqrt(v_hat) + eps)
    return update


def ref_adamax(lr, b1, b2, eps, eps_inside_max):
    def update(j, t, x, g, s):
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        if eps_inside_max:
            s["u"] = max(b2 * s.get("u", 0.0), abs(g) + eps)
            return x - lr / (1 - b1 ** t) * s["m"] / s["u"]
        s["u"] = max(b2 * s.get("u", 0.0), abs(g))
        return x - lr / (1 - b1 ** t) * s["m"] / (s["u"] + eps)
    return update


def ref_nadam(lr, b1, b2, eps, psi):
    def mu(t):
        return b1 * (1 - 0.5 * 0.96 ** (t * psi))

    def update(j, t, x, g, s):
        s["prod"] = s.get("prod", 1.0) * mu(t)
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        denominator = math.sqrt(s["v"] / (1 - b2 ** t)) + eps
        return (x - lr * (1 - mu(t)) / (1 - s["prod"]) * g / denominator
                - lr * mu(t + 1) / (1 - s["prod"] * mu(t + 1)) * s["m"] / denominator)
    return update


# (class, constructor arguments, reference) — non-default hyperparameters, to catch
# a hyperparameter that is ignored.
CASES = {
    "gd": (GradientDescent, dict(learning_rate=0.05), ref_gradient_descent(0.05)),
    "momentum": (Momentum, dict(learning_rate=0.05, momentum=0.9), ref_momentum(0.05, 0.9)),
    "nesterov": (Nesterov, dict(learning_rate=0.05, momentum=0.9), ref_nesterov(0.05, 0.9)),
    "adagrad": (Adagrad, dict(learning_rate=0.3, eps=1e-3, initial_accumulator=0.1),
                ref_adagrad(0.3, 1e-3, 0.1)),
    "rmsprop": (RMSProp, dict(learning_rate=0.01, rho=0.8, eps=1e-4),
                ref_rmsprop(0.01, 0.8, 1e-4)),
    "adadelta": (Adadelta, dict(learning_rate=0.7, rho=0.85, eps=1e-3),
                 ref_adadelta(0.7, 0.85, 1e-3)),
    "adam": (Adam, dict(learning_rate=0.1, beta1=0.8, beta2=0.9, eps=1e-3),
             ref_adam(0.1, 0.8, 0.9, 1e-3)),
    "adamax": (AdaMax, dict(learning_rate=0.1, beta1=0.8, beta2=0.9, eps=1e-3),
               ref_adamax(0.1, 0.8, 0.9, 1e-3, False)),
    "adamax-torch": (AdaMax, dict(learning_rate=0.1, beta1=0.8, beta2=0.9, eps=1e-3,
                                  eps_inside_max=True), ref_adamax(0.1, 0.8, 0.9, 1e-3, True)),
    "nadam": (Nadam, dict(learning_rate=0.1, beta1=0.8, beta2=0.9, eps=1e-3,
                          momentum_decay=0.05), ref_nadam(0.1, 0.8, 0.9, 1e-3, 0.05)),
}

# Worked by hand (lr 0.05, μ 0.9), e.g. momentum on θ₂: g = 10·(-2) - 1 = -21, v = -21,
# θ = -2 + 0.05·21 = -0.95; g = -10.5, v = -18.9 - 10.5 = -29.4, θ = -0.95 + 1.47 = 0.52; ...
BY_HAND = {
    "gd": [(0.975, -0.95), (0.95125, -0.425), (0.9286875, -0.1625)],
    "momentum": [(0.975, -0.95), (0.92875, 0.52), (0.8656875, 1.633)],
    "nesterov": [(0.9525, -0.005), (0.8892625, 0.94525), (0.8157313125, 0.9502375)],
}


def optimizer_path(cls, arguments, steps=3):
    node = ParameterNode(np.array(THETA0, dtype=np.float64))
    optimizer = cls([node], **arguments)
    path = []
    for _ in range(steps):
        optimizer.step([np.array(quadratic_gradient(node.w))])
        path.append(node.w.copy())
    return np.array(path)


@pytest.mark.parametrize("name", list(CASES))
def test_three_steps_match_the_reference_to_1e_12(name):
    cls, arguments, reference = CASES[name]
    expected = np.array(reference_trajectory(reference))
    np.testing.assert_allclose(optimizer_path(cls, arguments), expected, rtol=0, atol=1e-12)
    assert not np.allclose(expected[0], expected[2])  # the trajectory does move


@pytest.mark.parametrize("name", list(BY_HAND))
def test_three_steps_match_values_worked_by_hand(name):
    cls, arguments, reference = CASES[name]
    np.testing.assert_allclose(optimizer_path(cls, arguments), BY_HAND[name], rtol=0,
                               atol=1e-12)
    np.testing.assert_allclose(reference_trajectory(reference), BY_HAND[name], rtol=0,
                               atol=1e-12)


def test_batch_size_averages_the_summed_gradient():
    node = ParameterNode(np.array([1.0]))
    Adam([node], 0.1).step([np.array([8.0])], batch_size=4)
    reference = ParameterNode(np.array([1.0]))
    Adam([reference], 0.1).step([np.array([2.0])])
    assert node.w[0] == reference.w[0]


def rosenbrock_gradient(theta):
    x, y = theta
    return np.array([-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)])


# Tuned per algorithm: (learning rate, steps, options).  The adaptive methods whose
# constant-rate steps hover around the minimum (RMSProp, Adadelta, Nadam) anneal.
ROSENBROCK = {
    "gd": (2e-3, 8000, {}),
    "momentum": (1e-3, 3000, {}),
    "nesterov": (1e-3, 3000, {}),
    "adagrad": (1.0, 20000, {}),
    "rmsprop": (1e-3, 20000, {"schedule": CosineSchedule(20000)}),
    "adadelta": (1.0, 20000, {"schedule": CosineSchedule(20000)}),
    "adam": (0.02, 5000, {}),
    "adamax": (0.1, 4000, {}),
    "nadam": (0.01, 10000, {"schedule": CosineSchedule(10000)}),
}


def test_rosenbrock_table_covers_every_optimizer():
    assert set(ROSENBROCK) == set(OPTIMIZERS)


@pytest.mark.parametrize("name", list(ROSENBROCK))
def test_converges_on_rosenbrock_from_minus_1_5_2(name):
    learning_rate, steps, options = ROSENBROCK[name]
    node = ParameterNode(np.array([-1.5, 2.0]))
    optimizer = OPTIMIZERS[name]([node], learning_rate, **options)
    for _ in range(steps):
        optimizer.step([rosenbrock_gradient(node.w)])
    assert np.hypot(*(node.w - 1.0)) < 1e-3, node.w


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_float32_stays_float32_and_updates_in_place(name, rng):
    w = rng.standard_normal((4, 3)).astype(np.float32)
    node = ParameterNode(w)
    optimizer = OPTIMIZERS[name]([node])
    for gradient_dtype in (np.float32, np.float64, np.float32):
        optimizer.step([rng.standard_normal((4, 3)).astype(gradient_dtype)], batch_size=2)
    assert node.w is w and w.dtype == np.float32 and np.all(np.isfinite(w))
    arrays = [a for a in optimizer.state[0].values() if a.ndim]
    assert all(a.dtype == np.float32 for a in arrays) and bool(arrays) == (name != "gd")


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_is_created_lazily_per_parameter(name):
    nodes = [ParameterNode(np.ones(2)), ParameterNode(np.ones((2, 3)))]
    optimizer = OPTIMIZERS[name](nodes)
    assert optimizer.state == [{}, {}] and optimizer.t == 0
    optimizer.step([np.ones(2), np.ones((2, 3))])
    assert optimizer.t == 1
    for node, entry in zip(nodes, optimizer.state):
        assert all(a.shape in ((), node.w.shape) for a in entry.values())
        assert (len(entry) == 0) == (name == "gd")


@pytest.mark.parametrize("cls, arguments, message", [
    (Momentum, dict(momentum=1.0), r"momentum must be in \[0.0, 1.0\), got 1.0"),
    (Nesterov, dict(momentum=-0.1), "momentum must be in"),
    (Adagrad, dict(eps=0), r"eps must be in \(0.0, inf\)"),
    (Adagrad, dict(initial_accumulator=-1), "initial_accumulator must be in"),
    (RMSProp, dict(rho=1.5), "rho must be in"),
    (Adadelta, dict(rho=float("nan")), "rho must be in"),
    (Adam, dict(beta1=1.0), "beta1 must be in"),
    (Adam, dict(beta2=-0.5), "beta2 must be in"),
    (AdaMax, dict(eps=-1e-8), "eps must be in"),
    (Nadam, dict(momentum_decay=-1), "momentum_decay must be in"),
    (Adam, dict(learning_rate=0), "learning_rate must be in"),
    (GradientDescent, dict(weight_decay=1.0), r"weight_decay must be in \[0.0, 1.0\)"),
    (GradientDescent, dict(weight_decay=0.1, weight_decay_mode="l1"), "weight_decay_mode"),
    (GradientDescent, dict(clip_norm=-1), "clip_norm must be in"),
    (GradientDescent, dict(clip_value=0), "clip_value must be in"),
    (GradientDescent, dict(schedule=0.5), "schedule must be an LRSchedule"),
])
def test_hyperparameters_are_validated_in_the_constructor(cls, arguments, message):
    with pytest.raises(ValueError, match=message):
        cls([ParameterNode(np.ones(2))], **arguments)


def test_a_parameter_listed_twice_is_refused():
    node = ParameterNode(np.ones(2))
    with pytest.raises(ValueError, match="listed twice"):
        Adam([node, ParameterNode(np.ones(2)), node])


def test_l2_decay_may_exceed_one_but_not_decoupled():
    GradientDescent([], 0.1, weight_decay=2.0, weight_decay_mode="l2")


def test_mismatched_gradients_are_refused():
    optimizer = Adam([ParameterNode(np.ones(2))])
    with pytest.raises(ValueError, match="got 2 gradients for 1 parameters"):
        optimizer.step([np.ones(2), np.ones(2)])
    with pytest.raises(ValueError, match=r"has shape \(3,\), its weights \(2,\)"):
        optimizer.step([np.ones(3)])
