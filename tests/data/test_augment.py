"""Random shifts: each image moved by its own (dy, dx), against a per-image loop reference."""

from __future__ import annotations

import numpy as np
import pytest

from dagnet.data.augment import random_shifts


def shifted_reference(x: np.ndarray, dy: int, dx: int, background: np.ndarray) -> np.ndarray:
    """One image (C, H, W), x = raw + background, moved by (dy, dx): the raw image moved
    (raw[i - dy, j - dx], 0 where that is outside) seen against the same background."""
    _, height, width = x.shape
    raw = x - background
    out = np.zeros_like(x)
    for i in range(height):
        for j in range(width):
            if 0 <= i - dy < height and 0 <= j - dx < width:
                out[:, i, j] = raw[:, i - dy, j - dx]
    return out + background


@pytest.mark.parametrize("background", [0.0, "per-pixel"])
def test_random_shifts_match_a_per_image_reference(background):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 2, 5, 7)).astype(np.float32)
    if background == "per-pixel":
        background = rng.standard_normal((1, 5, 7)).astype(np.float32)
    out = random_shifts(x, 2, np.random.default_rng(3), background)
    dy, dx = np.random.default_rng(3).integers(-2, 3, size=(2, 6))  # the draws it makes
    assert out.dtype == x.dtype and out.shape == x.shape
    for n in range(6):
        np.testing.assert_allclose(out[n], shifted_reference(x[n], dy[n], dx[n],
                                                             np.asarray(background)), atol=1e-6)


def test_random_shifts_cover_every_offset_and_are_seeded():
    x = np.zeros((400, 1, 5, 5))
    x[:, 0, 2, 2] = 1.0  # one bright centre pixel: where it lands tells the shift
    out = random_shifts(x, 1, np.random.default_rng(0))
    where = {tuple(np.argwhere(image[0])[0]) for image in out}
    assert where == {(i, j) for i in (1, 2, 3) for j in (1, 2, 3)}
    np.testing.assert_array_equal(out, random_shifts(x, 1, np.random.default_rng(0)))
    assert np.array_equal(random_shifts(x, 0, np.random.default_rng(0)), x)


@pytest.mark.parametrize("shape, max_shift", [((3, 5, 5), 1), ((1, 1, 5, 5), -1),
                                              ((1, 1, 5, 5), 1.5)])
def test_random_shifts_reject_bad_arguments(shape, max_shift):
    with pytest.raises(ValueError, match="images must be|max_shift"):
        random_shifts(np.zeros(shape), max_shift, np.random.default_rng(0))
