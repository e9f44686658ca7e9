"""Gradient descent with momentum (Polyak's heavy ball)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dagnet.node import ParameterNode
from dagnet.optim.base import OptimizationAlgorithm
from dagnet.optim.checks import check_decay


class Momentum(OptimizationAlgorithm):
    """v ← μ·v + g;  θ ← θ - η·v   (v starts at 0).

    The velocity v accumulates past gradients, so steps grow along directions
    where the gradient keeps its sign and cancel where it oscillates.  The
    tutorial writes v ← μ·v + η·g, θ ← θ - v: the same steps while η is constant;
    with a schedule dagnet (like ``torch.optim.SGD(momentum=μ)``) scales the
    whole velocity by the current η.
    """

    default_learning_rate = 0.01

    def __init__(self, parameter_nodes: Sequence[ParameterNode], learning_rate: float = 0.01,
                 momentum: float = 0.9, **controls):
        super().__init__(parameter_nodes, learning_rate, **controls)
        self.momentum = check_decay("momentum", momentum)

    def config(self) -> dict:
        return {**super().config(), "momentum": self.momentum}

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        velocity = self.state_array(i, "velocity")
        velocity *= self.momentum
        velocity += grad
        return velocity
