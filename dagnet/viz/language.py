"""Figures of language models: where a GPT's head looks along a line of text, the
validation curves of several runs against their training time, and a GPT run's figures.

Each writes one PNG atomically (``dagnet.viz.plots.save_figure``) and return its path.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from dagnet.viz.plots import new_figure, plot_curves, plot_history, save_figure

# How characters that draw nothing are shown on the axes.
VISIBLE = {"\n": "⏎", " ": "␣", "\t": "⇥"}


def plot_attention(path: str | os.PathLike, weights: np.ndarray, text: str,
                   title: str = "") -> Path:
    """One head's attention weights (T, T) over ``text`` (T characters): row i, the
    weights position i gives to positions j ≤ i (a causal head leaves j > i blank)."""
    weights = np.asarray(weights, dtype=float)
    T = len(text)
    if weights.shape != (T, T):
        raise ValueError(f"attention weights of shape {weights.shape} for a text of {T} "
                         "characters: expected (T, T)")
    labels = [VISIBLE.get(c, c) for c in text]
    size = min(9.0, 3.0 + 0.09 * T)
    fig = new_figure((size + 1.2, size))
    ax = fig.subplots()
    masked = np.ma.masked_where(np.triu(np.ones((T, T), dtype=bool), 1), weights)
    image = ax.imshow(masked, cmap="viridis", vmin=0, vmax=max(float(weights.max()), 1e-12),
                      interpolation="nearest")
    ticks = np.arange(T)
    font = 8 if T <= 32 else 6
    ax.set_xticks(ticks, labels, fontsize=font, family="monospace")
    ax.set_yticks(ticks, labels, fontsize=font, family="monospace")
    ax.set_xlabel("position attended to (key)")
    ax.set_ylabel("position attending (query)")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_runs_against_time(path: str | os.PathLike, runs: Mapping[str, Sequence[Mapping]],
                           key: str = "val_loss", ylabel: str = "validation loss",
                           title: str = "") -> Path:
    """One curve per run (label -> its logged entries): ``key`` against the training
    minutes so far (the entries' ``train_seconds`` summed: the time of the updates,
    without the evaluations), so that runs of different speeds compare at equal time."""
    series = {}
    for label, entries in runs.items():
        minutes = np.cumsum([entry.get("train_seconds", 0.0) for entry in entries]) / 60
        series[label] = ([m for m, e in zip(minutes, entries) if key in e],
                         [e[key] for e in entries if key in e])
    return plot_curves(path, series, "training time (minutes)", ylabel, title)


def draw_gpt_run(folder: str | os.PathLike, model, history: Sequence[Mapping], line: str
                 ) -> dict[str, str]:
    """A GPT run's figures in ``folder``: loss_curve.png (training and validation loss by
    step) and attention.png (head 1 of the last block over ``line``); returns the file
    name of each figure by its role in the run record."""
    folder = Path(folder)
    best = min((e["val_loss"] for e in history if "val_loss" in e), default=math.nan)
    settings = model.settings
    plot_history(folder / "loss_curve.png", history, {"training": "loss",
                 "validation": "val_loss"}, x="step", ylabel="loss (nats per character)",
                 title=f"GPT, {settings.n_layers} blocks {settings.width} wide: best "
                       f"validation loss {best:.4f}")
    plot_attention(folder / "attention.png", model.attention(line, settings.n_layers)[0],
                   line, title=f"block {settings.n_layers}, head 1")
    return {"loss_curve": "loss_curve.png", "attention": "attention.png"}
