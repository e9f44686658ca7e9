"""RMSProp: divide the gradient by a running root mean square of recent gradients."""

from __future__ import annotations

import numpy as np

from dagnet.optim.base import OptimizationAlgorithm, accumulate_square, register_optimizer
from dagnet.optim.hyperparameters import decay, learning_rate, positive


@register_optimizer("rmsprop")
class RMSProp(OptimizationAlgorithm):
    """v ← ρ·v + (1 - ρ)·g²;  θ ← θ - η·g / (√v + ε)   (v starts at 0).

    Tieleman & Hinton (2012, lecture 6e): Adagrad with a leaky sum, so the rate
    can recover.  As ``torch.optim.RMSprop`` (whose ρ, called alpha, defaults to
    0.99; dagnet follows Hinton's 0.9).
    """

    hyperparameters = (
        learning_rate(0.001),
        decay("rho", 0.9, "decay of the squared-gradient average"),
        positive("eps", 1e-8, "epsilon of the denominator"),
    )

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        mean_square = self.state_array(i, "mean_square")
        work = self.work_array(i)
        accumulate_square(mean_square, grad, self.rho, work)
        np.sqrt(mean_square, out=work)
        work += self.eps
        grad /= work
        return grad
