"""OptimizationAlgorithm: the strategy that turns gradients into weight updates."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from dagnet.node import ParameterNode


def check_hyperparameter(name: str, value: float, low: float = 0.0, high: float = math.inf,
                         low_open: bool = True, high_open: bool = False) -> float:
    """``value`` as a float if it lies in the interval, else a ValueError naming it."""
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if not math.isfinite(value) or too_low or too_high:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must be in {left}{low}, {high}{right}, got {value}")
    return value


class OptimizationAlgorithm:
    """θ ← θ - η·d, where d = ``compute_direction(i, ∇J/B)`` for parameter i.

    ``optimize(batch_size)`` reads each parameter's dJ/dw (left by
    ``Graph.backpropagate``), divides it by the batch size (the costs are sums
    over the batch) and applies the update in place.  Subclasses write only
    ``compute_direction``; per-parameter state lives in ``self.state[i]``, a dict
    that starts empty and is filled on first use.
    """

    def __init__(self, parameter_nodes: Sequence[ParameterNode], learning_rate: float):
        self.parameter_nodes = list(parameter_nodes)
        self.learning_rate = check_hyperparameter("learning_rate", learning_rate)
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.parameter_nodes]
        self.t = 0  # number of updates applied

    def optimize(self, batch_size: int = 1) -> None:
        """Apply one update to every parameter from its current gradient."""
        self.t += 1
        scale = 1.0 / batch_size
        for i, node in enumerate(self.parameter_nodes):
            grad = node.get_gradient(0)
            if batch_size != 1:
                grad = grad * scale
            direction = self.compute_direction(i, grad)
            node.w -= self.learning_rate * direction

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        """The step direction for parameter ``i`` given its (batch-averaged) gradient."""
        raise NotImplementedError(f"{type(self).__name__} does not define compute_direction")
