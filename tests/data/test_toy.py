"""The toy data sets: XOR's truth table and the seeded disk."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dagnet.data import toy


def test_xor_is_the_truth_table():
    X, Y = toy.xor()
    assert X.shape == (4, 2) and Y.shape == (4, 1)
    for (a, b), y in zip(X, Y[:, 0]):
        assert y == (int(a) ^ int(b))
    assert toy.xor(np.float32)[0].dtype == np.float32


def test_disk_points_fill_the_square_and_labels_follow_the_radius():
    X, Y = toy.disk(2000, np.random.default_rng(0))
    assert X.shape == (2000, 2) and Y.shape == (2000, 1)
    assert X.min() >= -1 and X.max() <= 1
    assert X.min() < -0.99 and X.max() > 0.99  # uniform over the whole square
    inside = np.hypot(X[:, 0], X[:, 1]) < toy.DISK_RADIUS
    np.testing.assert_array_equal(Y[:, 0], inside.astype(float))


def test_disk_radius_balances_the_classes():
    assert math.pi * toy.DISK_RADIUS ** 2 == pytest.approx(2.0)  # half the square's area 4
    _, Y = toy.disk(200_000, np.random.default_rng(1))
    # Binomial standard deviation at n = 200,000: 0.0011.
    assert Y.mean() == pytest.approx(0.5, abs=0.005)


def test_disk_is_seeded_by_its_generator():
    a = toy.disk(50, np.random.default_rng(3))
    b = toy.disk(50, np.random.default_rng(3))
    c = toy.disk(50, np.random.default_rng(4))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_disk_dtype_and_radius_options():
    X, Y = toy.disk(4000, np.random.default_rng(0), dtype=np.float32, radius=0.5)
    assert X.dtype == np.float32 and Y.dtype == np.float32
    # A disk of area π/4 in a square of area 4: 19.6% of the points (sd 0.6%).
    assert Y.mean() == pytest.approx(math.pi / 16, abs=0.025)


@pytest.mark.parametrize("kwargs,message", [(dict(n=0), "at least one"),
                                            (dict(n=5, radius=0.0), "positive")])
def test_disk_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        toy.disk(rng=np.random.default_rng(0), **kwargs)
