"""Gradient descent with momentum (Polyak's heavy ball)."""

from __future__ import annotations

import numpy as np

from dagnet.optim.base import OptimizationAlgorithm, register_optimizer
from dagnet.optim.hyperparameters import decay, learning_rate


@register_optimizer("momentum")
class Momentum(OptimizationAlgorithm):
    """v ← μ·v + g;  θ ← θ - η·v   (v starts at 0).

    The velocity v accumulates past gradients, so steps grow along directions
    where the gradient keeps its sign and cancel where it oscillates.  The
    tutorial writes v ← μ·v + η·g, θ ← θ - v: the same steps while η is constant;
    with a schedule dagnet (like ``torch.optim.SGD(momentum=μ)``) scales the
    whole velocity by the current η.
    """

    hyperparameters = (
        learning_rate(0.01),
        decay("momentum", 0.9, "the momentum mu"),
    )

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        velocity = self.state_array(i, "velocity")
        velocity *= self.momentum
        velocity += grad
        return velocity
