"""Helpers every command shares: argument types and seeded random streams."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from dagnet.argtypes import positive_int
from dagnet.rng import seed_streams


def test_positive_int_accepts_counts_and_refuses_the_rest():
    assert positive_int("3") == 3
    for text in ("0", "-2"):
        with pytest.raises(argparse.ArgumentTypeError, match="positive integer"):
            positive_int(text)
    with pytest.raises(argparse.ArgumentTypeError, match="must be an integer"):
        positive_int("two")


def test_seed_streams_are_reproducible_and_independent():
    a = seed_streams(7, ("init", "data"))
    b = seed_streams(7, ("init", "data"))
    assert list(a) == ["init", "data"]
    assert a["init"].random() == b["init"].random()
    first = seed_streams(7, ("init", "data"))
    # Drawing from one stream does not move the other.
    first["data"].random(1000)
    assert first["init"].random(3).tolist() == seed_streams(7, ("init",))["init"].random(3).tolist()
    assert not np.array_equal(seed_streams(7, ("x",))["x"].random(3),
                              seed_streams(8, ("x",))["x"].random(3))
