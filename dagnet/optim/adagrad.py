"""Adagrad: per-coordinate learning rates from the sum of squared gradients."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dagnet.node import ParameterNode
from dagnet.optim.base import OptimizationAlgorithm
from dagnet.optim.checks import check_hyperparameter


class Adagrad(OptimizationAlgorithm):
    """G ← G + g²;  θ ← θ - η·g / (√G + ε)   (G starts at ``initial_accumulator``).

    Duchi, Hazan & Singer (2011).  Coordinates with large past gradients take
    small steps; the effective rate only decreases.  As ``torch.optim.Adagrad``,
    whose ε defaults to 1e-10 (dagnet: 1e-8) and which calls G₀
    ``initial_accumulator_value`` (TensorFlow starts it at 0.1).
    """

    default_learning_rate = 0.01

    def __init__(self, parameter_nodes: Sequence[ParameterNode], learning_rate: float = 0.01,
                 eps: float = 1e-8, initial_accumulator: float = 0.0, **controls):
        super().__init__(parameter_nodes, learning_rate, **controls)
        self.eps = check_hyperparameter("eps", eps)
        self.initial_accumulator = check_hyperparameter(
            "initial_accumulator", initial_accumulator, low_open=False)

    def config(self) -> dict:
        return {**super().config(), "eps": self.eps,
                "initial_accumulator": self.initial_accumulator}

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        total = self.state_array(i, "sum_squares", self.initial_accumulator)
        work = self.work_array(i)
        np.square(grad, out=work)
        total += work
        np.sqrt(total, out=work)
        work += self.eps
        grad /= work
        return grad
