"""Figures of recurrent nets on the Reber grammars, as PNG files (matplotlib's Agg
canvas, no pyplot).

``plot_learning_curve``: accuracy on fresh strings against strings seen.
``plot_deep_states``: the hidden states projected on their two principal axes,
coloured by the automaton's state (as in the tutorial): a net that has learnt the
grammar gathers the positions of each state together.
``plot_compare``: the cells of ``dagnet reber-compare`` side by side.
``draw_reber_run``: the figures of a ``dagnet reber`` run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

from dagnet.data import reber
from dagnet.viz.plots import new_figure, save_figure

CELL_COLOURS = {"rnn": "tab:red", "gru": "tab:green", "lstm": "tab:blue"}
DEEP_STATE_STRINGS = 300  # strings whose hidden states deep_states.png shows


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
    """Accuracy on the test strings (and the training loss per string) vs strings seen.

    ``history`` holds entries with ``strings``, ``test_accuracy`` (and
    ``test_penultimate_accuracy``, embedded) and, after training started, ``loss``.
    """
    fig = new_figure((11, 4))
    left, right = fig.subplots(1, 2)
    strings = [h["strings"] for h in history]
    left.plot(strings, [h["test_accuracy"] for h in history], marker=".",
              label="strings correct")
    if embedded:
        left.plot(strings, [h["test_penultimate_accuracy"] for h in history], marker=".",
                  label="second-to-last symbol correct")
    left.axhline(0.99, color="grey", linestyle=":", linewidth=1, label="99%")
    left.set(xlabel="training strings seen", ylabel="accuracy on fresh strings",
             ylim=(-0.02, 1.02))
    left.legend(loc="lower right")
    with_loss = [h for h in history if "loss" in h]
    right.plot([h["strings"] for h in with_loss], [h["loss"] for h in with_loss], marker=".")
    right.set(xlabel="training strings seen", ylabel="training cost per string (nats)")
    if with_loss and min(h["loss"] for h in with_loss) > 0:
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


def hidden_state_rows(model, strings: Sequence[str], embedded: bool
                      ) -> tuple[np.ndarray, list[str]]:
    """The last layer's hidden state after each symbol but the last of every string,
    (N, H) string by string, and the automaton state each should encode."""
    X, _ = reber.encode_batch(strings, model.dtype)
    states = model.hidden_states(X)[-1]  # (T, B, H)
    steps = np.array([len(s) - 1 for s in strings])
    inside = np.arange(states.shape[0])[None, :] < steps[:, None]  # (B, T)
    labels = [label for s in strings for label in reber.state_labels(s, embedded)]
    return np.swapaxes(states, 0, 1)[inside], labels


def draw_reber_run(folder: str | os.PathLike, model, history: Sequence[dict],
                   strings: Sequence[str], embedded: bool) -> dict[str, Path]:
    """The figures of a ``dagnet reber`` run of ``model`` (a RecurrentNetwork) into
    ``folder``: ``learning_curve.png`` from ``history`` (the untrained point first) and
    ``deep_states.png``, its hidden states on the first of the test ``strings``.
    Returns the paths by role."""
    folder = Path(folder)
    grammar = "embedded Reber" if embedded else "Reber"
    name, accuracy = model.cell.upper(), history[-1]["test_accuracy"]
    states, labels = hidden_state_rows(model, strings[:DEEP_STATE_STRINGS], embedded)
    return {
        "learning_curve": plot_learning_curve(
            folder / "learning_curve.png", history,
            f"{name} ({model.hidden[-1]} units), {grammar} grammar: {accuracy:.1%} of "
            f"{len(strings)} fresh strings", embedded=embedded),
        "deep_states": plot_deep_states(folder / "deep_states.png", states, labels,
                                        f"{name} hidden states, {grammar} grammar",
                                        embedded=embedded)}


def plot_compare(path: str | os.PathLike, cells: dict[str, dict], title: str) -> Path:
    """Per cell: accuracy vs strings seen (one thin line per seed, the mean thick), and
    the final accuracies, overall and on the second-to-last symbol, seed by seed.

    ``cells[cell]["runs"]`` holds per seed its ``untrained`` point, its ``history``
    (entries with ``strings`` and ``test_accuracy``) and its final ``accuracy`` and
    ``penultimate_accuracy``.
    """
    fig = new_figure((12, 4.5))
    left, right = fig.subplots(1, 2)
    for cell, result in cells.items():
        colour = CELL_COLOURS.get(cell)
        points = [[r["untrained"], *r["history"]] for r in result["runs"]]
        curves = [[h["test_accuracy"] for h in run] for run in points]
        strings = [h["strings"] for h in points[0]]
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
