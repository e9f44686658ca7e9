"""Figures of recurrent nets: the PCA behind deep_states.png, and the plots' files."""

from __future__ import annotations

import numpy as np
from PIL import Image

from dagnet.viz.recurrent import plot_deep_states, principal_components


def test_principal_components_find_the_directions_of_largest_variance(rng):
    # Variance 9 along (1, 1, 0)/√2, 1 along (0, 0, 1), nearly none elsewhere.
    t = rng.standard_normal((500, 3)) * [3.0, 1.0, 0.01]
    axes = np.array([[1, 1, 0], [0, 0, 1], [1, -1, 0]]) / [[2 ** 0.5], [1], [2 ** 0.5]]
    points, ratio = principal_components(t @ axes + 5.0)
    assert ratio[0] > 0.85 and 0.05 < ratio[1] < 0.15
    np.testing.assert_allclose(np.abs(np.corrcoef(points[:, 0], t[:, 0])[0, 1]), 1, atol=1e-4)
    assert abs(points.mean(axis=0)).max() < 1e-9


def test_principal_components_of_a_single_unit_pad_the_second_axis(rng):
    points, ratio = principal_components(rng.standard_normal((20, 1)))
    assert points.shape == (20, 2) and not points[:, 1].any() and ratio[1] == 0


def test_deep_states_of_the_embedded_grammar_has_two_panels(tmp_path, rng):
    labels = ["start", "T:branch", "T:0", "T:1", "P:branch", "P:0", "P:inner E", "P:last"]
    path = plot_deep_states(tmp_path / "states.png", rng.standard_normal((8, 4)), labels,
                            "test", embedded=True)
    with Image.open(path) as wide, Image.open(plot_deep_states(
            tmp_path / "one.png", rng.standard_normal((8, 4)), list("01234501"), "test")) as one:
        assert wide.size[0] > 1.6 * one.size[0]
