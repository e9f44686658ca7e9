"""20 steps of each optimizer against torch.optim on the same small network (float64).

Skipped when PyTorch is not installed.  The hyperparameters are set explicitly on
both sides, so the defaults that differ (docs/optimizers.md) do not matter here;
the conventions that differ are selected with dagnet's PyTorch options.
"""

from __future__ import annotations

import numpy as np
import pytest

from dagnet import fully_connected
from dagnet.optim import (
    Adadelta,
    Adagrad,
    Adam,
    AdaMax,
    CosineSchedule,
    ExponentialSchedule,
    GradientDescent,
    Momentum,
    Nadam,
    Nesterov,
    RMSProp,
    StepSchedule,
    WarmupSchedule,
)
from tests.conftest import require

torch = require("torch")

STEPS, BATCH = 20, 8


def problem(seed=7):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((STEPS * BATCH // 2, 4))
    labels = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 1)
    return X, np.eye(3)[labels], labels


def train_dagnet(make_optimizer):
    X, Y, _ = problem()
    graph = fully_connected([5, 3], 4, "tanh", "softmax", rng=np.random.default_rng(3))
    initial = [node.w.copy() for node in graph.parameter_nodes]
    optimizer = make_optimizer(graph.parameter_nodes)
    for step in range(STEPS):
        rows = slice(step * BATCH % len(X), step * BATCH % len(X) + BATCH)
        graph.propagate([X[rows]])
        graph.backpropagate([Y[rows]])
        optimizer.optimize(BATCH)
    return initial, [node.w for node in graph.parameter_nodes]


def train_torch(initial, make_optimizer, make_scheduler=None, clip=None):
    X, _, labels = problem()
    X, labels = torch.tensor(X), torch.tensor(labels)
    W1, b1, W2, b2 = (torch.tensor(w, requires_grad=True) for w in initial)
    optimizer = make_optimizer([W1, b1, W2, b2])
    scheduler = make_scheduler(optimizer) if make_scheduler else None
    for step in range(STEPS):
        rows = slice(step * BATCH % len(X), step * BATCH % len(X) + BATCH)
        logits = torch.tanh(X[rows] @ W1 + b1) @ W2 + b2
        loss = torch.nn.functional.cross_entropy(logits, labels[rows])  # mean over the batch
        optimizer.zero_grad()
        loss.backward()
        if clip is not None:
            clip([W1, b1, W2, b2])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return [w.detach().numpy() for w in (W1, b1, W2, b2)]


def opt(name):
    return getattr(torch.optim, name)


# name: (dagnet optimizer, torch optimizer, torch scheduler or None, torch clipping or None)
CASES = {
    "sgd": (lambda p: GradientDescent(p, 0.3),
            lambda p: opt("SGD")(p, lr=0.3), None, None),
    "momentum": (lambda p: Momentum(p, 0.1, momentum=0.8),
                 lambda p: opt("SGD")(p, lr=0.1, momentum=0.8), None, None),
    "nesterov": (lambda p: Nesterov(p, 0.1, momentum=0.8),
                 lambda p: opt("SGD")(p, lr=0.1, momentum=0.8, nesterov=True), None, None),
    "adagrad": (lambda p: Adagrad(p, 0.1, eps=1e-10, initial_accumulator=0.05),
                lambda p: opt("Adagrad")(p, lr=0.1, eps=1e-10,
                                         initial_accumulator_value=0.05), None, None),
    "rmsprop": (lambda p: RMSProp(p, 0.01, rho=0.95, eps=1e-7),
                lambda p: opt("RMSprop")(p, lr=0.01, alpha=0.95, eps=1e-7), None, None),
    "adadelta": (lambda p: Adadelta(p, 0.5, rho=0.9, eps=1e-5),
                 lambda p: opt("Adadelta")(p, lr=0.5, rho=0.9, eps=1e-5), None, None),
    "adam": (lambda p: Adam(p, 0.01, beta1=0.85, beta2=0.99, eps=1e-7),
             lambda p: opt("Adam")(p, lr=0.01, betas=(0.85, 0.99), eps=1e-7), None, None),
    "adamax": (lambda p: AdaMax(p, 0.01, beta1=0.85, beta2=0.99, eps=1e-7,
                                eps_inside_max=True),
               lambda p: opt("Adamax")(p, lr=0.01, betas=(0.85, 0.99), eps=1e-7), None, None),
    "nadam": (lambda p: Nadam(p, 0.01, beta1=0.85, beta2=0.99, eps=1e-7, momentum_decay=0.01),
              lambda p: opt("NAdam")(p, lr=0.01, betas=(0.85, 0.99), eps=1e-7,
                                     momentum_decay=0.01), None, None),
    # Training controls, against their PyTorch counterparts.
    "adam-l2": (lambda p: Adam(p, 0.01, weight_decay=0.1, weight_decay_mode="l2"),
                lambda p: opt("Adam")(p, lr=0.01, weight_decay=0.1), None, None),
    # AdamW's weight_decay is multiplied by lr: dagnet's decoupled λ = lr × AdamW's.
    "adamw": (lambda p: Adam(p, 0.01, weight_decay=0.01 * 0.5),
              lambda p: opt("AdamW")(p, lr=0.01, weight_decay=0.5), None, None),
    "momentum-l2": (lambda p: Momentum(p, 0.1, momentum=0.8, weight_decay=0.05,
                                       weight_decay_mode="l2"),
                    lambda p: opt("SGD")(p, lr=0.1, momentum=0.8, weight_decay=0.05),
                    None, None),
    "clip-norm": (lambda p: Momentum(p, 0.1, momentum=0.8, clip_norm=0.05),
                  lambda p: opt("SGD")(p, lr=0.1, momentum=0.8), None,
                  lambda ps: torch.nn.utils.clip_grad_norm_(ps, 0.05)),
    "clip-value": (lambda p: Adam(p, 0.01, clip_value=0.02),
                   lambda p: opt("Adam")(p, lr=0.01), None,
                   lambda ps: torch.nn.utils.clip_grad_value_(ps, 0.02)),
    "step": (lambda p: GradientDescent(p, 0.3, schedule=StepSchedule(6, 0.5)),
             lambda p: opt("SGD")(p, lr=0.3),
             lambda o: torch.optim.lr_scheduler.StepLR(o, 6, 0.5), None),
    "exponential": (lambda p: Adam(p, 0.01, schedule=ExponentialSchedule(0.9)),
                    lambda p: opt("Adam")(p, lr=0.01),
                    lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9), None),
    "cosine": (lambda p: Momentum(p, 0.1, momentum=0.8, schedule=CosineSchedule(STEPS, 0.1)),
               lambda p: opt("SGD")(p, lr=0.1, momentum=0.8),
               lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, STEPS, eta_min=0.01),
               None),
    "warmup": (lambda p: Adam(p, 0.01, schedule=WarmupSchedule(5)),
               lambda p: opt("Adam")(p, lr=0.01),
               lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda k: min(1, (k + 1) / 5)),
               None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_twenty_steps_match_torch_optim(name):
    make_dagnet, make_torch, make_scheduler, clip = CASES[name]
    initial, ours = train_dagnet(make_dagnet)
    theirs = train_torch(initial, make_torch, make_scheduler, clip)
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(ours, initial))
    deviation = max(float(np.max(np.abs(a - b))) for a, b in zip(ours, theirs))
    assert moved > 1e-3  # the weights did train
    assert deviation < 1e-6, f"{name}: max |dagnet - torch| = {deviation:.3g}"


def test_adamax_default_convention_differs_from_torch():
    """dagnet's default AdaMax divides by u + ε; torch's takes max(β₂u, |g| + ε)."""
    initial, ours = train_dagnet(lambda p: AdaMax(p, 0.01, eps=1e-3))
    theirs = train_torch(initial, lambda p: opt("Adamax")(p, lr=0.01, eps=1e-3))
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(ours, theirs)) > 1e-6
