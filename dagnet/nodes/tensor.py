"""Nodes on tensors of any rank: reshape, transpose, batched matrix products,
reductions and softmax along an axis, the causal mask, splits along an axis, and
the explicit broadcasting nodes.

``…`` stands for any number of leading axes (a batch, heads...): attention
works on ``(B, T, C)`` activations and ``(B, H, T, D)`` heads.  Nothing here
broadcasts silently: only ``BroadcastAddNode`` and ``BroadcastMultiplyNode``
stretch their second input, and say so in their name; a shared 2-D weight of
``BatchMatMulNode`` is the one product rule NumPy calls broadcasting.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dagnet.errors import GraphError, ShapeError
from dagnet.node import Node, register_node
from dagnet.schema import axis, dims, finite_or_null, flag, sizes


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` over the axes that broadcasting added or stretched to reach ``g.shape``:
    the gradient of an input of ``shape`` that was broadcast to ``g.shape``."""
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return g if g.shape == tuple(shape) else g.reshape(shape)


def swap_last(a: np.ndarray) -> np.ndarray:
    """The transpose of every matrix of a stack (…, M, N) -> (…, N, M): a view."""
    return a.swapaxes(-1, -2)


def _axis(node: Node, axis: int, ndim: int) -> int:
    """``axis`` as a non-negative index into an array of ``ndim`` axes."""
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{node.describe()}: axis {axis} does not exist in an input of "
                         f"{ndim} axes")
    return axis % ndim


@register_node
class ReshapeNode(Node):
    """y = x with the shape ``shape`` (C order: a view whenever NumPy can make one).

    In ``shape``, 0 keeps x's size on that axis and one -1 is inferred (ONNX's rule),
    so ``(0, 0, H, -1)`` splits (B, T, C) into H heads for any B and T.
    dJ/dx = dJ/dy reshaped to x's shape.
    """

    n_inputs = 1
    config_schema = {"shape": dims}

    def __init__(self, parents, shape: Sequence[int], name: str | None = None):
        super().__init__(parents, name=name)
        self.shape = tuple(int(s) for s in shape)
        if self.shape.count(-1) > 1 or min(self.shape, default=0) < -1:
            raise GraphError(f"{self.describe()}: shape {self.shape} may hold sizes, 0 (keep) "
                             "and one -1 (inferred)")

    def config(self) -> dict:
        return {"shape": list(self.shape)}

    def compute_output(self):
        x = self.x[0]
        if any(s == 0 and i >= x.ndim for i, s in enumerate(self.shape)):
            raise ShapeError(f"{self.describe()}: shape {self.shape} keeps an axis (0) that an "
                             f"input of shape {x.shape} does not have")
        target = tuple(x.shape[i] if s == 0 else s for i, s in enumerate(self.shape))
        try:
            return [x.reshape(target)]
        except ValueError:
            raise ShapeError(f"{self.describe()}: cannot reshape {x.shape} ({x.size} values) "
                             f"to {self.shape}") from None

    def compute_gradient(self):
        return [self.dJdy[0].reshape(self.x[0].shape)]


@register_node
class TransposeNode(Node):
    """y = x with its axes permuted: y.shape[i] = x.shape[axes[i]] (a view, no copy).

    dJ/dx = dJ/dy with the inverse permutation (argsort of ``axes``).
    """

    n_inputs = 1
    config_schema = {"axes": dims}

    def __init__(self, parents, axes: Sequence[int], name: str | None = None):
        super().__init__(parents, name=name)
        self.axes = tuple(int(a) for a in axes)
        if sorted(self.axes) != list(range(len(self.axes))):
            raise GraphError(f"{self.describe()}: axes {self.axes} is not a permutation of "
                             f"0..{len(self.axes) - 1}")
        self.inverse = tuple(int(a) for a in np.argsort(self.axes))

    def config(self) -> dict:
        return {"axes": list(self.axes)}

    def compute_output(self):
        x = self.x[0]
        if x.ndim != len(self.axes):
            raise ShapeError(f"{self.describe()}: axes {self.axes} permute {len(self.axes)} "
                             f"axes, the input has shape {x.shape}")
        return [x.transpose(self.axes)]

    def compute_gradient(self):
        return [self.dJdy[0].transpose(self.inverse)]


@register_node
class BatchMatMulNode(Node):
    """y = A·B for every leading index: A:(…, M, K), B:(…, K, N) -> (…, M, N), where
    A = aᵀ with ``transpose_a`` (a:(…, K, M)) and B = bᵀ with ``transpose_b`` (b:(…, N, K)):
    the last two axes swapped as a view, never copied.  a and b have the same leading
    axes, or b is 2-D: one matrix shared by the whole batch.

    dJ/dA = G·Bᵀ, dJ/dB = Aᵀ·G (summed over the batch for a shared B), and for a
    transposed input the transpose of its gradient: dJ/da = B·Gᵀ, dJ/db = Gᵀ·A.
    """

    n_inputs = 2
    config_schema = {"transpose_a": flag, "transpose_b": flag}

    def __init__(self, parents, transpose_a: bool = False, transpose_b: bool = False,
                 name: str | None = None):
        super().__init__(parents, name=name)
        self.transpose_a, self.transpose_b = bool(transpose_a), bool(transpose_b)

    def config(self) -> dict:
        return {"transpose_a": self.transpose_a, "transpose_b": self.transpose_b}

    def operands(self) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.x
        return (swap_last(a) if self.transpose_a else a,
                swap_last(b) if self.transpose_b else b)

    def compute_output(self):
        a, b = self.x
        A, B = self.operands()
        shared = b.ndim == 2 and a.ndim >= 2
        batches_match = shared or a.shape[:-2] == b.shape[:-2]
        if a.ndim < 2 or not batches_match or A.shape[-1] != B.shape[-2]:
            raise ShapeError(
                f"{self.describe()}: cannot multiply {a.shape} by {b.shape} (transpose_a="
                f"{self.transpose_a}, transpose_b={self.transpose_b}): needs (…, M, K) times "
                "(…, K, N) with the same leading axes, or a 2-D (K, N)")
        if shared and not self.transpose_a:
            # One GEMM over every row of the batch, not one per matrix of the stack.
            return [(a.reshape(-1, a.shape[-1]) @ B).reshape(a.shape[:-1] + B.shape[-1:])]
        return [A @ B]

    def compute_gradient(self):
        a, b = self.x
        A, B = self.operands()
        g = self.dJdy[0]
        da = db = None
        if self.wants(0):
            da = B @ swap_last(g) if self.transpose_a else g @ swap_last(B)
        if self.wants(1):
            if b.ndim == 2 and a.ndim > 2:
                A, g = A.reshape(-1, A.shape[-1]), g.reshape(-1, g.shape[-1])
            db = swap_last(g) @ A if self.transpose_b else swap_last(A) @ g
        return [da, db]


@register_node
class AxisSumNode(Node):
    """y = Σ_axis x: x:(…, n, …) -> (…, …), or (…, 1, …) with ``keepdims``.

    dJ/dx = dJ/dy repeated n times along ``axis``.
    """

    n_inputs = 1
    config_schema = {"axis": axis, "keepdims": flag}

    def __init__(self, parents, axis: int = -1, keepdims: bool = False,
                 name: str | None = None):
        super().__init__(parents, name=name)
        self.axis, self.keepdims = int(axis), bool(keepdims)

    def config(self) -> dict:
        return {"axis": self.axis, "keepdims": self.keepdims}

    def compute_output(self):
        x = self.x[0]
        return [x.sum(axis=_axis(self, self.axis, x.ndim), keepdims=self.keepdims)]

    def spread(self, g: np.ndarray) -> np.ndarray:
        """``g`` copied along the reduced axis, to x's shape."""
        x = self.x[0]
        if not self.keepdims:
            g = np.expand_dims(g, _axis(self, self.axis, x.ndim))
        return np.broadcast_to(g, x.shape).copy()

    def compute_gradient(self):
        return [self.spread(self.dJdy[0])]


@register_node
class AxisMeanNode(AxisSumNode):
    """y = (1/n) Σ_axis x over the n entries of ``axis`` (``keepdims`` as AxisSumNode).

    dJ/dx = dJ/dy / n repeated n times along ``axis``.
    """

    def compute_output(self):
        x = self.x[0]
        return [x.mean(axis=_axis(self, self.axis, x.ndim), keepdims=self.keepdims)]

    def compute_gradient(self):
        x = self.x[0]
        n = x.shape[_axis(self, self.axis, x.ndim)]
        # A Python float keeps the gradient's dtype (float32 stays float32).
        return [self.spread(self.dJdy[0] * (1.0 / n))]


def softmax_along(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``, shifted by the maximum so exp never overflows."""
    e = x - x.max(axis=axis, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


@register_node
class AxisSoftmaxNode(Node):
    """y = exp(x) / Σ_axis exp(x) along ``axis`` (default the last); shape kept.

    dJ/dx = y ⊙ (dJ/dy - Σ_axis (dJ/dy ⊙ y)): SoftmaxNode's rule along any axis.
    """

    n_inputs = 1
    config_schema = {"axis": axis}

    def __init__(self, parents, axis: int = -1, name: str | None = None):
        super().__init__(parents, name=name)
        self.axis = int(axis)

    def config(self) -> dict:
        return {"axis": self.axis}

    def compute_output(self):
        x = self.x[0]
        return [softmax_along(x, _axis(self, self.axis, x.ndim))]

    def compute_gradient(self):
        y, g = self.y[0], self.dJdy[0]
        gy = g * y
        gy -= y * gy.sum(axis=self.axis, keepdims=True)
        return [gy]


def causal_mask(size: int) -> np.ndarray:
    """The (size, size) boolean mask of the future: True where key j > query i."""
    return np.triu(np.ones((size, size), dtype=bool), k=1)


@register_node
class CausalMaskNode(Node):
    """y = x where key j ≤ query i, ``fill`` where j > i; x:(…, T, T) -> (…, T, T).

    Before a softmax over j, fill = -inf (the default) gives the future weight 0.
    dJ/dx = dJ/dy where j ≤ i, 0 where j > i.
    """

    n_inputs = 1
    config_schema = {"fill": finite_or_null}

    def __init__(self, parents, fill: float | None = -np.inf, name: str | None = None):
        super().__init__(parents, name=name)
        # JSON has no -inf: a model file stores it as null.
        self.fill = -np.inf if fill is None else float(fill)

    def config(self) -> dict:
        return {"fill": None if self.fill == -np.inf else self.fill}

    def compute_output(self):
        x = self.x[0]
        if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
            raise ShapeError(f"{self.describe()}: needs square (…, T, T) scores, got shape "
                             f"{x.shape}")
        self.mask = causal_mask(x.shape[-1])
        return [np.where(self.mask, self.fill, x)]

    def compute_gradient(self):
        return [np.where(self.mask, 0, self.dJdy[0])]


@register_node
class AxisSplitNode(Node):
    """Outputs the blocks of x of sizes ``sizes`` along ``axis`` (views, no copy);
    x:(…, Σsizes, …) -> (…, sizeₖ, …) each.

    dJ/dx = the dJ/dyₖ concatenated along ``axis``; an output nobody reads sends back zeros.
    """

    n_inputs = 1
    config_schema = {"sizes": sizes, "axis": axis}

    @classmethod
    def outputs_for(cls, config: dict) -> int:
        return len(config["sizes"])

    def __init__(self, parents, sizes: Sequence[int], axis: int = -1, name: str | None = None):
        sizes = [int(s) for s in sizes]
        super().__init__(parents, nb_outputs=len(sizes), name=name)
        if not sizes or min(sizes) < 1:
            raise GraphError(f"{self.describe()}: sizes must be positive, got {sizes}")
        self.sizes, self.axis = sizes, int(axis)

    def config(self) -> dict:
        return {"sizes": self.sizes, "axis": self.axis}

    def compute_output(self):
        x = self.x[0]
        axis = _axis(self, self.axis, x.ndim)
        if x.shape[axis] != sum(self.sizes):
            raise ShapeError(f"{self.describe()}: cannot split axis {self.axis} of {x.shape} "
                             f"into blocks of {self.sizes}")
        return np.split(x, np.cumsum(self.sizes)[:-1], axis=axis)

    def compute_gradient(self):
        return [np.concatenate(self.dJdy, axis=self.axis)]


def _check_broadcast(node: Node, x: np.ndarray, b: np.ndarray) -> None:
    """b must broadcast to x's shape exactly (y keeps x's shape)."""
    try:
        target = np.broadcast_shapes(x.shape, b.shape)
    except ValueError:
        target = None
    if target != x.shape:
        raise ShapeError(f"{node.describe()}: the second input {b.shape} does not broadcast to "
                         f"the first's shape {x.shape} (it aligns with the trailing axes, "
                         "where it may have size 1)")


@register_node
class BroadcastAddNode(Node):
    """y = x + b, b broadcast to x's shape (NumPy's rule: b aligns with x's trailing axes,
    a size-1 axis of b stretches); y:(x's shape).  A bias (C,) on (B, T, C), positions
    (T, C) on (B, T, C).  dJ/dx = dJ/dy, dJ/db = dJ/dy summed over the broadcast axes.
    """

    n_inputs = 2

    def compute_output(self):
        x, b = self.x
        _check_broadcast(self, x, b)
        return [x + b]

    def compute_gradient(self):
        g = self.dJdy[0]
        return [g, unbroadcast(g, self.x[1].shape) if self.wants(1) else None]


@register_node
class BroadcastMultiplyNode(Node):
    """y = x ⊙ s, s broadcast to x's shape (as BroadcastAddNode); a scale per feature or
    per row.  dJ/dx = dJ/dy ⊙ s, dJ/ds = (dJ/dy ⊙ x) summed over the broadcast axes.
    """

    n_inputs = 2

    def compute_output(self):
        x, s = self.x
        _check_broadcast(self, x, s)
        return [x * s]

    def compute_gradient(self):
        x, s = self.x
        g = self.dJdy[0]
        return [g * s if self.wants(0) else None,
                unbroadcast(g * x, s.shape) if self.wants(1) else None]
