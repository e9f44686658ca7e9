"""Nodes over whole sequences, stored time first: ``(T, B, F)`` arrays.

An unrolled recurrent net reads step t of a sequence with ``UnstackNode`` (one
output per step, views, no copy), collects its hidden states with ``StackNode``,
and projects every step at once, inputs and outputs alike, with one matrix
product: ``SequenceLinearNode`` for dense inputs, ``OneHotLinearNode`` (a row
gather) for symbol indices.
"""

from __future__ import annotations

import numpy as np

from dagnet.errors import GraphError, ShapeError
from dagnet.node import Node, register_node
from dagnet.schema import up_to


@register_node
class UnstackNode(Node):
    """Outputs the ``length`` steps of a sequence: x:(T, …) -> y_t = x[t], T = length.

    dJ/dx = stack(dJ/dy_0, …, dJ/dy_{T-1}); a step nobody reads sends back zeros.
    """

    n_inputs = 1
    config_schema = {"length": up_to(1, "max_node_io")}

    @classmethod
    def outputs_for(cls, config: dict) -> int:
        return config["length"]

    def __init__(self, parents, length: int, name: str | None = None):
        length = int(length)
        if length < 1:
            raise GraphError(f"UnstackNode needs a positive length, got {length}")
        super().__init__(parents, nb_outputs=length, name=name)
        self.length = length

    def config(self) -> dict:
        return {"length": self.length}

    def compute_output(self):
        x = self.x[0]
        if x.ndim < 1 or x.shape[0] != self.length:
            raise ShapeError(f"{self.describe()}: expects a sequence of {self.length} steps "
                             f"(time first), got shape {x.shape}")
        return list(x)

    def compute_gradient(self):
        return [np.stack(self.dJdy)]


@register_node
class StackNode(Node):
    """y = stack(x_0, …, x_{T-1}), one input per step: x_t:(B, F) -> (T, B, F).

    dJ/dx_t = dJ/dy[t].
    """

    def compute_output(self):
        shapes = {x.shape for x in self.x}
        if len(shapes) != 1:
            raise ShapeError(f"{self.describe()}: cannot stack steps of shapes "
                             f"{sorted(shapes)}: every step must have the same shape")
        return [np.stack(self.x)]

    def compute_gradient(self):
        return list(self.dJdy[0])


@register_node
class SequenceLinearNode(Node):
    """y = x·W + b at every step as one product; x:(…, I), W:(I, O), b:(O,) -> (…, O).

    dJ/dx = dJ/dy·Wᵀ, dJ/dW = Σ_steps xᵀ·dJ/dy, dJ/db = Σ dJ/dy over all but the last axis.
    """

    n_inputs = 3

    def compute_output(self):
        x, w, b = self.x
        if x.ndim < 2 or w.ndim != 2 or x.shape[-1] != w.shape[0] or b.shape != w.shape[1:]:
            raise ShapeError(f"{self.describe()}: cannot compute x·W + b with x {x.shape}, "
                             f"W {w.shape}, b {b.shape}: needs (…, I), (I, O) and (O,)")
        y = x.reshape(-1, x.shape[-1]) @ w
        y += b
        return [y.reshape(x.shape[:-1] + (w.shape[1],))]

    def compute_gradient(self):
        x, w, _ = self.x
        g = self.dJdy[0].reshape(-1, w.shape[1])
        return [(g @ w.T).reshape(x.shape) if self.wants(0) else None,
                x.reshape(-1, x.shape[-1]).T @ g if self.wants(1) else None,
                g.sum(axis=0) if self.wants(2) else None]


@register_node
class OneHotLinearNode(Node):
    """y = onehot(i)·W + b, computed as the row gather W[i] + b; i:(…) integers in [0, V),
    W:(V, O), b:(O,) -> (…, O).

    dJ/dW[v] = Σ of dJ/dy over the positions where i = v, dJ/db = Σ dJ/dy; i gets no
    gradient.  Same function as a product with one-hot rows, without forming them.
    """

    n_inputs = 3

    def compute_output(self):
        indices, w, b = self.x
        if w.ndim != 2 or b.shape != w.shape[1:]:
            raise ShapeError(f"{self.describe()}: needs W:(V, O) and b:(O,), got W {w.shape} "
                             f"and b {b.shape}")
        index = _as_indices(self, indices, w.shape[0])
        self.index = index
        y = w[index]
        y += b
        return [y]

    def compute_gradient(self):
        _, w, _ = self.x
        g = self.dJdy[0].reshape(-1, w.shape[1])
        dw = None
        if self.wants(1):
            dw = _scatter_add_rows(self.index.ravel(), g, w.shape[0])
        return [None, dw, g.sum(axis=0) if self.wants(2) else None]


# Up to this many one-hot entries (V × rows), dJ/dW = onehotᵀ·g is one product (a 65 × 2500
# one-hot for char-rnn: 10x faster than np.add.at); beyond, the rows are summed by index.
_ONE_HOT_LIMIT = 1 << 22


def _scatter_add_rows(index: np.ndarray, g: np.ndarray, size: int) -> np.ndarray:
    """dW with dW[v] = Σ of the rows g[k] where index[k] = v; dW:(size, g.shape[1])."""
    if size * len(index) <= _ONE_HOT_LIMIT or len(index) == 0:
        one_hot = np.zeros((size, len(index)), dtype=g.dtype)
        one_hot[index, np.arange(len(index))] = 1
        return one_hot @ g
    order = np.argsort(index, kind="stable")
    ordered = index[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    dw = np.zeros((size, g.shape[1]), dtype=g.dtype)
    dw[ordered[starts]] = np.add.reduceat(g[order], starts, axis=0)
    return dw


def _as_indices(node: Node, indices: np.ndarray, size: int) -> np.ndarray:
    """Integer indices in [0, size); floats that hold whole numbers are accepted."""
    if indices.dtype.kind in "iu":
        index = indices
    else:
        index = indices.astype(np.intp)
        if indices.dtype.kind != "f" or not np.array_equal(index, indices):
            raise ShapeError(f"{node.describe()}: the indices must be integers, got "
                             f"{indices.dtype} values")
    if index.size and (index.min() < 0 or index.max() >= size):
        raise ShapeError(f"{node.describe()}: indices must lie in [0, {size}), got values "
                         f"from {index.min()} to {index.max()}")
    return index


@register_node
class EmbeddingNode(Node):
    """y = E[i], a row of the embedding matrix per symbol; i:(…) integers in [0, V),
    E:(V, D) -> (…, D).

    dJ/dE[v] = Σ of dJ/dy over the positions where i = v; i gets no gradient.
    """

    n_inputs = 2

    def compute_output(self):
        indices, w = self.x
        if w.ndim != 2:
            raise ShapeError(f"{self.describe()}: needs an embedding matrix E:(V, D), got "
                             f"shape {w.shape}")
        self.index = _as_indices(self, indices, w.shape[0])
        return [w[self.index]]

    def compute_gradient(self):
        _, w = self.x
        dw = None
        if self.wants(1):
            g = self.dJdy[0].reshape(-1, w.shape[1])
            dw = _scatter_add_rows(self.index.ravel(), g, w.shape[0])
        return [None, dw]
