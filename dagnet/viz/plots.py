"""Figures of training runs, written as PNG files with matplotlib's Agg canvas.

Generic helpers any command can use: ``plot_curves`` (learning curves, sweeps),
``plot_history`` (the curves of a run's logged entries) and
``plot_decision_boundary`` (a two-input classifier's output over a square, with
its data points).  Each writes one PNG atomically and returns its path.

Figures are made with ``new_figure`` and never through pyplot: importing or using
dagnet.viz leaves the user's backend (a notebook's inline one) and pyplot's list of
open figures alone, and a figure is freed as soon as nothing refers to it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dagnet.files import atomic_write_bytes

Series = tuple[Sequence[float], Sequence[float]]


def new_figure(figsize: tuple[float, float], dpi: float | None = None) -> Figure:
    """A Figure drawn by its own Agg canvas (``figsize`` in inches), outside pyplot."""
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas: same pixels on every machine
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` as PNG atomically."""
    buffer = io.BytesIO()
    # No date or software version in the metadata: the same figure gives the same bytes.
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return atomic_write_bytes(path, buffer.getvalue())


def plot_curves(path: str | os.PathLike, series: Mapping[str, Series], xlabel: str,
                ylabel: str, title: str = "", logy: bool = False, logx: bool = False,
                styles: Mapping[str, dict] | None = None) -> Path:
    """One line per entry of ``series`` (label -> (x, y)), with a legend.

    Non-finite y values are left out of a line (a diverging run ends where its
    cost stops being a number), and so are values ≤ 0 on a logarithmic axis.
    ``logy``/``logx`` use logarithmic axes; ``styles`` maps a label to extra
    ``Axes.plot`` keywords (``{"linestyle": "--"}``).  More than four series get
    their legend beside the plot, where it hides no curve.
    """
    if not series:
        raise ValueError("plot_curves needs at least one series")
    fig = new_figure((8 if len(series) > 4 else 7, 4.5))
    ax = fig.subplots()
    for label, (x, y) in series.items():
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if x.shape != y.shape:
            raise ValueError(f"series {label!r}: x has shape {x.shape}, y has {y.shape}")
        keep = np.isfinite(x) & np.isfinite(y)
        if logy:
            keep &= y > 0
        if logx:
            keep &= x > 0
        ax.plot(x[keep], y[keep], label=label, **(styles or {}).get(label, {}))
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if len(series) > 4:
        ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    else:
        ax.legend(fontsize="small")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_history(path: str | os.PathLike, history: Sequence[Mapping], series: Mapping[str, str],
                 x: str = "epoch", ylabel: str = "", title: str = "") -> Path:
    """``plot_curves`` of a run's logged entries: one line per ``label -> key`` of
    ``series``, over the entries that have that key, against the entries' ``x``."""
    return plot_curves(path, {label: ([e[x] for e in history if key in e],
                                      [e[key] for e in history if key in e])
                              for label, key in series.items()}, x, ylabel, title)


def plot_decision_boundary(path: str | os.PathLike,
                           predict: Callable[[np.ndarray], np.ndarray],
                           X: np.ndarray, Y: np.ndarray, bounds: tuple[float, float],
                           title: str = "", resolution: int = 200,
                           truth: Callable[[np.ndarray], np.ndarray] | None = None) -> Path:
    """A two-input classifier's output over the square ``bounds``², with the data on top.

    ``predict`` maps points ``(N, 2)`` to probabilities of class 1, ``(N,)`` or
    ``(N, 1)``; it is called once on the whole ``resolution``² grid.  The 0.5
    level (the decision boundary) is drawn as a black line; points ``X:(N, 2)``
    are coloured by their label ``Y:(N, 1)`` or ``(N,)``.  ``truth``, if given, maps
    points to their true class (0/1 or probability): its 0.5 level is drawn dashed.
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"a decision boundary is drawn for 2-D points, got X of shape "
                         f"{X.shape}")
    low, high = bounds
    axis = np.linspace(low, high, resolution)
    gx, gy = np.meshgrid(axis, axis)
    grid = np.column_stack([gx.ravel(), gy.ravel()]).astype(X.dtype, copy=False)
    z = np.asarray(predict(grid), dtype=float).reshape(resolution, resolution)

    fig = new_figure((5.5, 5))
    ax = fig.subplots()
    image = ax.imshow(z, origin="lower", extent=(low, high, low, high), cmap="RdBu_r",
                      vmin=0, vmax=1, interpolation="bilinear", aspect="equal")
    if np.nanmin(z) < 0.5 < np.nanmax(z):
        ax.contour(gx, gy, z, levels=[0.5], colors="black", linewidths=1.5)
    if truth is not None:
        t = np.asarray(truth(grid), dtype=float).reshape(resolution, resolution)
        if t.min() < 0.5 < t.max():
            ax.contour(gx, gy, t, levels=[0.5], colors="#555555", linewidths=1,
                       linestyles="dashed")
    labels = np.asarray(Y).reshape(-1) > 0.5
    # Few points: large, in the classes' colours.  Many: small and pale with a dark edge,
    # so that a point of either class stays visible on either side of the boundary.
    few = len(X) <= 50
    size = 50 if few else max(3.0, 6000 / len(X))
    for mask, name, strong, pale in ((~labels, "class 0", "#2166ac", "#d1e5f0"),
                                     (labels, "class 1", "#b2182b", "#fddbc7")):
        ax.scatter(X[mask, 0], X[mask, 1], s=size, c=strong if few else pale,
                   edgecolors="white" if few else "black", linewidths=1 if few else 0.3,
                   label=name)
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper right", fontsize="small", framealpha=0.8)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="network output")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_plane_run(folder: str | os.PathLike, predict: Callable[[np.ndarray], np.ndarray],
                   history: Sequence[Mapping], X: np.ndarray, Y: np.ndarray,
                   bounds: tuple[float, float], title: str,
                   truth: Callable[[np.ndarray], np.ndarray] | None = None) -> list[str]:
    """A two-input classifier's run: ``learning_curve.png`` (the training ``loss`` of the
    history entries, and their ``test_loss`` when they have one, against the epoch) and
    ``decision_boundary.png`` (see ``plot_decision_boundary``).  Returns the file names."""
    folder = Path(folder)
    epochs = [entry["epoch"] for entry in history]
    series = {"training cost": (epochs, [entry["loss"] for entry in history])}
    if history and "test_loss" in history[0]:
        series["test cost"] = (epochs, [entry["test_loss"] for entry in history])
    paths = [plot_curves(folder / "learning_curve.png", series, "epoch", "cost per example",
                         title=title, logy=True),
             plot_decision_boundary(folder / "decision_boundary.png", predict, X, Y, bounds,
                                    title=title, truth=truth)]
    return [path.name for path in paths]


_SWEEP_STYLES = {"converged": "-", "slow": ":", "diverged": "--", "interrupted": "-."}


def plot_lr_sweep(path: str | os.PathLike, runs: Sequence[Mapping], title: str) -> Path:
    """One cost curve per learning rate on log axes, its line style telling the run's
    status.  ``runs``: dicts with ``lr``, ``status`` and ``history`` (entries with
    ``epoch`` and ``loss``), as ``dagnet.experiments.toy.SweepRun.record`` gives them."""
    series, styles = {}, {}
    for run in runs:
        label = f"lr {run['lr']:g} ({run['status']})"
        series[label] = ([entry["epoch"] for entry in run["history"]],
                         [entry["loss"] for entry in run["history"]])
        styles[label] = {"linestyle": _SWEEP_STYLES[run["status"]]}
    with np.errstate(over="ignore"):  # matplotlib's log axis on costs up to 1e300
        return plot_curves(path, series, "epoch", "cost per example", title=title, logy=True,
                           logx=True, styles=styles)
