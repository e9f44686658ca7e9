"""Element-wise activations and the row-wise softmax.

Shapes are preserved: ``x:(B, F) -> y:(B, F)`` (any shape works element-wise).
Backward formulas reuse the memoized output ``y`` instead of recomputing it.
"""

from __future__ import annotations

import numpy as np

from dagnet.node import Node, register_node


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """σ(x) = 1/(1 + e^-x), written as (1 + tanh(x/2))/2 so it never overflows.

    With ``out`` (which may be ``x`` itself) the result is written there, no temporary.
    """
    y = np.multiply(x, 0.5, out=out)
    np.tanh(y, out=y)
    y += 1
    y *= 0.5
    return y


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so exp never overflows."""
    e = x - x.max(axis=-1, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=-1, keepdims=True)
    return e


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax by log-sum-exp: z - max - log Σ exp(z - max)."""
    shifted = x - x.max(axis=-1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return shifted


@register_node
class IdentityNode(Node):
    """y = x.  dJ/dx = dJ/dy."""

    n_inputs = 1

    def compute_output(self):
        return [self.x[0]]

    def compute_gradient(self):
        return [self.dJdy[0]]


@register_node
class SigmoidNode(Node):
    """y = σ(x) = 1/(1 + e^-x).  dJ/dx = dJ/dy ⊙ y ⊙ (1 - y)."""

    n_inputs = 1

    def compute_output(self):
        return [sigmoid(self.x[0])]

    def compute_gradient(self):
        y = self.y[0]
        return [self.dJdy[0] * y * (1 - y)]


@register_node
class TanhNode(Node):
    """y = tanh(x).  dJ/dx = dJ/dy ⊙ (1 - y²)."""

    n_inputs = 1

    def compute_output(self):
        return [np.tanh(self.x[0])]

    def compute_gradient(self):
        y = self.y[0]
        return [self.dJdy[0] * (1 - y * y)]


@register_node
class ReluNode(Node):
    """y = max(x, 0).  dJ/dx = dJ/dy ⊙ [x > 0]."""

    n_inputs = 1

    def compute_output(self):
        return [np.maximum(self.x[0], 0)]

    def compute_gradient(self):
        # A product with the mask: np.where with a scalar runs about 10 times slower
        # (measured on (128, 8, 28, 28) float32), and ReLUs sit after every convolution.
        return [self.dJdy[0] * (self.x[0] > 0)]


@register_node
class SoftmaxNode(Node):
    """y_ij = exp(x_ij) / Σ_k exp(x_ik), row by row; x:(B, C) -> (B, C).

    dJ/dx = y ⊙ (dJ/dy - Σ_k (dJ/dy ⊙ y)_k): the Jacobian-vector product, no B×C×C Jacobian.
    """

    n_inputs = 1

    def compute_output(self):
        self.check_matrix(self.x[0])
        return [softmax(self.x[0])]

    def compute_gradient(self):
        y, g = self.y[0], self.dJdy[0]
        return [y * (g - (g * y).sum(axis=1, keepdims=True))]
