"""RMSProp: divide the gradient by a running root mean square of recent gradients."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dagnet.node import ParameterNode
from dagnet.optim.base import OptimizationAlgorithm, accumulate_square
from dagnet.optim.checks import check_decay, check_hyperparameter


class RMSProp(OptimizationAlgorithm):
    """v ← ρ·v + (1 - ρ)·g²;  θ ← θ - η·g / (√v + ε)   (v starts at 0).

    Tieleman & Hinton (2012, lecture 6e): Adagrad with a leaky sum, so the rate
    can recover.  As ``torch.optim.RMSprop`` (whose ρ, called alpha, defaults to
    0.99; dagnet follows Hinton's 0.9).
    """

    default_learning_rate = 0.001

    def __init__(self, parameter_nodes: Sequence[ParameterNode], learning_rate: float = 0.001,
                 rho: float = 0.9, eps: float = 1e-8, **controls):
        super().__init__(parameter_nodes, learning_rate, **controls)
        self.rho = check_decay("rho", rho)
        self.eps = check_hyperparameter("eps", eps)

    def config(self) -> dict:
        return {**super().config(), "rho": self.rho, "eps": self.eps}

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        mean_square = self.state_array(i, "mean_square")
        work = self.work_array(i)
        accumulate_square(mean_square, grad, self.rho, work)
        np.sqrt(mean_square, out=work)
        work += self.eps
        grad /= work
        return grad
