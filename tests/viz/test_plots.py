"""The shared plotting helpers: PNG files that open, faithful to what they were given."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dagnet.viz.plots import plot_curves, plot_decision_boundary


def open_png(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()
        return image.size, np.asarray(image.convert("RGB"))


def test_plot_curves_writes_a_png_with_nan_and_nonpositive_values_left_out(tmp_path):
    x = np.arange(1, 11)
    series = {"falls": (x, 1.0 / x), "diverges": (x, [1, 2, 4, np.nan, np.inf] + [0] * 5)}
    path = plot_curves(tmp_path / "sub" / "curves.png", series, "epoch", "cost",
                       title="t", logy=True, logx=True, styles={"diverges": {"ls": "--"}})
    assert path == tmp_path / "sub" / "curves.png"
    (width, height), pixels = open_png(path)
    assert width > 400 and height > 300
    assert pixels.std() > 0  # not a blank canvas
    assert not list(tmp_path.joinpath("sub").glob("*.tmp"))  # written atomically


def test_plot_curves_refuses_bad_series(tmp_path):
    with pytest.raises(ValueError, match="at least one"):
        plot_curves(tmp_path / "a.png", {}, "x", "y")
    with pytest.raises(ValueError, match="'bad'"):
        plot_curves(tmp_path / "a.png", {"bad": ([1, 2, 3], [1, 2])}, "x", "y")
    assert not (tmp_path / "a.png").exists()


def test_the_same_figure_gives_the_same_bytes(tmp_path):
    series = {f"lr {k}": (np.arange(5), np.arange(5) * k) for k in range(6)}
    a = plot_curves(tmp_path / "a.png", series, "x", "y").read_bytes()
    b = plot_curves(tmp_path / "b.png", series, "x", "y").read_bytes()
    assert a == b


def test_decision_boundary_evaluates_the_grid_once_and_colours_by_output(tmp_path):
    calls = []

    def predict(points):
        calls.append(points.copy())
        return (points[:, 0] > 0).astype(float)[:, None]  # class 1 on the right half

    X = np.array([[-0.5, 0.0], [0.5, 0.0]])
    path = plot_decision_boundary(tmp_path / "b.png", predict, X, np.array([[0], [1]]),
                                  (-1.0, 1.0), title="half", resolution=50,
                                  truth=lambda p: p[:, 1] > 0)
    assert len(calls) == 1 and calls[0].shape == (2500, 2)
    assert calls[0].min() == -1 and calls[0].max() == 1
    _, pixels = open_png(path)
    # The output is drawn with a blue-to-red map: red on the right, blue on the left.
    rows = pixels[pixels.shape[0] // 3]
    reds = np.flatnonzero((rows[:, 0] > 150) & (rows[:, 2] < 100))
    blues = np.flatnonzero((rows[:, 2] > 80) & (rows[:, 0] < 60))
    assert reds.size and blues.size and blues.mean() < reds.mean()


def test_decision_boundary_accepts_a_constant_classifier_and_many_points(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (3000, 2))
    path = plot_decision_boundary(tmp_path / "c.png", lambda p: np.zeros(len(p)), X,
                                  (X[:, 0] > 0).astype(float), (-1, 1))
    open_png(path)


def test_decision_boundary_needs_two_dimensional_points(tmp_path):
    with pytest.raises(ValueError, match="2-D points"):
        plot_decision_boundary(tmp_path / "d.png", lambda p: p[:, 0], np.zeros((4, 3)),
                               np.zeros(4), (0, 1))
