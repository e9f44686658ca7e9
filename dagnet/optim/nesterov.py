"""Nesterov's accelerated gradient, in the form that needs the gradient at θ only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dagnet.node import ParameterNode
from dagnet.optim.base import OptimizationAlgorithm
from dagnet.optim.checks import check_decay


class Nesterov(OptimizationAlgorithm):
    """v ← μ·v + g;  θ ← θ - η·(g + μ·v)   (v starts at 0).

    Nesterov evaluates the gradient at the look-ahead point θ - η·μ·v.  Storing
    the look-ahead point instead of θ (Bengio et al., 2013) gives this update,
    which needs the gradient at the stored weights only: the one backpropagation
    computes.  It is ``torch.optim.SGD(momentum=μ, nesterov=True)``.
    """

    default_learning_rate = 0.01

    def __init__(self, parameter_nodes: Sequence[ParameterNode], learning_rate: float = 0.01,
                 momentum: float = 0.9, **controls):
        super().__init__(parameter_nodes, learning_rate, **controls)
        self.momentum = check_decay("momentum", momentum)

    def config(self) -> dict:
        return {**super().config(), "momentum": self.momentum}

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        velocity = self.state_array(i, "velocity")
        velocity *= self.momentum
        velocity += grad
        work = self.work_array(i)
        np.multiply(velocity, self.momentum, out=work)
        grad += work
        return grad
