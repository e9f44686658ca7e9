"""Figures of the optimizers: learning curves side by side, and paths on 2-D functions.

PNGs and the GIF are written atomically, drawn on matplotlib's Agg canvas without pyplot
(``dagnet.viz.plots.new_figure``, ``save_figure``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.ticker import MaxNLocator

from dagnet.files import atomic_write_bytes
from dagnet.optim import OPTIMIZERS
from dagnet.viz.plots import new_figure, save_figure


def optimizer_colors(names: Sequence[str]) -> dict[str, tuple]:
    """One tab10 colour per optimizer, the same in every figure whichever are drawn."""
    cmap = matplotlib.colormaps["tab10"]
    order = list(OPTIMIZERS) + [name for name in names if name not in OPTIMIZERS]
    return {name: cmap(order.index(name) % 10) for name in names}


def plot_learning_curves(curves: dict[str, dict[str, Sequence[float]]], path: str | Path,
                         title: str = "") -> Path:
    """Cost and test accuracy against epochs, one line per optimizer.

    ``curves[name]`` has ``epoch``, ``cost`` and ``test_accuracy`` lists (epoch 0:
    the shared initial weights).  Written as a PNG to ``path``.
    """
    colors = optimizer_colors(list(curves))
    figure = new_figure((12, 4.8))
    cost_axes, accuracy_axes = figure.subplots(1, 2)
    for name, curve in curves.items():
        style = dict(color=colors[name], label=name, marker="o", markersize=3)
        cost_axes.plot(curve["epoch"], curve["cost"], **style)
        accuracy_axes.plot(curve["epoch"], np.asarray(curve["test_accuracy"]) * 100, **style)
    cost_axes.set(xlabel="epoch", ylabel="training cost (mean per example)", yscale="log",
                  title="cost")
    accuracy_axes.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy")
    # Zoom on the trained networks: the initial accuracy (chance) would squash their lines.
    trained = [100 * a for curve in curves.values() for e, a in
               zip(curve["epoch"], curve["test_accuracy"]) if e > 0 and np.isfinite(a)]
    initial = [100 * curve["test_accuracy"][0] for curve in curves.values()]
    if trained and min(initial) < min(trained):
        span = max(trained) - min(trained)
        accuracy_axes.set_ylim(max(0.0, min(trained) - 0.1 * span - 0.2),
                               min(100.0, max(trained) + 0.1 * span + 0.2))
        accuracy_axes.set_title(f"test accuracy (epoch 0: {min(initial):.1f}%, off the scale)")
    for axes in (cost_axes, accuracy_axes):
        axes.grid(True, alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    accuracy_axes.legend(loc="lower right", fontsize="small")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)


def _contours(axes, problem: dict) -> None:
    """The problem's level lines (logarithmically spaced if ``log_levels``)."""
    x0, x1, y0, y1 = problem["bounds"]
    x, y = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    z = problem["function"](x, y)
    if problem["log_levels"]:
        levels = np.logspace(np.log10(max(z.min(), 1e-2)), np.log10(z.max()), 20)
    else:
        levels = np.linspace(0, z.max(), 22)[1:] ** 2 / z.max()  # denser near the minimum
    axes.contour(x, y, z, levels=levels, colors="0.55", linewidths=0.5)
    axes.set_xlim(x0, x1)
    axes.set_ylim(y0, y1)
    if problem.get("equal_aspect"):
        axes.set_aspect("equal")


def plot_trajectories(problems: Sequence[dict], paths: dict[str, dict[str, np.ndarray]],
                      path: str | Path) -> Path:
    """Each optimizer's path on each 2-D problem, over the problem's contours.

    ``problems`` are dicts with ``name``, ``title``, ``function(x, y)``, ``bounds``
    (x0, x1, y0, y1), ``minimum``, ``log_levels`` and ``equal_aspect``;
    ``paths[problem][optimizer]`` is the (steps + 1, 2) array of points visited.
    """
    names = list(next(iter(paths.values())))
    colors = optimizer_colors(names)
    figure = new_figure((7 * len(problems), 6))
    axes_list = figure.subplots(1, len(problems))
    for axes, problem in zip(np.atleast_1d(axes_list), problems):
        _contours(axes, problem)
        for name, points in paths[problem["name"]].items():
            axes.plot(points[:, 0], points[:, 1], color=colors[name], lw=1.2, label=name)
            axes.plot(*points[-1], marker="o", color=colors[name], markersize=4)
        start = next(iter(paths[problem["name"]].values()))[0]
        axes.plot(*start, marker="s", color="black", markersize=6)
        axes.plot(*problem["minimum"], marker="*", color="black", markersize=12)
        axes.set(title=problem["title"], xlabel="x", ylabel="y")
        axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    return save_figure(figure, path, dpi=100)


def animate_trajectories(problems: Sequence[dict], paths: dict[str, dict[str, np.ndarray]],
                         path: str | Path, frames: int = 60, fps: int = 10,
                         progress: bool | None = None) -> Path:
    """The paths of ``plot_trajectories`` drawn step by step, as an animated GIF.

    Each problem's steps are spread over ``frames`` frames (so long runs stay short);
    ``progress`` as for tqdm's bars (None: on a terminal only).  The contours are
    drawn once and each frame blits only the paths onto them (a full redraw per
    frame, as matplotlib's PillowWriter does, is ten times slower); Pillow writes
    the GIF.
    """
    from PIL import Image
    from tqdm.auto import tqdm

    names = list(next(iter(paths.values())))
    colors = optimizer_colors(names)
    figure = new_figure((6 * len(problems), 5), dpi=72)
    axes_list = figure.subplots(1, len(problems))
    lines = []
    for axes, problem in zip(np.atleast_1d(axes_list), problems):
        _contours(axes, problem)
        axes.plot(*problem["minimum"], marker="*", color="black", markersize=12)
        for name, points in paths[problem["name"]].items():
            (line,) = axes.plot([], [], color=colors[name], lw=1.2, label=name, animated=True)
            (head,) = axes.plot([], [], marker="o", color=colors[name], markersize=4,
                                animated=True)
            lines.append((line, head, points))
        axes.set(title=problem["title"], xlabel="x", ylabel="y")
        axes.legend(loc="lower right", fontsize="x-small")
    figure.tight_layout()
    canvas = figure.canvas
    canvas.draw()
    background = canvas.copy_from_bbox(figure.bbox)
    images = []
    for frame in tqdm(range(frames), desc="animation", unit="frame", leave=False,
                      disable=None if progress is None else not progress):
        canvas.restore_region(background)
        for line, head, points in lines:
            end = 1 + round((len(points) - 1) * (frame + 1) / frames)
            line.set_data(points[:end, 0], points[:end, 1])
            head.set_data(points[end - 1:end, 0], points[end - 1:end, 1])
            line.axes.draw_artist(line)
            head.axes.draw_artist(head)
        rgb = np.asarray(canvas.buffer_rgba())[..., :3]
        images.append(Image.fromarray(rgb).quantize(colors=128))
    # The last frame stays on screen for two seconds before the loop restarts.
    durations = [round(1000 / fps)] * (frames - 1) + [2000]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=durations, loop=0)
    return atomic_write_bytes(path, buffer.getvalue())
