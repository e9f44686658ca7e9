"""Plain gradient descent."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dagnet.node import ParameterNode
from dagnet.optim.base import OptimizationAlgorithm


class GradientDescent(OptimizationAlgorithm):
    """θ ← θ - η·g: the direction is the gradient itself.

    The same as ``torch.optim.SGD`` without momentum.
    """

    default_learning_rate = 0.1

    def __init__(self, parameter_nodes: Sequence[ParameterNode], learning_rate: float = 0.1,
                 **controls):
        super().__init__(parameter_nodes, learning_rate, **controls)

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        return grad
