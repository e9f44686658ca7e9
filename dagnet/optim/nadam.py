"""Nadam: Adam with Nesterov momentum."""

from __future__ import annotations

import numpy as np

from dagnet.optim.base import (
    OptimizationAlgorithm,
    accumulate,
    accumulate_square,
    register_optimizer,
)
from dagnet.optim.hyperparameters import decay, learning_rate, nonnegative, positive


@register_optimizer("nadam")
class Nadam(OptimizationAlgorithm):
    """μₜ = β₁(1 - ½·0.96^(ψt));  Πₜ = μ₁⋯μₜ;
    m ← β₁·m + (1 - β₁)·g;  v ← β₂·v + (1 - β₂)·g²;  D = √(v / (1 - β₂ᵗ)) + ε;
    θ ← θ - η·(1 - μₜ)/(1 - Πₜ)·g/D - η·μₜ₊₁/(1 - Πₜμₜ₊₁)·m/D   (m, v start at 0).

    Dozat (2016), with the momentum schedule μₜ of decay ψ (``momentum_decay``,
    0.004); the same as ``torch.optim.NAdam``.  The look-ahead of Nesterov shows
    in the last term, which uses the next step's μₜ₊₁.
    """

    hyperparameters = (
        learning_rate(0.002),
        decay("beta1", 0.9, "decay of the gradient average"),
        decay("beta2", 0.999, "decay of the squared-gradient average"),
        positive("eps", 1e-8, "epsilon of the denominator"),
        nonnegative("momentum_decay", 0.004, "psi of the momentum schedule"),
    )

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        m = self.state_array(i, "m")
        v = self.state_array(i, "v")
        state = self.state[i]
        if "mu_product" not in state:
            state["mu_product"] = np.array(1.0)  # Πₜ: a float64 scalar, whatever θ's dtype
        beta1, t = self.beta1, self.t
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * self.momentum_decay))
        mu_product = float(state["mu_product"]) * mu
        state["mu_product"][...] = mu_product
        work = self.work_array(i)
        accumulate(m, grad, beta1, work)
        accumulate_square(v, grad, self.beta2, work)
        np.sqrt(v, out=work)
        work *= 1.0 / (1.0 - self.beta2 ** t) ** 0.5
        work += self.eps
        # d = [(1 - μₜ)/(1 - Πₜ)·g + μₜ₊₁/(1 - Πₜμₜ₊₁)·m] / D
        grad *= (1.0 - mu) / (1.0 - mu_product)
        grad /= work
        np.divide(m, work, out=work)
        work *= mu_next / (1.0 - mu_product * mu_next)
        grad += work
        return grad
