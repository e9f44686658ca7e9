"""Adam: momentum and RMSProp, with their zero initialisation corrected."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dagnet.node import ParameterNode
from dagnet.optim.base import OptimizationAlgorithm, accumulate, accumulate_square
from dagnet.optim.checks import check_decay, check_hyperparameter


class Adam(OptimizationAlgorithm):
    """m ← β₁·m + (1 - β₁)·g;  v ← β₂·v + (1 - β₂)·g²;
    θ ← θ - η·m̂ / (√v̂ + ε),  m̂ = m / (1 - β₁ᵗ),  v̂ = v / (1 - β₂ᵗ)   (m, v start at 0).

    Kingma & Ba (2015), algorithm 1; the same as ``torch.optim.Adam``.  With
    weight decay in mode "decoupled" it is AdamW (Loshchilov & Hutter, 2019).
    """

    default_learning_rate = 0.001

    def __init__(self, parameter_nodes: Sequence[ParameterNode], learning_rate: float = 0.001,
                 beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, **controls):
        super().__init__(parameter_nodes, learning_rate, **controls)
        self.beta1 = check_decay("beta1", beta1)
        self.beta2 = check_decay("beta2", beta2)
        self.eps = check_hyperparameter("eps", eps)

    def config(self) -> dict:
        return {**super().config(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        m = self.state_array(i, "m")
        v = self.state_array(i, "v")
        work = self.work_array(i)
        accumulate(m, grad, self.beta1, work)
        accumulate_square(v, grad, self.beta2, work)
        # m̂ / (√v̂ + ε) = m / (1 - β₁ᵗ) / (√v / √(1 - β₂ᵗ) + ε)
        np.sqrt(v, out=grad)
        grad *= 1.0 / (1.0 - self.beta2 ** self.t) ** 0.5
        grad += self.eps
        np.divide(m, grad, out=grad)
        grad *= 1.0 / (1.0 - self.beta1 ** self.t)
        return grad
