"""The tutorial's two toy problems in the plane: XOR and the disk.

Both return ``(X, Y)`` in the row convention: ``X:(N, 2)`` points, ``Y:(N, 1)``
labels in {0, 1}.

* XOR: the four corners of the unit square, labelled x₁ XOR x₂.  Not linearly
  separable, so it needs a hidden layer.
* The disk: N points uniform in the square [-1, 1]², labelled 1 inside the disk
  centred at the origin of radius r = √(2/π).  That radius makes the disk's area
  πr² = 2, half the square's area 4, so the two classes are balanced on average.
"""

from __future__ import annotations

import math

import numpy as np

XOR_BOUNDS = (-0.5, 1.5)  # the square drawn around the four XOR points
DISK_BOUNDS = (-1.0, 1.0)  # the square the disk data lives in
DISK_RADIUS = math.sqrt(2 / math.pi)


def xor(dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """The XOR truth table: X:(4, 2) corners of the unit square, Y:(4, 1) = x₁ XOR x₂."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=dtype)
    Y = np.array([[0], [1], [1], [0]], dtype=dtype)
    return X, Y


def disk(n: int, rng: np.random.Generator, dtype=np.float64,
         radius: float = DISK_RADIUS) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniform in [-1, 1]², X:(n, 2), and Y:(n, 1) = 1 inside the disk of ``radius``.

    The default radius √(2/π) gives balanced classes (the disk covers half the square).
    """
    if n < 1:
        raise ValueError(f"the disk data set needs at least one point, got n={n}")
    if not 0 < radius:
        raise ValueError(f"the disk radius must be positive, got {radius}")
    low, high = DISK_BOUNDS
    X = rng.uniform(low, high, size=(n, 2))
    Y = inside_disk(X, radius)[:, None]
    return X.astype(dtype, copy=False), Y.astype(dtype)


def inside_disk(X: np.ndarray, radius: float = DISK_RADIUS) -> np.ndarray:
    """Whether each point of X:(N, 2) lies inside the centred disk of ``radius``: (N,) bools."""
    return np.einsum("ij,ij->i", X, X) < radius * radius
