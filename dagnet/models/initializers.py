"""Weight initialization, seeded through an explicit ``np.random.Generator``.

* ``glorot_uniform`` (Glorot & Bengio, 2010): U(-a, a), a = √(6 / (fan_in + fan_out)),
  which keeps the variance of tanh and sigmoid layers' activations and gradients
  roughly constant from layer to layer.
* ``he_normal`` (He et al., 2015): N(0, 2 / fan_in), the same idea for ReLU, which
  zeroes half of its inputs.
Biases start at zero.
"""

from __future__ import annotations

import numpy as np


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int,
                   dtype=np.float64) -> np.ndarray:
    """A (fan_in, fan_out) matrix drawn from U(-a, a), a = √(6 / (fan_in + fan_out))."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype)


def he_normal(rng: np.random.Generator, fan_in: int, fan_out: int,
              dtype=np.float64) -> np.ndarray:
    """A (fan_in, fan_out) matrix drawn from N(0, 2 / fan_in)."""
    return (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(dtype)


INITIALIZERS = {"glorot_uniform": glorot_uniform, "he_normal": he_normal}
