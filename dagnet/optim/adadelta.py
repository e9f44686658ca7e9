"""Adadelta: RMSProp with the units fixed by a running RMS of the updates."""

from __future__ import annotations

import numpy as np

from dagnet.optim.base import OptimizationAlgorithm, accumulate_square, register_optimizer
from dagnet.optim.hyperparameters import decay, learning_rate, positive


@register_optimizer("adadelta")
class Adadelta(OptimizationAlgorithm):
    """E[g²] ← ρ·E[g²] + (1 - ρ)·g²;  d = √(E[Δ²] + ε) / √(E[g²] + ε) · g;
    E[Δ²] ← ρ·E[Δ²] + (1 - ρ)·d²;  θ ← θ - η·d   (E[g²], E[Δ²] start at 0).

    Zeiler (2012).  The paper has no learning rate (η = 1, the default); like
    ``torch.optim.Adadelta``, dagnet multiplies the step by η, and E[Δ²]
    accumulates d before that scaling.  ρ defaults to the paper's 0.95 (torch 0.9).
    """

    hyperparameters = (
        learning_rate(1.0),
        decay("rho", 0.95, "decay of the squared-gradient average"),
        positive("eps", 1e-6, "epsilon of the denominator"),
    )

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        mean_square = self.state_array(i, "mean_square")
        mean_square_delta = self.state_array(i, "mean_square_delta")
        work = self.work_array(i)
        accumulate_square(mean_square, grad, self.rho, work)
        np.add(mean_square, self.eps, out=work)
        np.sqrt(work, out=work)
        grad /= work
        np.add(mean_square_delta, self.eps, out=work)
        np.sqrt(work, out=work)
        grad *= work
        accumulate_square(mean_square_delta, grad, self.rho, work)
        return grad
