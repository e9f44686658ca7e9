"""Nodes that behave differently in training and in inference: batch normalisation
and dropout.

Both declare ``mode_dependent = True`` and read their ``training`` flag, which
``Graph.train()`` and ``Graph.eval()`` set on every such node of a graph (a new
node starts in training mode).  Features are axis 1: ``(B, F)`` rows, or
``(B, C, H, W)`` images normalised per channel over the batch and the pixels.
"""

from __future__ import annotations

import numpy as np

from dagnet.errors import GraphError, ShapeError
from dagnet.node import Node, register_node
from dagnet.schema import positive_number, rate, up_to


def _feature_axes(x: np.ndarray) -> tuple[int, ...]:
    """Every axis but the features' (axis 1): the ones a statistic averages over."""
    return (0,) + tuple(range(2, x.ndim))


def _per_feature(v: np.ndarray, ndim: int) -> np.ndarray:
    """A (C,) vector shaped (1, C, 1, …) to broadcast along axis 1 of an ndim array."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


@register_node
class BatchNormNode(Node):
    """y = γ·x̂ + β per feature (axis 1), PyTorch's batch_norm; inputs x, γ, β.

    Training: x̂ = (x − μ)/√(σ² + ε) with μ, σ² the mean and biased variance of each
    feature over its m = B·H·W values; the running estimates follow
    μ_r ← (1 − a)μ_r + aμ, σ²_r ← (1 − a)σ²_r + aσ²·m/(m − 1) (a = ``momentum``).
    Inference: x̂ = (x − μ_r)/√(σ²_r + ε), computed as y = x·s + t with s = γ/√(σ²_r + ε)
    and t = β − μ_r·s (two passes over x).  dJ/dβ = Σ G, dJ/dγ = Σ G ⊙ x̂ (sums over
    all axes but 1); training: dJ/dx = γ/√(σ² + ε) ⊙ (G − mean(G) − x̂ ⊙ mean(G ⊙ x̂)),
    inference: dJ/dx = G ⊙ γ/√(σ²_r + ε).
    x:(B, C) or (B, C, H, W), γ:(C,), β:(C,) -> x's shape.

    The running statistics (float64, ``running_mean`` and ``running_var``) are
    state, neither weights nor configuration: ``state_arrays()`` returns them for
    a model file, ``load_state_arrays()`` puts them back.
    """

    n_inputs = 3
    config_schema = {"num_features": up_to(1, "max_layer_size"), "momentum": rate,
                     "eps": positive_number}

    mode_dependent = True

    def __init__(self, parents, num_features: int, momentum: float = 0.1, eps: float = 1e-5,
                 name: str | None = None):
        super().__init__(parents, name=name)
        if len(self.parents) != 3:
            raise GraphError(f"{self.describe()}: needs inputs (x, gamma, beta), got "
                             f"{len(self.parents)}")
        if int(num_features) < 1 or not 0 <= momentum <= 1 or not eps > 0:
            raise GraphError(f"{self.describe()}: needs num_features >= 1, 0 <= momentum <= 1 "
                             f"and eps > 0, got {num_features}, {momentum}, {eps}")
        self.num_features = int(num_features)
        self.momentum, self.eps = float(momentum), float(eps)
        self.training = True
        self.running_mean = np.zeros(self.num_features)
        self.running_var = np.ones(self.num_features)

    def config(self) -> dict:
        return {"num_features": self.num_features, "momentum": self.momentum, "eps": self.eps}

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The running statistics, by name: what a model file must keep besides weights."""
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Set the running statistics from ``state_arrays()``'s names; ShapeError if one is
        missing or not of shape (num_features,)."""
        for key in ("running_mean", "running_var"):
            value = arrays.get(key)
            if value is None or np.shape(value) != (self.num_features,):
                got = "missing" if value is None else f"shape {np.shape(value)}"
                raise ShapeError(f"{self.describe()}: state {key!r} must have shape "
                                 f"({self.num_features},), got {got}")
            setattr(self, key, np.array(value, dtype=np.float64))

    def _check(self) -> None:
        x, gamma, beta = self.x
        if x.ndim < 2 or x.shape[1] != self.num_features:
            raise ShapeError(f"{self.describe()}: expects {self.num_features} features on axis "
                             f"1 of (B, C) or (B, C, H, W), got shape {x.shape}")
        if gamma.shape != (self.num_features,) or beta.shape != (self.num_features,):
            raise ShapeError(f"{self.describe()}: gamma and beta must have shape "
                             f"({self.num_features},), got {gamma.shape} and {beta.shape}")
        if self.training and x.size == x.shape[1]:
            raise ShapeError(f"{self.describe()}: training needs more than one value per "
                             f"feature, got shape {x.shape}")

    def compute_output(self):
        self._check()
        x, gamma, beta = self.x
        if not self.training:
            return [self._inference_output(x, gamma, beta)]
        axes = _feature_axes(x)
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        var = np.mean(np.square(centered), axis=axes, keepdims=True)
        self._update_running(mean, var, x.size // x.shape[1])
        self.inv_std = 1 / np.sqrt(var + self.eps)
        centered *= self.inv_std
        self.x_hat = centered
        y = self.x_hat * _per_feature(gamma, x.ndim)
        y += _per_feature(beta, x.ndim)
        return [y]

    def _inference_output(self, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray):
        """y = x·s + t with s = γ/√(σ²_r + ε), t = β − μ_r·s: the running statistics folded
        into one scale and shift per feature, two passes over x instead of four (x̂ is
        only formed if a gradient is asked for)."""
        self.inv_std = _per_feature(1 / np.sqrt(self.running_var + self.eps), x.ndim).astype(
            np.result_type(x, gamma))
        self.x_hat = None
        scale = gamma * self.inv_std.ravel()
        shift = beta - self.running_mean.astype(scale.dtype) * scale
        y = x * _per_feature(scale, x.ndim)
        y += _per_feature(shift, x.ndim)
        return y

    def _update_running(self, mean: np.ndarray, var: np.ndarray, m: int) -> None:
        a = self.momentum
        self.running_mean = (1 - a) * self.running_mean + a * mean.ravel()
        self.running_var = (1 - a) * self.running_var + (a * m / (m - 1)) * var.ravel()

    def compute_gradient(self):
        x, gamma, _ = self.x
        g, x_hat = self.dJdy[0], self.x_hat
        if x_hat is None:  # inference: x̂ was folded away in the forward pass
            x_hat = (x - _per_feature(self.running_mean.astype(x.dtype), x.ndim)) * self.inv_std
        axes = _feature_axes(x)
        dbeta = g.sum(axis=axes)
        dgamma = np.sum(g * x_hat, axis=axes)
        dx = None
        if self.wants(0):
            scale = _per_feature(gamma, x.ndim) * self.inv_std
            if self.training:
                m = x.size // x.shape[1]
                dx = x_hat * _per_feature(-dgamma / m, x.ndim)
                dx += g
                dx -= _per_feature(dbeta / m, x.ndim)
                dx *= scale
            else:
                dx = g * scale
        return [dx, dgamma if self.wants(1) else None, dbeta if self.wants(2) else None]


@register_node
class DropoutNode(Node):
    """Inverted dropout.  Training: y = x ⊙ M, M = [U ≥ p]/(1 − p), U uniform on [0, 1)
    of x's shape, drawn afresh by every forward pass; inference: y = x.
    dJ/dx = dJ/dy ⊙ M in training, dJ/dy in inference.  Any shape -> the same shape.

    The mask comes from ``rng``, an ``np.random.Generator`` the node keeps (default:
    a fresh unseeded one; a node loaded from a model file gets one too): M =
    (rng.random(x.shape, dtype=x.dtype) >= p)/(1 − p).  ``forward`` draws the mask
    and ``compute_output`` applies the current one, so within one forward pass the
    node is a deterministic function of x (what gradient checks need).
    """

    n_inputs = 1
    config_schema = {"rate": rate}

    mode_dependent = True

    def __init__(self, parents, rate: float = 0.5, rng: np.random.Generator | None = None,
                 name: str | None = None):
        super().__init__(parents, name=name)
        if not 0 <= rate < 1:
            raise GraphError(f"{self.describe()}: rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.rng = np.random.default_rng() if rng is None else rng
        self.training = True
        self.mask: np.ndarray | None = None

    def config(self) -> dict:
        return {"rate": self.rate}

    def forward(self) -> None:
        self.mask = None  # a new forward pass, a new mask
        super().forward()

    def compute_output(self):
        x = self.x[0]
        if not self.training or self.rate == 0:
            self.mask = None
            return [x]
        if self.mask is None or self.mask.shape != x.shape or self.mask.dtype != x.dtype:
            dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
            self.mask = (self.rng.random(x.shape, dtype=dtype) >= self.rate).astype(dtype)
            self.mask *= 1 / (1 - self.rate)
        return [x * self.mask]

    def compute_gradient(self):
        g = self.dJdy[0]
        return [g if self.mask is None else g * self.mask]
