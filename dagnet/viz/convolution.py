"""Figures of a convolutional net: its first layer's kernels and what each convolution
layer sees of a few digits.

``convolution_layers(graph)`` finds, for every Conv2DNode, the node whose output is that
layer's activation (after its batch normalisation and non-linearity, when the
convolution feeds them and only them); ``feature_maps`` runs a few images through the
graph in inference mode and returns those activations; ``plot_filters`` and
``plot_feature_maps`` draw them.  Each plot writes one PNG atomically and returns its
path.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib
import numpy as np

from dagnet.graph import Graph
from dagnet.node import Node
from dagnet.nodes import BatchNormNode, Conv2DNode, ReluNode, SigmoidNode, TanhNode
from dagnet.viz.mnist import mosaic
from dagnet.viz.plots import new_figure, save_figure

# What a convolution's activation goes through before the next layer reads it.
_LAYER_PARTS = (BatchNormNode, ReluNode, TanhNode, SigmoidNode)


def convolution_layers(graph: Graph) -> list[tuple[Conv2DNode, Node]]:
    """(convolution, the node holding its activation) for each Conv2DNode of ``graph``,
    in the order the graph computes them."""
    found = []
    for node in graph.nodes:
        if not isinstance(node, Conv2DNode):
            continue
        end = node
        while len(end.children[0]) == 1 and isinstance(end.children[0][0][0], _LAYER_PARTS):
            end = end.children[0][0][0]
        found.append((node, end))
    return found


def first_kernels(graph: Graph) -> np.ndarray:
    """The weights (O, C, kh, kw) of the graph's first convolution; ValueError without
    one."""
    layers = convolution_layers(graph)
    if not layers:
        raise ValueError("the graph has no convolution (Conv2DNode)")
    return layers[0][0].parents[1][0].w


def feature_maps(graph: Graph, X: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """(layer name, activations (N, channels, H, W)) of every convolution layer for the
    images X (N, C, H, W), computed in inference mode."""
    layers = convolution_layers(graph)
    with graph.inference():
        graph.propagate([X])
        return [(conv.name.removesuffix("/conv") if conv.name else f"conv{k}",
                 np.array(end.y[0]))
                for k, (conv, end) in enumerate(layers, start=1)]


def plot_filters(path: str | os.PathLike, kernels: np.ndarray, title: str = "") -> Path:
    """Each kernel of a first convolution layer (O, C, kh, kw) as a small image, red where
    a lit pixel raises the output, blue where it lowers it, each on its own symmetric
    scale; the C input channels of a kernel side by side."""
    out_channels, in_channels, kh, kw = kernels.shape
    tiles = kernels.transpose(0, 2, 1, 3).reshape(out_channels, kh, in_channels * kw)
    tiles = tiles / np.maximum(np.abs(tiles).max(axis=(1, 2), keepdims=True), 1e-30)
    columns = min(out_channels, 8)
    image = mosaic(tiles, columns, gap=(1, 1))
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="white")
    rows = math.ceil(out_channels / columns)
    fig = new_figure((1.0 + 1.1 * columns * in_channels, 1.0 + 1.1 * rows))
    ax = fig.subplots()
    ax.imshow(image, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title or f"the {out_channels} kernels ({kh}x{kw}) of the first "
                          "convolution", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_feature_maps(path: str | os.PathLike, images: np.ndarray,
                      maps: list[tuple[str, np.ndarray]], title: str = "") -> Path:
    """One row per digit: the image (H, W), then each layer's activations, one tile per
    channel (each channel on its own scale, dark = 0 after a ReLU)."""
    n = len(images)
    fig = new_figure((2.0 + 2.4 * len(maps), 0.6 + 2.2 * n))
    axes = fig.subplots(n, 1 + len(maps), squeeze=False)
    for row in range(n):
        axes[row, 0].imshow(images[row], cmap="gray", interpolation="nearest")
        for col, (name, values) in enumerate(maps, start=1):
            channels = values[row]
            low = channels.min(axis=(1, 2), keepdims=True)
            span = np.maximum(channels.max(axis=(1, 2), keepdims=True) - low, 1e-30)
            columns = math.ceil(math.sqrt(len(channels)))
            axes[row, col].imshow(mosaic((channels - low) / span, columns, gap=(1, 1)),
                                  cmap=matplotlib.colormaps["viridis"].with_extremes(
                                      bad="white"), vmin=0, vmax=1, interpolation="nearest")
            if row == 0:
                axes[row, col].set_title(f"{name}: {channels.shape[0]}@"
                                         f"{channels.shape[1]}x{channels.shape[2]}",
                                         fontsize=9)
    axes[0, 0].set_title("input", fontsize=9)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle(title or "activations of each convolution layer", fontsize=10)
    # Fixed margins: tight_layout would measure every one of the axes, for nothing.
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.5 / (0.6 + 2.2 * n),
                        wspace=0.08, hspace=0.08)
    return save_figure(fig, path)
