"""The transformer's nodes: layer normalization, GELU and causal multi-head attention.

Activations are ``(B, T, C)`` (batch, time, features: batch first, unlike the
recurrent nodes' time-first sequences); attention heads are ``(B, H, T, D)`` with
C = H·D.  ``MultiHeadAttentionNode`` is the fused node; ``composed_attention``
builds the same function from the nodes of dagnet.nodes.tensor, and is its
gradient-checked reference.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from dagnet.errors import GraphError, ShapeError
from dagnet.node import Node, register_node
from dagnet.nodes.arithmetic import ScalarMultiplicationNode
from dagnet.nodes.tensor import (
    AxisSoftmaxNode,
    BatchMatMulNode,
    CausalMaskNode,
    ReshapeNode,
    TransposeNode,
    causal_mask,
    swap_last,
)
from dagnet.schema import flag, one_of, positive_number, up_to


@register_node
class LayerNormNode(Node):
    """y = x̂ ⊙ g + b, x̂ = (x - μ)/σ with μ, σ² the mean and variance of x's last axis
    and σ = √(σ² + eps); x:(…, C), g:(C,), b:(C,) -> (…, C).  Without a third input,
    y = x̂ ⊙ g (no bias: nanoGPT's ``bias=False``).

    With ĝ = dJ/dy ⊙ g: dJ/dx = (ĝ - mean(ĝ) - x̂ ⊙ mean(ĝ ⊙ x̂)) / σ (means over the
    last axis), dJ/dg = Σ dJ/dy ⊙ x̂, dJ/db = Σ dJ/dy (sums over all but the last axis).
    """

    n_inputs = (2, 3)
    config_schema = {"eps": positive_number}

    def __init__(self, parents, eps: float = 1e-5, name: str | None = None):
        super().__init__(parents, name=name)
        if len(self.parents) not in self.n_inputs:
            raise GraphError(f"{self.describe()}: needs inputs (x, g) or (x, g, b), got "
                             f"{len(self.parents)}")
        self.eps = float(eps)

    def config(self) -> dict:
        return {"eps": self.eps}

    def compute_output(self):
        x, g = self.x[:2]
        b = self.x[2] if len(self.x) == 3 else None
        if x.ndim < 1 or g.shape != x.shape[-1:] or b is not None and b.shape != x.shape[-1:]:
            shapes = f"x {x.shape}, g {g.shape}" + ("" if b is None else f", b {b.shape}")
            raise ShapeError(f"{self.describe()}: needs x:(…, C), gain g:(C,) and bias b:(C,) "
                             f"if any, got {shapes}")
        centered = x - x.mean(axis=-1, keepdims=True)
        variance = np.einsum("...c,...c->...", centered, centered)[..., None]
        variance *= 1.0 / x.shape[-1]
        variance += self.eps
        self.inv_std = np.sqrt(variance, out=variance)
        np.divide(1.0, self.inv_std, out=self.inv_std)
        centered *= self.inv_std
        self.normalized = centered
        y = centered * g
        if b is not None:
            y += b
        return [y]

    def compute_gradient(self):
        g = self.x[1]
        dy, x_hat = self.dJdy[0], self.normalized
        C = x_hat.shape[-1]
        dg = db = dx = None
        if self.wants(1):
            dg = np.einsum("nc,nc->c", dy.reshape(-1, C), x_hat.reshape(-1, C))
        if len(self.x) == 3 and self.wants(2):
            db = dy.reshape(-1, C).sum(axis=0)
        if self.wants(0):
            d_hat = dy * g
            mean_d = d_hat.mean(axis=-1, keepdims=True)
            mean_dx = np.einsum("...c,...c->...", d_hat, x_hat)[..., None]
            mean_dx *= 1.0 / C
            d_hat -= mean_d
            dx = x_hat * mean_dx
            np.subtract(d_hat, dx, out=dx)
            dx *= self.inv_std
        return [dx, dg, db][:len(self.x)]


# erfc(z) for z ≥ 0 as e^(-z²)/(1 + 2z)·S(t), t = (z - L)/(z + L) in [-1, 1): S is smooth on
# the whole half-line (it tends to 2/√π), so a short Chebyshev series of S gives erfc to a
# relative error of ~1e-14.  NumPy has no erf, and a Python call per element is too slow.
_ERFC_MAP = 4.0
_ERFC_TERMS = 40


def _scaled_erfc(z: float) -> float:
    """erfcx(z) = e^(z²)·erfc(z) for z ≥ 0 (math.erfc underflows beyond z ≈ 27)."""
    if z < 2.0:
        return math.erfc(z) * math.exp(z * z)
    # Laplace's continued fraction 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + …)))), from the bottom.
    tail = z
    for n in range(200, 0, -1):
        tail = z + (n / 2) / tail
    return 1.0 / (math.sqrt(math.pi) * tail)


@functools.cache
def _erfc_series(dtype: np.dtype) -> np.ndarray:
    """Chebyshev coefficients of S, cut after the last one above 10 ulps of ``dtype``."""
    theta = np.pi * (np.arange(_ERFC_TERMS) + 0.5) / _ERFC_TERMS
    values = []
    for t in np.cos(theta):
        z = _ERFC_MAP * (1 + t) / (1 - t)
        values.append((1 + 2 * z) * _scaled_erfc(z))
    coefficients = 2 / _ERFC_TERMS * np.cos(np.outer(np.arange(_ERFC_TERMS), theta)) @ values
    coefficients[0] /= 2
    keep = np.flatnonzero(np.abs(coefficients) > 10 * np.finfo(dtype).eps)[-1] + 1
    return coefficients[:keep].astype(dtype)


def _clenshaw(t: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """Σ_k c_k T_k(t) by Clenshaw's recurrence, in place in three arrays (chebval allocates
    new ones at every step, several times slower on large arrays)."""
    t2 = t + t
    b1, b2 = np.full_like(t, coefficients[-1]), np.zeros_like(t)
    work = np.empty_like(t)
    for c in coefficients[-2:0:-1]:
        np.multiply(t2, b1, out=work)
        work -= b2
        work += c
        b1, b2, work = work, b1, b2
    np.multiply(t, b1, out=work)
    work -= b2
    work += coefficients[0]
    return work


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Φ(x) = ½ erfc(-x/√2), the standard normal distribution function, element-wise,
    in x's dtype, accurate to ~1e-14 relative in float64 (also in the far left tail)."""
    z = np.abs(x) * (1 / math.sqrt(2))
    t = (z - _ERFC_MAP) / (z + _ERFC_MAP)
    tail = _clenshaw(t, _erfc_series(x.dtype))
    z *= 2
    z += 1
    tail /= z
    tail *= np.exp(x * x * -0.5)
    tail *= 0.5  # ½ erfc(|x|/√2) = Φ(-|x|)
    return np.where(x < 0, tail, 1 - tail)


_TANH_SCALE = math.sqrt(2 / math.pi)
_TANH_CUBIC = 0.044715


@register_node
class GELUNode(Node):
    """y = x·Φ(x), Φ the standard normal distribution function (``approximate="none"``),
    or y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³) (``approximate="tanh"``, GPT-2's).

    dJ/dx = dJ/dy ⊙ (Φ(x) + x·φ(x)), φ(x) = e^(-x²/2)/√(2π); for the tanh form
    dJ/dx = dJ/dy ⊙ (½(1 + tanh u) + ½x(1 - tanh² u)·√(2/π)(1 + 3·0.044715x²)).  Any shape.
    """

    n_inputs = 1
    config_schema = {"approximate": one_of("none", "tanh")}

    def __init__(self, parents, approximate: str = "none", name: str | None = None):
        super().__init__(parents, name=name)
        if approximate not in ("none", "tanh"):
            raise GraphError(f"{self.describe()}: approximate must be 'none' or 'tanh', got "
                             f"{approximate!r}")
        self.approximate = approximate

    def config(self) -> dict:
        return {"approximate": self.approximate}

    def compute_output(self):
        x = self.x[0]
        if self.approximate == "none":
            self.cdf = normal_cdf(x)
            return [x * self.cdf]
        # ½(1 + tanh u) = σ(2u) = 1/(1 + e^(-2u)): one exp, faster than NumPy's tanh; e^(-2u)
        # overflows to inf for very negative x, where σ is then exactly 0.
        e = x * x
        e *= -2 * _TANH_SCALE * _TANH_CUBIC
        e -= 2 * _TANH_SCALE
        e *= x
        with np.errstate(over="ignore"):
            np.exp(e, out=e)
        e += 1
        self.half_tanh = np.reciprocal(e, out=e)
        return [x * self.half_tanh]

    def compute_gradient(self):
        x, g = self.x[0], self.dJdy[0]
        if self.approximate == "none":
            slope = x * x
            slope *= -0.5
            np.exp(slope, out=slope)
            slope *= x * (1 / math.sqrt(2 * math.pi))
            slope += self.cdf
            slope *= g
            return [slope]
        # With s = ½(1 + tanh u): ½(1 - tanh² u) = 2s(1 - s).
        s = self.half_tanh
        du = x * x
        du *= 3 * _TANH_SCALE * _TANH_CUBIC
        du += _TANH_SCALE
        slope = 1 - s
        slope *= s
        slope *= du
        slope *= x
        slope *= 2
        slope += s
        slope *= g
        return [slope]


@register_node
class PositionEmbeddingNode(Node):
    """y[b, t] = x[b, t] + P[t]: learned positions added to the first T of their rows;
    x:(B, T, C), P:(T_max, C) with T ≤ T_max -> (B, T, C).  One graph serves any T.

    dJ/dx = dJ/dy; dJ/dP[t] = Σ_b dJ/dy[b, t] for t < T, 0 for the rows beyond.
    """

    n_inputs = 2

    def compute_output(self):
        x, p = self.x
        if x.ndim != 3 or p.ndim != 2 or x.shape[2] != p.shape[1] or x.shape[1] > p.shape[0]:
            raise ShapeError(f"{self.describe()}: needs x:(B, T, C) and positions P:(T_max, C) "
                             f"with T ≤ T_max, got x {x.shape} and P {p.shape}")
        return [x + p[:x.shape[1]]]

    def compute_gradient(self):
        g = self.dJdy[0]
        dp = None
        if self.wants(1):
            dp = np.zeros_like(self.x[1])
            g.sum(axis=0, out=dp[:g.shape[1]])
        return [g, dp]


def _split_heads(a: np.ndarray, n_heads: int) -> np.ndarray:
    """(B, T, C) -> (B, H, T, D): a view whenever the last axis is contiguous."""
    B, T, C = a.shape
    return a.reshape(B, T, n_heads, C // n_heads).transpose(0, 2, 1, 3)


@register_node
class MultiHeadAttentionNode(Node):
    """Scaled dot-product attention of ``n_heads`` heads, causal by default, fused:
    q, k, v:(B, T, C) -> y:(B, T, C), each split into heads Q, K, V:(B, H, T, D), C = H·D:

        S = Q·Kᵀ/√D (future keys j > i masked to -∞),  P = softmax_j(S),  Y = P·V

    and Y's heads joined back to (B, T, C).  With G = dJ/dY in heads, from the P kept
    by the forward pass: dJ/dV = Pᵀ·G, dJ/dP = G·Vᵀ, dJ/dS = P ⊙ (dJ/dP - Σ_j dJ/dP ⊙ P),
    dJ/dQ = dJ/dS·K/√D, dJ/dK = dJ/dSᵀ·Q/√D.
    """

    n_inputs = 3
    config_schema = {"n_heads": up_to(1, "max_node_io"), "causal": flag}

    def __init__(self, parents, n_heads: int, causal: bool = True, name: str | None = None):
        super().__init__(parents, name=name)
        self.n_heads, self.causal = int(n_heads), bool(causal)
        if self.n_heads < 1:
            raise GraphError(f"{self.describe()}: n_heads must be positive, got {n_heads}")
        self._masks: dict[int, np.ndarray] = {}

    def config(self) -> dict:
        return {"n_heads": self.n_heads, "causal": self.causal}

    def check_shapes(self) -> None:
        q, k, v = self.x
        if q.ndim != 3 or q.shape != k.shape or q.shape != v.shape:
            raise ShapeError(f"{self.describe()}: needs q, k, v of one shape (B, T, C), got "
                             f"{q.shape}, {k.shape}, {v.shape}")
        if q.shape[2] % self.n_heads:
            raise ShapeError(f"{self.describe()}: C = {q.shape[2]} features do not split into "
                             f"{self.n_heads} heads")

    def compute_output(self):
        self.check_shapes()
        q, k, v = (_split_heads(a, self.n_heads) for a in self.x)
        B, H, T, D = q.shape
        scores = q @ swap_last(k)
        scores *= 1 / math.sqrt(D)
        if self.causal:
            mask = self._masks.get(T)
            if mask is None:
                mask = self._masks[T] = causal_mask(T)
            np.copyto(scores, -np.inf, where=mask)
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        self.weights = scores
        y = np.empty((B, T, H * D), dtype=scores.dtype)
        np.matmul(scores, v, out=_split_heads(y, H))
        return [y]

    def compute_gradient(self):
        H = self.n_heads
        q, k, v = (_split_heads(a, H) for a in self.x)
        p = self.weights
        g = _split_heads(self.dJdy[0], H)
        dq = dk = dv = None
        if self.wants(2):
            dv = np.empty(self.x[2].shape, dtype=p.dtype)
            np.matmul(swap_last(p), g, out=_split_heads(dv, H))
        if self.wants(0) or self.wants(1):
            ds = g @ swap_last(v)
            # dS = P ⊙ (dP - Σ_j dP ⊙ P), with the 1/√D of both products folded in.
            ds -= np.einsum("...j,...j->...", ds, p)[..., None]
            ds *= p
            ds *= 1 / math.sqrt(q.shape[-1])
            if self.wants(0):
                dq = np.empty(self.x[0].shape, dtype=p.dtype)
                np.matmul(ds, k, out=_split_heads(dq, H))
            if self.wants(1):
                dk = np.empty(self.x[1].shape, dtype=p.dtype)
                np.matmul(swap_last(ds), q, out=_split_heads(dk, H))
        return [dq, dk, dv]


def composed_attention(q: Node, k: Node, v: Node, n_heads: int, width: int,
                       causal: bool = True, name: str = "attention") -> Node:
    """MultiHeadAttentionNode's function built from elementary nodes: q, k, v:(B, T, C)
    with C = ``width`` -> (B, T, C).  Slower (every step a node, copies between them);
    it is the reference the fused node is tested against.
    """
    if width % n_heads:
        raise GraphError(f"{name}: width {width} does not split into {n_heads} heads")
    heads = [TransposeNode([ReshapeNode([a], (0, 0, n_heads, -1), name=f"{name}/{s}_heads")],
                           (0, 2, 1, 3), name=f"{name}/{s}_transposed")
             for a, s in ((q, "q"), (k, "k"), (v, "v"))]
    scores = BatchMatMulNode(heads[:2], transpose_b=True, name=f"{name}/scores")
    scaled = ScalarMultiplicationNode([scores], 1 / math.sqrt(width // n_heads),
                                      name=f"{name}/scaled")
    if causal:
        scaled = CausalMaskNode([scaled], name=f"{name}/mask")
    weights = AxisSoftmaxNode([scaled], axis=-1, name=f"{name}/weights")
    mixed = BatchMatMulNode([weights, heads[2]], name=f"{name}/mixed")
    joined = TransposeNode([mixed], (0, 2, 1, 3), name=f"{name}/joined")
    return ReshapeNode([joined], (0, 0, -1), name=f"{name}/output")
