"""AdaMax: Adam with the infinity norm in place of the root mean square."""

from __future__ import annotations

import numpy as np

from dagnet.optim.base import OptimizationAlgorithm, accumulate, register_optimizer
from dagnet.optim.hyperparameters import decay, learning_rate, positive, switch


@register_optimizer("adamax")
class AdaMax(OptimizationAlgorithm):
    """m ← β₁·m + (1 - β₁)·g;  u ← max(β₂·u, |g|);  θ ← θ - η·m / ((1 - β₁ᵗ)·(u + ε)).

    Kingma & Ba (2015), section 7.1 (m, u start at 0).  The paper has no ε; dagnet
    adds it to the denominator, as Adam does.  ``torch.optim.Adamax`` puts it in
    the maximum instead, u ← max(β₂·u, |g| + ε), θ ← θ - η·m / ((1 - β₁ᵗ)·u):
    pass ``eps_inside_max=True`` for that.
    """

    hyperparameters = (
        learning_rate(0.002),
        decay("beta1", 0.9, "decay of the gradient average"),
        decay("beta2", 0.999, "decay of the maximum"),
        positive("eps", 1e-8, "epsilon of the denominator"),
        switch("eps_inside_max", False, "PyTorch's u = max(beta2 u, |g| + eps) instead of "
               "dividing by u + eps"),
    )

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
