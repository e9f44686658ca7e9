"""Adagrad: per-coordinate learning rates from the sum of squared gradients."""

from __future__ import annotations

import numpy as np

from dagnet.optim.base import OptimizationAlgorithm, register_optimizer
from dagnet.optim.hyperparameters import learning_rate, nonnegative, positive


@register_optimizer("adagrad")
class Adagrad(OptimizationAlgorithm):
    """G ← G + g²;  θ ← θ - η·g / (√G + ε)   (G starts at ``initial_accumulator``).

    Duchi, Hazan & Singer (2011).  Coordinates with large past gradients take
    small steps; the effective rate only decreases.  As ``torch.optim.Adagrad``,
    whose ε defaults to 1e-10 (dagnet: 1e-8) and which calls G₀
    ``initial_accumulator_value`` (TensorFlow starts it at 0.1).
    """

    hyperparameters = (
        learning_rate(0.01),
        positive("eps", 1e-8, "epsilon of the denominator"),
        nonnegative("initial_accumulator", 0.0, "initial sum of squared gradients"),
    )

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        total = self.state_array(i, "sum_squares", self.initial_accumulator)
        work = self.work_array(i)
        np.square(grad, out=work)
        total += work
        np.sqrt(total, out=work)
        work += self.eps
        grad /= work
        return grad
