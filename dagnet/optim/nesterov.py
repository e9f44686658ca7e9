"""Nesterov's accelerated gradient, in the form that needs the gradient at θ only."""

from __future__ import annotations

import numpy as np

from dagnet.optim.base import OptimizationAlgorithm, register_optimizer
from dagnet.optim.hyperparameters import decay, learning_rate


@register_optimizer("nesterov")
class Nesterov(OptimizationAlgorithm):
    """v ← μ·v + g;  θ ← θ - η·(g + μ·v)   (v starts at 0).

    Nesterov evaluates the gradient at the look-ahead point θ - η·μ·v.  Storing
    the look-ahead point instead of θ (Bengio et al., 2013) gives this update,
    which needs the gradient at the stored weights only: the one backpropagation
    computes.  It is ``torch.optim.SGD(momentum=μ, nesterov=True)``.
    """

    hyperparameters = (
        learning_rate(0.01),
        decay("momentum", 0.9, "the momentum mu"),
    )

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        velocity = self.state_array(i, "velocity")
        velocity *= self.momentum
        velocity += grad
        work = self.work_array(i)
        np.multiply(velocity, self.momentum, out=work)
        grad += work
        return grad
