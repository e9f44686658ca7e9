"""Element-wise arithmetic: sums, differences, products, scaling, the squared norm.

Binary element-wise nodes require inputs of exactly the same shape: dagnet never
broadcasts silently (a (N, 1) against a (N,) is an error, not an (N, N) matrix).
"""

from __future__ import annotations

import numpy as np

from dagnet.node import Node, register_node
from dagnet.schema import finite


@register_node
class AdditionNode(Node):
    """y = a + b (same shapes).  dJ/da = dJ/dy, dJ/db = dJ/dy."""

    n_inputs = 2

    def compute_output(self):
        a, b = self.x
        self.check_same_shape(a, b)
        return [a + b]

    def compute_gradient(self):
        return [self.dJdy[0], self.dJdy[0]]


@register_node
class SubtractionNode(Node):
    """y = a - b (same shapes).  dJ/da = dJ/dy, dJ/db = -dJ/dy."""

    n_inputs = 2

    def compute_output(self):
        a, b = self.x
        self.check_same_shape(a, b)
        return [a - b]

    def compute_gradient(self):
        g = self.dJdy[0]
        return [g, -g if self.wants(1) else None]


@register_node
class EWMultiplicationNode(Node):
    """y = a ⊙ b (element-wise, same shapes).  dJ/da = dJ/dy ⊙ b, dJ/db = dJ/dy ⊙ a."""

    n_inputs = 2

    def compute_output(self):
        a, b = self.x
        self.check_same_shape(a, b)
        return [a * b]

    def compute_gradient(self):
        a, b = self.x
        g = self.dJdy[0]
        return [g * b if self.wants(0) else None, g * a if self.wants(1) else None]


@register_node
class ScalarMultiplicationNode(Node):
    """y = s·x for a fixed scalar s.  dJ/dx = s·dJ/dy."""

    n_inputs = 1
    config_schema = {"scalar": finite}

    def __init__(self, parents, scalar: float, name: str | None = None):
        super().__init__(parents, name=name)
        self.scalar = float(scalar)

    def config(self) -> dict:
        return {"scalar": self.scalar}

    def compute_output(self):
        x = self.x[0]
        # A Python float keeps x's dtype (NumPy 2 promotion): float32 stays float32.
        return [x * self.scalar]

    def compute_gradient(self):
        return [self.dJdy[0] * self.scalar]


@register_node
class SumNode(Node):
    """y = x₁ + x₂ + … + xₙ (any number of inputs, same shapes).  dJ/dxᵢ = dJ/dy.

    The tutorial adds the costs of all time steps of a recurrent net with it.
    """

    def compute_output(self):
        first = self.x[0]
        total = first.copy()
        for other in self.x[1:]:
            self.check_same_shape(first, other)
            total += other
        return [total]

    def compute_gradient(self):
        return [self.dJdy[0]] * len(self.x)


@register_node
class Norm2Node(Node):
    """y = Σ x² (the squared Frobenius norm, a scalar).  dJ/dx = 2·x·dJ/dy."""

    n_inputs = 1

    def compute_output(self):
        x = self.x[0]
        return [np.asarray(np.vdot(x, x), dtype=x.dtype)]

    def compute_gradient(self):
        return [(2 * self.dJdy[0]) * self.x[0]]
