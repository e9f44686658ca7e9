"""Figures of recurrent nets on the Reber grammars, as PNG files (matplotlib's Agg
canvas, no pyplot).

``plot_learning_curve``: accuracy on fresh strings against strings seen.
``plot_deep_states``: the hidden states projected on their two principal axes,
coloured by the automaton's state (as in the tutorial): a net that has learnt the
grammar gathers the positions of each state together.
``plot_compare``: the cells of ``dagnet reber-compare`` side by side.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

from dagnet.viz.plots import new_figure, save_figure

CELL_COLOURS = {"rnn": "tab:red", "gru": "tab:green", "lstm": "tab:blue"}


def principal_components(rows: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Rows projected on their ``k`` principal axes (N, k), and the variance ratio of each."""
    centred = np.asarray(rows, dtype=np.float64) - np.mean(rows, axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    variance = singular ** 2
    ratio = variance[:k] / max(variance.sum(), 1e-300)
    projected = centred @ axes[:k].T
    if projected.shape[1] < k:  # fewer hidden units than axes asked for
        projected = np.pad(projected, ((0, 0), (0, k - projected.shape[1])))
        ratio = np.pad(ratio, (0, k - len(ratio)))
    return projected, ratio


def plot_learning_curve(path: str | os.PathLike, history: Sequence[dict], title: str,
                        embedded: bool = False) -> Path:
    """Accuracy on the test strings (and the training cost per string) vs strings seen."""
    fig = new_figure((11, 4))
    left, right = fig.subplots(1, 2)
    strings = [h["strings"] for h in history]
    left.plot(strings, [h["accuracy"] for h in history], marker=".", label="strings correct")
    if embedded:
        left.plot(strings, [h["penultimate_accuracy"] for h in history], marker=".",
                  label="second-to-last symbol correct")
    left.axhline(0.99, color="grey", linestyle=":", linewidth=1, label="99%")
    left.set(xlabel="training strings seen", ylabel="accuracy on fresh strings",
             ylim=(-0.02, 1.02))
    left.legend(loc="lower right")
    with_cost = [h for h in history if "cost" in h]
    right.plot([h["strings"] for h in with_cost], [h["cost"] for h in with_cost], marker=".")
    right.set(xlabel="training strings seen", ylabel="training cost per string (nats)")
    if with_cost and min(h["cost"] for h in with_cost) > 0:
        right.set_yscale("log")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_deep_states(path: str | os.PathLike, states: np.ndarray, labels: Sequence[str],
                     title: str, embedded: bool = False) -> Path:
    """Hidden states (N, H) on their two principal axes, coloured by automaton state.

    ``labels`` names the state of each row ('0'…'5', or 'T:3', 'P:branch'… for the
    embedded grammar).  For the embedded grammar a second panel colours the same
    points by the branch, T or P, that the net must remember.
    """
    points, ratio = principal_components(states)
    labels = list(labels)
    inner = [label.split(":")[-1] for label in labels]
    panels = [("automaton state", inner)]
    if embedded:
        panels.append(("branch to remember", [label.split(":")[0] if ":" in label else "none yet"
                                              for label in labels]))
    fig = new_figure((6.5 * len(panels), 5.5))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (what, names) in zip(axes[0], panels):
        kinds = sorted(set(names), key=lambda s: (not s.isdigit(), s))
        cmap = matplotlib.colormaps["tab10" if len(kinds) <= 10 else "tab20"]
        names = np.asarray(names)
        for k, kind in enumerate(kinds):
            mask = names == kind
            ax.scatter(points[mask, 0], points[mask, 1], s=9, alpha=0.6, color=cmap(k),
                       label=kind)
        ax.set(xlabel=f"principal axis 1 ({ratio[0]:.0%} of variance)",
               ylabel=f"principal axis 2 ({ratio[1]:.0%} of variance)",
               title=f"coloured by {what}")
        ax.legend(fontsize=8, markerscale=2, loc="best")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_compare(path: str | os.PathLike, cells: dict[str, dict], title: str) -> Path:
    """Per cell: accuracy vs strings seen (one thin line per seed, the mean thick), and
    the final accuracies, overall and on the second-to-last symbol, seed by seed."""
    fig = new_figure((12, 4.5))
    left, right = fig.subplots(1, 2)
    for cell, result in cells.items():
        colour = CELL_COLOURS.get(cell)
        curves = [[h["accuracy"] for h in r["history"]] for r in result["runs"]]
        strings = [h["strings"] for h in result["runs"][0]["history"]]
        for curve in curves:
            left.plot(strings[:len(curve)], curve, color=colour, alpha=0.25, linewidth=1)
        steps = min(len(c) for c in curves)
        mean = np.mean([c[:steps] for c in curves], axis=0)
        left.plot(strings[:steps], mean, color=colour, linewidth=2.5,
                  label=f"{cell.upper()} ({result['hidden']} units, "
                        f"{result['parameters']} weights)")
    left.axhline(0.99, color="grey", linestyle=":", linewidth=1)
    left.set(xlabel="training strings seen", ylabel="accuracy on fresh strings",
             ylim=(-0.02, 1.02), title="learning curves (thin: seeds, thick: mean)")
    left.legend(loc="lower right", fontsize=8)
    left.grid(alpha=0.3)
    names = list(cells)
    width = 0.38
    for k, cell in enumerate(names):
        runs = cells[cell]["runs"]
        for offset, key, marker in ((-width / 2, "accuracy", "o"),
                                    (width / 2, "penultimate_accuracy", "s")):
            values = [r[key] for r in runs]
            right.scatter(np.full(len(values), k + offset), values, marker=marker,
                          color=CELL_COLOURS.get(cell), alpha=0.7, zorder=3)
            right.bar(k + offset, np.mean(values), width=width * 0.9, alpha=0.25,
                      color=CELL_COLOURS.get(cell))
    right.set_xticks(range(len(names)), [c.upper() for c in names])
    right.set(ylabel="final accuracy (o: strings, s: second-to-last symbol)",
              ylim=(-0.02, 1.05), title="after training, seed by seed")
    right.grid(alpha=0.3, axis="y")
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)
