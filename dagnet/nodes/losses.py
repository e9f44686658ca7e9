"""Cost nodes: inputs ``(expected, predicted)``, output a scalar summed over the batch.

As in the tutorial the cost is a sum over the rows (the optimizer divides the
gradient by the batch size).  A row of ``expected`` that is all zeros contributes
nothing to the cross-entropies from logits, which is how padded time steps are
masked.  The fused nodes take logits as their second input and never form
log(0): use them rather than a softmax or sigmoid followed by a cross-entropy.
"""

from __future__ import annotations

import numpy as np

from dagnet.errors import ShapeError
from dagnet.node import Node, register_node
from dagnet.nodes.activations import sigmoid
from dagnet.nodes.sequence import _as_indices


def _clip_probabilities(p: np.ndarray) -> np.ndarray:
    """Keep probabilities inside [eps, 1 - eps] of their dtype so log and 1/p stay finite."""
    eps = np.finfo(p.dtype).eps if p.dtype.kind == "f" else 1e-12
    return np.clip(p, eps, 1 - eps)


def _checked_inputs(node: Node) -> tuple[np.ndarray, np.ndarray]:
    """``(expected, predicted)``, which must have the same shape."""
    expected, predicted = node.x
    node.check_same_shape(expected, predicted)
    return expected, predicted


def _scalar(value, like: np.ndarray) -> np.ndarray:
    """The cost as a 0-d array of the prediction's dtype (float32 stays float32)."""
    return np.asarray(value, dtype=like.dtype)


@register_node
class SquaredErrorNode(Node):
    """J = Σ (ŷ - y)².  dJ/dŷ = 2(ŷ - y), dJ/dy = -2(ŷ - y)."""

    n_inputs = 2

    def compute_output(self):
        expected, predicted = _checked_inputs(self)
        diff = predicted - expected
        return [_scalar(np.vdot(diff, diff), predicted)]

    def compute_gradient(self):
        expected, predicted = self.x
        grad = (2 * self.dJdy[0]) * (predicted - expected)
        return [-grad if self.wants(0) else None, grad]


@register_node
class BinaryCrossEntropyNode(Node):
    """J = -Σ [y log ŷ + (1 - y) log(1 - ŷ)], ŷ in (0, 1).

    dJ/dŷ = (ŷ - y) / (ŷ(1 - ŷ)), dJ/dy = log(1 - ŷ) - log ŷ.  ŷ is clipped to
    [eps, 1 - eps]; prefer SigmoidBinaryCrossEntropyNode on logits.
    """

    n_inputs = 2

    def compute_output(self):
        expected, predicted = _checked_inputs(self)
        p = _clip_probabilities(predicted)
        cost = -(np.vdot(expected, np.log(p)) + np.vdot(1 - expected, np.log1p(-p)))
        return [_scalar(cost, predicted)]

    def compute_gradient(self):
        expected, predicted = self.x
        p = _clip_probabilities(predicted)
        g = self.dJdy[0]
        return [g * (np.log1p(-p) - np.log(p)) if self.wants(0) else None,
                g * (p - expected) / (p * (1 - p))]


@register_node
class CategoricalCrossEntropyNode(Node):
    """J = -Σ y ⊙ log ŷ for probabilities ŷ (rows of a softmax).

    dJ/dŷ = -y / ŷ, dJ/dy = -log ŷ.  Prefer SoftmaxCrossEntropyNode on logits.
    """

    n_inputs = 2

    def compute_output(self):
        expected, predicted = _checked_inputs(self)
        return [_scalar(-np.vdot(expected, np.log(_clip_probabilities(predicted))),
                            predicted)]

    def compute_gradient(self):
        expected, predicted = self.x
        p = _clip_probabilities(predicted)
        g = self.dJdy[0]
        return [-g * np.log(p) if self.wants(0) else None, -g * expected / p]


@register_node
class SoftmaxCrossEntropyNode(Node):
    """J = -Σ y ⊙ log softmax(z), row-wise over the last axis, from logits z:(…, C).

    dJ/dz = softmax(z)·Σ_c y_c - y (= softmax(z) - y for one-hot rows; 0 for all-zero
    rows, the masked ones), dJ/dy = -log softmax(z).  log softmax by log-sum-exp.
    """

    n_inputs = 2

    def compute_output(self):
        expected, logits = _checked_inputs(self)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        p = np.exp(shifted)
        total = p.sum(axis=-1, keepdims=True)
        log_total = np.log(total)
        self.row_weight = expected.sum(axis=-1, keepdims=True)
        cost = np.vdot(self.row_weight, log_total) - np.vdot(expected, shifted)
        p /= total
        self.probabilities = p
        self.log_total = log_total
        self.shifted = shifted
        return [_scalar(cost, logits)]

    def compute_gradient(self):
        expected, _ = self.x
        g = self.dJdy[0]
        dz = self.probabilities * self.row_weight
        dz -= expected
        dz *= g
        dy = g * (self.log_total - self.shifted) if self.wants(0) else None
        return [dy, dz]


@register_node
class SigmoidBinaryCrossEntropyNode(Node):
    """J = -Σ [y log σ(z) + (1 - y) log(1 - σ(z))] from logits z, computed as
    Σ [max(z, 0) - z·y + log(1 + e^-|z|)] so it never overflows.

    dJ/dz = σ(z) - y, dJ/dy = -z.
    """

    n_inputs = 2

    def compute_output(self):
        expected, logits = _checked_inputs(self)
        cost = (np.maximum(logits, 0).sum() - np.vdot(logits, expected)
                + np.log1p(np.exp(-np.abs(logits))).sum())
        return [_scalar(cost, logits)]

    def compute_gradient(self):
        expected, logits = self.x
        g = self.dJdy[0]
        return [-g * logits if self.wants(0) else None, g * (sigmoid(logits) - expected)]


@register_node
class SparseSoftmaxCrossEntropyNode(Node):
    """J = -Σ log softmax(z)[y] from logits z:(…, V) and class indices y:(…) in [0, V):
    SoftmaxCrossEntropyNode with one-hot rows, without forming them.

    dJ/dz = softmax(z) - onehot(y) (times dJ/dJ); y gets no gradient.  log softmax by
    log-sum-exp.  For a language model's (B, T) targets on (B, T, V) logits.
    """

    n_inputs = 2

    def compute_output(self):
        expected, logits = self.x
        if logits.ndim < 1 or expected.shape != logits.shape[:-1]:
            raise ShapeError(f"{self.describe()}: needs indices (…) and logits (…, V) with the "
                             f"same leading shape, got {expected.shape} and {logits.shape}")
        z = logits.reshape(-1, logits.shape[-1])
        self.index = _as_indices(self, expected, z.shape[1]).reshape(-1)
        rows = np.arange(len(z))
        shifted = z - z.max(axis=1, keepdims=True)
        p = np.exp(shifted)
        total = p.sum(axis=1, keepdims=True)
        cost = np.log(total).sum() - shifted[rows, self.index].sum()
        p /= total
        self.probabilities = p
        return [_scalar(cost, logits)]

    def compute_gradient(self):
        _, logits = self.x
        dz = self.probabilities.copy()
        dz[np.arange(len(dz)), self.index] -= 1
        dz *= self.dJdy[0]
        return [None, dz.reshape(logits.shape)]
