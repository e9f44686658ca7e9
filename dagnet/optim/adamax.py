"""AdaMax: Adam with the infinity norm in place of the root mean square."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dagnet.node import ParameterNode
from dagnet.optim.base import OptimizationAlgorithm, accumulate
from dagnet.optim.checks import check_decay, check_hyperparameter


class AdaMax(OptimizationAlgorithm):
    """m ← β₁·m + (1 - β₁)·g;  u ← max(β₂·u, |g|);  θ ← θ - η·m / ((1 - β₁ᵗ)·(u + ε)).

    Kingma & Ba (2015), section 7.1 (m, u start at 0).  The paper has no ε; dagnet
    adds it to the denominator, as Adam does.  ``torch.optim.Adamax`` puts it in
    the maximum instead, u ← max(β₂·u, |g| + ε), θ ← θ - η·m / ((1 - β₁ᵗ)·u):
    pass ``eps_inside_max=True`` for that.
    """

    default_learning_rate = 0.002

    def __init__(self, parameter_nodes: Sequence[ParameterNode], learning_rate: float = 0.002,
                 beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 eps_inside_max: bool = False, **controls):
        super().__init__(parameter_nodes, learning_rate, **controls)
        self.beta1 = check_decay("beta1", beta1)
        self.beta2 = check_decay("beta2", beta2)
        self.eps = check_hyperparameter("eps", eps)
        self.eps_inside_max = bool(eps_inside_max)

    def config(self) -> dict:
        return {**super().config(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps,
                "eps_inside_max": self.eps_inside_max}

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        m = self.state_array(i, "m")
        u = self.state_array(i, "u")
        accumulate(m, grad, self.beta1, self.work_array(i))
        np.abs(grad, out=grad)
        u *= self.beta2
        if self.eps_inside_max:
            grad += self.eps
            np.maximum(u, grad, out=u)
            np.divide(m, u, out=grad)
        else:
            np.maximum(u, grad, out=u)
            np.add(u, self.eps, out=grad)
            np.divide(m, grad, out=grad)
        grad *= 1.0 / (1.0 - self.beta1 ** self.t)
        return grad
