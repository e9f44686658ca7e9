"""Data augmentation for images (batch, channels, height, width): random shifts.

``random_shifts(images, max_shift, rng)`` moves every image by its own whole number
of pixels, dy and dx drawn uniformly from [-max_shift, max_shift], filling what
comes in from outside the frame with the background.  It is vectorised: one
padded copy of the batch and one gather, no Python loop over images.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def random_shifts(images: np.ndarray, max_shift: int, rng: np.random.Generator,
                  background: np.ndarray | float = 0.0) -> np.ndarray:
    """``images`` (B, C, H, W), each shifted by (dy, dx) ~ U{-max_shift..max_shift}².

    The images are read as x = raw + background, and the raw image is what moves:
    out[n, c, i, j] = raw[n, c, i - dy_n, j - dx_n] + background[c, i, j], with raw 0
    where that pixel is outside the frame.  ``background`` is the value of an empty
    (raw 0) pixel in the images' own units: a scalar (then the shift is plain), or an
    array broadcast against (C, H, W) (after per-pixel centring, x = raw/255 - mean/255,
    the empty pixel p reads -mean[p]/255).  The shifts come
    from ``rng``: the same generator state gives the same batch.  A new array.

    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> random_shifts(x, 0, np.random.default_rng(0)).shape
    (1, 1, 3, 3)
    """
    if images.ndim != 4:
        raise ValueError(f"images must be (batch, channels, height, width), got shape "
                         f"{images.shape}")
    if isinstance(max_shift, bool) or int(max_shift) != max_shift or max_shift < 0:
        raise ValueError(f"max_shift must be a non-negative integer, got {max_shift}")
    s = int(max_shift)
    n, _, height, width = images.shape
    if s == 0:
        return images.copy()
    background = np.broadcast_to(np.asarray(background, dtype=images.dtype),
                                 images.shape[1:])
    # Shift x - background (empty pixels 0), then add the background back: at pixel p an
    # empty pixel reads background[p], a shifted one x[p - d] - background[p - d] +
    # background[p], which is the original raw pixel seen against this pixel's offset.
    padded = np.zeros((n, images.shape[1], height + 2 * s, width + 2 * s), images.dtype)
    padded[:, :, s:s + height, s:s + width] = images - background
    windows = sliding_window_view(padded, (height, width), axis=(2, 3))  # (B, C, 2s+1, 2s+1, H, W)
    dy, dx = rng.integers(-s, s + 1, size=(2, n))
    # Window (s - dy, s - dx) starts dy rows above the image: out[i] = x[i - dy].
    out = windows[np.arange(n), :, s - dy, s - dx]
    out += background
    return out
