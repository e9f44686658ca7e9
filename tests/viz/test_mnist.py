"""The MNIST figures: what they compute, and that each is a real PNG."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dagnet.viz import mnist as viz


def png_size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_confusion_matrix_counts_true_rows_predicted_columns():
    labels = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 0, 2])
    matrix = viz.confusion_matrix(labels, predicted, n_classes=3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


def test_principal_components_match_the_covariance_eigenvectors(rng):
    features = rng.standard_normal((500, 6)) @ rng.standard_normal((6, 6))
    projected, explained = viz.principal_components(features, 3)
    eigenvalues = np.linalg.eigvalsh(np.cov(features, rowvar=False))[::-1]
    np.testing.assert_allclose(projected.var(axis=0, ddof=1), eigenvalues[:3], rtol=1e-9)
    np.testing.assert_allclose(explained, eigenvalues[:3] / eigenvalues.sum(), rtol=1e-9)
    covariance = np.cov(projected, rowvar=False)
    np.testing.assert_allclose(covariance - np.diag(np.diag(covariance)), 0, atol=1e-9)


def test_mosaic_places_tiles_row_by_row():
    tiles = np.arange(3 * 2 * 2, dtype=float).reshape(3, 2, 2)
    image = viz.mosaic(tiles, columns=2, gap=(1, 1), fill=-1)
    assert image.shape == (5, 5)
    np.testing.assert_array_equal(image[0:2, 3:5], tiles[1])
    np.testing.assert_array_equal(image[3:5, 0:2], tiles[2])
    assert (image[2] == -1).all() and (image[3:5, 3:5] == -1).all()


def test_worst_errors_are_the_most_confident_mistakes():
    labels = np.array([1, 2, 3, 4, 5])
    predicted = np.array([1, 0, 0, 4, 0])
    confidence = np.array([0.99, 0.6, 0.9, 0.95, 0.7])
    assert list(viz.worst_errors(labels, predicted, confidence, 2)) == [2, 4]
    assert list(viz.worst_errors(labels, labels, confidence, 5)) == []


@pytest.mark.parametrize("units", [10, 128, 300])
def test_weights_grid_grows_with_the_neurons(tmp_path, rng, units):
    path = viz.plot_weights(tmp_path / "w.png", rng.standard_normal((784, units)))
    width, height = png_size(path)
    assert width > 600
    assert (height > 400) == (units > 10)


def test_deep_features_2d_and_3d(tmp_path, rng):
    features = rng.standard_normal((200, 64))
    labels = rng.integers(0, 10, 200)
    flat = png_size(viz.plot_deep_features(tmp_path / "a.png", features, labels))
    both = png_size(viz.plot_deep_features(tmp_path / "b.png", features, labels,
                                           three_d=True))
    assert both[0] > 1.5 * flat[0]


def test_other_figures_are_pngs(tmp_path, rng):
    history = [{"epoch": e, "loss": 1 / e, "train_accuracy": 0.9 + e / 100,
                "test_accuracy": 0.88 + e / 100} for e in (1, 2, 3)]
    png_size(viz.plot_learning_curves(tmp_path / "lc.png", history))
    matrix = rng.integers(0, 50, (10, 10))
    png_size(viz.plot_confusion_matrix(tmp_path / "cm.png", matrix))
    images = rng.integers(0, 256, (30, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, 30)
    predicted = (labels + (np.arange(30) % 3 == 0)) % 10
    png_size(viz.plot_errors(tmp_path / "e.png", images, labels, predicted, rng.random(30)))
    png_size(viz.plot_errors(tmp_path / "none.png", images, labels, labels, rng.random(30)))
