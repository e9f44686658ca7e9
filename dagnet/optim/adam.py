"""Adam: momentum and RMSProp, with their zero initialisation corrected."""

from __future__ import annotations

import numpy as np

from dagnet.optim.base import (
    OptimizationAlgorithm,
    accumulate,
    accumulate_square,
    register_optimizer,
)
from dagnet.optim.hyperparameters import decay, learning_rate, positive


@register_optimizer("adam")
class Adam(OptimizationAlgorithm):
    """m ← β₁·m + (1 - β₁)·g;  v ← β₂·v + (1 - β₂)·g²;
    θ ← θ - η·m̂ / (√v̂ + ε),  m̂ = m / (1 - β₁ᵗ),  v̂ = v / (1 - β₂ᵗ)   (m, v start at 0).

    Kingma & Ba (2015), algorithm 1; the same as ``torch.optim.Adam``.  With
    weight decay in mode "decoupled" it is AdamW (Loshchilov & Hutter, 2019).
    """

    hyperparameters = (
        learning_rate(0.001),
        decay("beta1", 0.9, "decay of the gradient average"),
        decay("beta2", 0.999, "decay of the squared-gradient average"),
        positive("eps", 1e-8, "epsilon of the denominator"),
    )

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
