"""Plain gradient descent."""

from __future__ import annotations

import numpy as np

from dagnet.optim.base import OptimizationAlgorithm


class GradientDescent(OptimizationAlgorithm):
    """θ ← θ - η·∇J: the direction is the gradient itself."""

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        return grad
