"""Plain gradient descent."""

from __future__ import annotations

import numpy as np

from dagnet.optim.base import OptimizationAlgorithm, register_optimizer
from dagnet.optim.hyperparameters import learning_rate


@register_optimizer("gd", aliases=("sgd",))
class GradientDescent(OptimizationAlgorithm):
    """θ ← θ - η·g: the direction is the gradient itself.

    The same as ``torch.optim.SGD`` without momentum; registered as "gd", and as
    "sgd", the name PyTorch and Keras use.
    """

    hyperparameters = (learning_rate(0.1),)

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        return grad
