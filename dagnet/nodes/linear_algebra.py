"""Matrix products and biases, in the row convention: x:(B, I), W:(I, O) -> (B, O)."""

from __future__ import annotations

import numpy as np

from dagnet.errors import ShapeError
from dagnet.node import Node, register_node


@register_node
class MultiplicationNode(Node):
    """y = x·W; x:(B, I), W:(I, O) -> (B, O).  dJ/dx = dJ/dy·Wᵀ, dJ/dW = xᵀ·dJ/dy."""

    n_inputs = 2

    def compute_output(self):
        a, b = self.x
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise ShapeError(f"{self.describe()}: cannot multiply {a.shape} by {b.shape}: "
                             "needs (B, I) times (I, O)")
        return [a @ b]

    def compute_gradient(self):
        a, b = self.x
        g = self.dJdy[0]
        return [g @ b.T if self.wants(0) else None, a.T @ g if self.wants(1) else None]


@register_node
class AddBiasNode(Node):
    """y = (1 | x): a column of ones prepended; x:(B, F) -> (B, F+1).  dJ/dx = dJ/dy[:, 1:].

    With it, (1|x)·W is an affine map whose first row of W is the bias (the tutorial's form).
    """

    n_inputs = 1

    def compute_output(self):
        x = self.x[0]
        self.check_matrix(x)
        y = np.empty((x.shape[0], x.shape[1] + 1), dtype=x.dtype)
        y[:, 0] = 1
        y[:, 1:] = x
        return [y]

    def compute_gradient(self):
        return [self.dJdy[0][:, 1:]]


@register_node
class LinearNode(Node):
    """y = x·W + b; x:(B, I), W:(I, O), b:(O,) -> (B, O).

    dJ/dx = dJ/dy·Wᵀ, dJ/dW = xᵀ·dJ/dy, dJ/db = Σ_rows dJ/dy.  The same map as
    (1|x)·W with the bias kept apart, which saves copying x into a wider matrix.
    """

    n_inputs = 3

    def compute_output(self):
        x, w, b = self.x
        if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0] or b.shape != w.shape[1:]:
            raise ShapeError(f"{self.describe()}: cannot compute x·W + b with x {x.shape}, "
                             f"W {w.shape}, b {b.shape}: needs (B, I), (I, O) and (O,)")
        y = x @ w
        y += b
        return [y]

    def compute_gradient(self):
        x, w, _ = self.x
        g = self.dJdy[0]
        return [g @ w.T if self.wants(0) else None,
                x.T @ g if self.wants(1) else None,
                g.sum(axis=0) if self.wants(2) else None]
