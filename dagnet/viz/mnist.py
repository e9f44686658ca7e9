"""Figures of an MNIST run: learning curves, first-layer weights, deep features,
the confusion matrix, misclassified digits, and the inputs of a prediction.

Each function writes one PNG (matplotlib's Agg canvas, no pyplot) atomically and returns
its path.
Images are uint8 ``(N, 28, 28)``, light digits on a dark background as in MNIST.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import LogNorm

from dagnet.viz.plots import new_figure, save_figure

DIGIT_COLOURS = "tab10"


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int = 10
                     ) -> np.ndarray:
    """(n_classes, n_classes) counts: row = true class, column = predicted class."""
    return np.bincount(np.asarray(labels, np.int64) * n_classes + np.asarray(predicted),
                       minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def principal_components(features: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The projection of the rows of ``features`` on their first ``k`` principal axes,
    and the fraction of the variance each axis explains."""
    centred = features - features.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    k = min(k, axes.shape[0])
    total = float((singular ** 2).sum()) or 1.0
    return centred @ axes[:k].T, (singular[:k] ** 2) / total


def _grid(n: int, columns: int | None = None) -> tuple[int, int]:
    columns = columns or min(n, max(1, math.ceil(math.sqrt(n * 2))))
    return math.ceil(n / columns), columns


def plot_learning_curves(path: str | os.PathLike, history: Sequence[dict],
                         title: str = "", train_label: str = "train") -> Path:
    """Train and test accuracy per epoch (left) and the training cost (right);
    ``train_label`` names the training accuracy's curve (say, on which images)."""
    epochs = [h["epoch"] for h in history]
    fig = new_figure((10, 4))
    left, right = fig.subplots(1, 2)
    for key, label in (("train_accuracy", train_label), ("test_accuracy", "test")):
        values = [100 * h[key] for h in history]
        left.plot(epochs, values, "o-", label=f"{label} ({values[-1]:.2f}%)")
    left.set_xlabel("epoch")
    left.set_ylabel("accuracy (%)")
    left.set_title("accuracy")
    left.legend()
    right.plot(epochs, [h["loss"] for h in history], "o-", color="tab:red")
    right.set_xlabel("epoch")
    right.set_ylabel("mean cost per image")
    right.set_title("training cost")
    right.set_yscale("log")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def mosaic(tiles: np.ndarray, columns: int, gap: tuple[int, int] = (2, 2),
           fill: float = np.nan) -> np.ndarray:
    """The tiles ``(n, h, w)`` laid out ``columns`` to a row, ``gap`` (rows, columns) of
    ``fill`` between them: one image, drawn far faster than one axes per tile."""
    n, h, w = tiles.shape
    rows = math.ceil(n / columns)
    gy, gx = gap
    out = np.full((rows * (h + gy) - gy, columns * (w + gx) - gx), fill, dtype=np.float64)
    for k in range(n):
        r, c = divmod(k, columns)
        out[r * (h + gy):r * (h + gy) + h, c * (w + gx):c * (w + gx) + w] = tiles[k]
    return out


def plot_weights(path: str | os.PathLike, pixel_weights: np.ndarray, title: str = "",
                 max_neurons: int = 256) -> Path:
    """Each first-layer neuron's weights (a column of ``pixel_weights`` (784, units)) as
    a 28x28 image: red where a lit pixel raises the neuron's input, blue where it
    lowers it, each neuron on its own symmetric scale."""
    units = pixel_weights.shape[1]
    shown = min(units, max_neurons)
    tiles = pixel_weights[:, :shown].T.reshape(shown, 28, 28)
    tiles = tiles / np.maximum(np.abs(tiles).max(axis=(1, 2), keepdims=True), 1e-30)
    columns = shown if shown <= 10 else _grid(shown)[1]
    image = mosaic(tiles, columns, gap=(10 if shown <= 10 else 3, 3))
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="white")
    width = min(14.0, columns * (1.0 if shown <= 10 else 0.45))
    fig = new_figure((width + 0.5, 0.9 + width * image.shape[0] / image.shape[1]))
    ax = fig.subplots()
    ax.imshow(image, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    if shown <= 10:
        for k in range(shown):
            ax.text(k * 31 + 14, -2, str(k), ha="center", va="bottom", fontsize=9)
    ax.set_axis_off()
    note = f" (first {shown} of {units})" if shown < units else ""
    ax.set_title((title or "first-layer weights") + note, fontsize=10,
                 pad=22 if shown <= 10 else 8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_deep_features(path: str | os.PathLike, features: np.ndarray, labels: np.ndarray,
                       title: str = "", three_d: bool = False) -> Path:
    """The rows of ``features`` projected on their first principal components, one
    colour per digit: 2-D, and with ``three_d`` a 3-D view beside it."""
    projected, explained = principal_components(features, 3 if three_d else 2)
    cmap = matplotlib.colormaps[DIGIT_COLOURS]
    fig = new_figure((13 if three_d else 7, 6))
    ax = fig.add_subplot(1, 2 if three_d else 1, 1)
    for digit in range(10):
        chosen = labels == digit
        ax.scatter(projected[chosen, 0], projected[chosen, 1], s=8, color=cmap(digit),
                   label=str(digit), alpha=0.8)
    ax.set_xlabel(f"PC 1 ({100 * explained[0]:.0f}% of the variance)")
    ax.set_ylabel(f"PC 2 ({100 * explained[1]:.0f}%)")
    ax.legend(title="digit", markerscale=2, fontsize="small", loc="best")
    if three_d:
        ax3 = fig.add_subplot(1, 2, 2, projection="3d")
        for digit in range(10):
            chosen = labels == digit
            ax3.scatter(projected[chosen, 0], projected[chosen, 1], projected[chosen, 2],
                        s=6, color=cmap(digit), alpha=0.8)
        ax3.set_xlabel("PC 1")
        ax3.set_ylabel("PC 2")
        ax3.set_zlabel(f"PC 3 ({100 * explained[2]:.0f}%)")
    fig.suptitle(title or "deep features")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_confusion_matrix(path: str | os.PathLike, matrix: np.ndarray, title: str = "") -> Path:
    """Counts of (true, predicted) pairs, the diagonal being the correct ones; the
    colours show each true class's row as fractions, on a log scale so errors show."""
    matrix = np.asarray(matrix)
    n = len(matrix)
    fractions = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig = new_figure((7, 6))
    ax = fig.subplots()
    shown = np.where(fractions > 0, fractions, np.nan)
    image = ax.imshow(shown, cmap="viridis", norm=LogNorm(vmin=1e-4, vmax=1))
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                        color="black" if fractions[i, j] > 0.1 else "white")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(title or f"confusion matrix (accuracy {100 * accuracy:.2f}%)")
    fig.colorbar(image, ax=ax, label="fraction of the true digit's images")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_digits(path: str | os.PathLike, images: np.ndarray, captions: Sequence[str],
                title: str = "", columns: int = 10) -> Path:
    """A grid of 28x28 digits with a caption above each."""
    n = len(images)
    columns = max(1, min(columns, n))
    rows = max(1, math.ceil(n / columns))
    image = (mosaic(np.asarray(images, np.float64), columns, gap=(12, 4), fill=255)
             if n else np.full((28, 28), 255.0))
    image = np.vstack([np.full((12, image.shape[1]), 255.0), image])
    fig = new_figure((0.4 + columns * 1.15, 0.6 + rows * 1.4))
    ax = fig.subplots()
    ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    for k, caption in enumerate(captions[:n]):
        r, c = divmod(k, columns)
        ax.text(c * 32 + 14, r * 40 + 10.5, caption, ha="center", va="bottom", fontsize=7)
    if n == 0:
        ax.text(14, 26, "nothing to show", ha="center", va="center")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def worst_errors(labels: np.ndarray, predicted: np.ndarray, confidence: np.ndarray,
                 k: int) -> np.ndarray:
    """Indices of at most ``k`` misclassified examples, the most confident mistakes first."""
    wrong = np.flatnonzero(predicted != labels)
    return wrong[np.argsort(-confidence[wrong], kind="stable")][:k]


def plot_errors(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray,
                predicted: np.ndarray, confidence: np.ndarray, max_shown: int = 60) -> Path:
    """Misclassified digits, the most confident mistakes first, each captioned
    ``predicted (true)`` with the predicted probability."""
    order = worst_errors(labels, predicted, confidence, max_shown)
    captions = [f"{predicted[i]} (true {labels[i]}) {100 * confidence[i]:.0f}%" for i in order]
    n_wrong = int(np.count_nonzero(predicted != labels))
    title = (f"{n_wrong} misclassified of {len(labels)} test digits; the "
             f"{len(order)} most confident mistakes: predicted (true) probability")
    return plot_digits(path, images[order], captions, title)


def _penultimate(model):
    """The activation node feeding the last layer, or None when there is one layer."""
    last_linear = model.output_nodes[0][0].parents[0][0]
    source = last_linear.parents[0][0]
    return None if source in model.input_nodes else source


def forward_with_features(model, X: np.ndarray, chunk: int = 10000
                          ) -> tuple[np.ndarray, np.ndarray]:
    """The output probabilities and the penultimate layer's activations (the input
    itself for a one-layer net, as rows) for the examples of X, in inference mode,
    ``chunk`` examples at a time."""
    hidden = _penultimate(model)
    outputs, features = [], []
    with model.inference():
        for i in range(0, len(X), chunk):
            outputs.append(model.propagate([X[i:i + chunk]])[0])
            x = hidden.y[0] if hidden is not None else X[i:i + chunk]
            features.append(x.reshape(len(x), -1))
    return np.concatenate(outputs), np.concatenate(features)


def draw_mnist_run(folder: Path, model, preprocessing, history: Sequence[dict],
                   X_test: np.ndarray, test_images: np.ndarray, test_labels: np.ndarray,
                   title: str, three_d: bool = False, chunk: int = 10000,
                   train_label: str = "train") -> dict:
    """Every figure of a ``dagnet mnist`` run into ``folder`` (weights.png for a net whose
    first layer, ``layer1/W``, reads the pixels); returns ``figures`` (the file names)
    and the test ``confusion_matrix`` for the run record.  The test images go through
    the net ``chunk`` at a time."""
    probabilities, features = forward_with_features(model, X_test, chunk)
    predicted = probabilities.argmax(axis=1)
    first = next((node for node in model.parameter_nodes if node.name == "layer1/W"), None)
    matrix = confusion_matrix(test_labels, predicted)
    paths = [plot_learning_curves(folder / "learning_curves.png", history, title, train_label)]
    if first is not None:
        paths.append(plot_weights(folder / "weights.png", preprocessing.pixel_weights(first.w),
                                  "first-layer weights on the pixels"))
    n = min(1000, len(features))
    hidden = _penultimate(model)
    where = (f"penultimate layer ({features.shape[1]} units)" if hidden is not None
             else "the input (a one-layer net has no hidden layer)")
    paths.append(plot_deep_features(folder / "deep_features.png", features[:n],
                                    test_labels[:n], f"PCA of the {where}, {n} test images",
                                    three_d=three_d))
    paths.append(plot_confusion_matrix(folder / "confusion_matrix.png", matrix))
    paths.append(plot_errors(folder / "errors.png", test_images, test_labels, predicted,
                             probabilities.max(axis=1)))
    return {"figures": [path.name for path in paths], "confusion_matrix": matrix.tolist()}
