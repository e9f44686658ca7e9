"""The optimization algorithms compared: one network trained by each, and each one's path
on two classic surfaces.

``compare_optimizers`` trains the same network from the same initial weights, on the
same mini-batches in the same order, with every algorithm at its learning rate for
the data set.  ``follow`` and ``trajectories`` run each algorithm from the same
start on the Rosenbrock function and on an ill-conditioned quadratic.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence

import numpy as np

from dagnet.data.mnist import Preprocessing, load_mnist
from dagnet.data.toy import disk
from dagnet.errors import DagnetError, NonFiniteError
from dagnet.models import fully_connected
from dagnet.node import ParameterNode
from dagnet.optim import ALIASES, OPTIMIZERS, optimizer_choices, optimizer_name
from dagnet.rng import seed_streams
from dagnet.training import ArrayBatches, Evaluate, Trainer

# Learning rates per data set: for each algorithm the lowest final training cost (mean
# of seeds 0-2 on disk, seed 0 on MNIST) over a grid a factor ~3 apart; docs/optimizers.md
# gives the commands and the results.  These are measurements: an algorithm registered
# since (not in a table) runs at its declared default rate, and the output says so.
LEARNING_RATES = {
    "disk": {"gd": 0.3, "momentum": 0.03, "nesterov": 0.03, "adagrad": 0.3, "rmsprop": 0.01,
             "adadelta": 3.0, "adam": 0.01, "adamax": 0.03, "nadam": 0.01},
    "mnist": {"gd": 0.3, "momentum": 0.03, "nesterov": 0.03, "adagrad": 0.03,
              "rmsprop": 0.001, "adadelta": 1.0, "adam": 0.003, "adamax": 0.01,
              "nadam": 0.003},
}

NETWORKS = {  # hidden layers, activations, default epochs and batch size
    "disk": dict(layers=[16, 16, 1], hidden="tanh", output="sigmoid", epochs=40,
                 batch_size=32),
    "mnist": dict(layers=[128, 64, 10], hidden="relu", output="softmax", epochs=3,
                  batch_size=64),
}


def chosen(text: str | None) -> list[str]:
    """The registered names in a comma-separated list (aliases such as sgd allowed);
    None: every registered algorithm."""
    if text is None:
        return list(OPTIMIZERS)
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in OPTIMIZERS and name not in ALIASES]
    if unknown or not names:
        raise DagnetError(f"unknown optimizer(s) {', '.join(unknown) or '(none)'}; choose from "
                          f"{optimizer_choices()}")
    return list(dict.fromkeys(optimizer_name(name) for name in names))


def learning_rate_for(table: dict[str, float], name: str) -> tuple[float, str]:
    """(rate, source): the tuned rate of ``table``, or for an algorithm the table lacks
    (registered after the sweep) its declared default learning rate."""
    if name in table:
        return table[name], "tuned"
    return OPTIMIZERS[name].default_learning_rate, "declared default"


def learning_rates(dataset: str, names: list[str], overrides: Sequence[str]
                   ) -> dict[str, tuple[float, str]]:
    """name -> (learning rate, where it comes from: tuned, declared default or --lr-for),
    ``overrides`` being NAME=LR items."""
    rates = {name: learning_rate_for(LEARNING_RATES[dataset], name) for name in names}
    for item in overrides:
        name, _, value = item.partition("=")
        name = ALIASES.get(name, name)
        if name not in rates:
            raise DagnetError(f"--lr-for {item}: {name!r} is not among the compared optimizers "
                              f"({', '.join(names)})")
        try:
            rate = float(value)
        except ValueError:
            raise DagnetError(f"--lr-for {item}: {value!r} is not a number") from None
        if not (rate > 0 and math.isfinite(rate)):
            raise DagnetError(f"--lr-for {item}: the rate must be a positive number")
        rates[name] = (rate, "--lr-for")
    return rates


def untuned(source: str) -> str:
    """A note for the report when the rate was not measured for this problem."""
    return " (declared default, not tuned here)" if source == "declared default" else ""


def streams(seed: int) -> dict[str, np.random.Generator]:
    """Fresh generators for the data, the initial weights and the mini-batch order: every
    optimizer gets the same weights and the same batches."""
    return seed_streams(seed, ["data", "weights", "order"])


def load_data(dataset: str, seed: int, train_size: int | None, folder, dtype,
              progress: bool | None = None) -> tuple:
    """(X, labels, X_test, test labels, a line describing them) for ``dataset``: disk
    points drawn from the seed's data stream, or (a seeded subset of) MNIST."""
    rng = streams(seed)["data"]
    if dataset == "disk":
        n = 1000 if train_size is None else train_size
        X, Y = disk(n, rng, dtype=dtype)
        X_test, Y_test = disk(1000, rng, dtype=dtype)
        return (X, Y[:, 0].astype(int), X_test, Y_test[:, 0].astype(int),
                f"disk, {n} training and 1000 test points")
    train_images, train_labels, test_images, test_labels = load_mnist(folder,
                                                                      progress=progress)
    if train_size is not None:
        keep = rng.permutation(len(train_images))[:train_size]
        train_images, train_labels = train_images[keep], train_labels[keep]
    preprocessing = Preprocessing.fit(train_images)
    return (preprocessing.transform(train_images, dtype), train_labels.astype(int),
            preprocessing.transform(test_images, dtype), test_labels.astype(int),
            f"MNIST, {len(train_images)} training and {len(test_images)} test images")


def compare_optimizers(X: np.ndarray, labels: np.ndarray, X_test: np.ndarray,
                       test_labels: np.ndarray, network: dict, rates: dict, *, epochs: int,
                       batch_size: int, seed: int, dtype, extensions: Callable[[str], list]
                       = lambda name: [], report: Callable[[str], None] = print
                       ) -> tuple[dict, list[dict]]:
    """Train ``network`` on X (class ``labels``) with every algorithm of ``rates``; return
    the curves (epoch, mean training loss, test accuracy, from epoch 0) and a table row
    per algorithm.  ``extensions(name)`` adds Trainer extensions to each run."""
    def build():
        return fully_connected(network["layers"], X.shape[1], network["hidden"],
                               network["output"], rng=streams(seed)["weights"], dtype=dtype)

    initial = build()
    start_loss = initial.evaluate(X, labels)["loss"]
    start_accuracy = initial.evaluate(X_test, test_labels)["accuracy"]
    curves, table = {}, []
    for name, (rate, source) in rates.items():
        model = build()  # the same seed: the same initial weights for every optimizer
        trainer = Trainer(model, OPTIMIZERS[name](model.parameter_nodes, rate),
                          ArrayBatches(X, labels, batch_size, streams(seed)["order"]),
                          epochs=epochs, extensions=[
                              Evaluate((X_test, test_labels), prefix="test_"),
                              *extensions(name)])
        diverged = None
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                history = trainer.run()
        except NonFiniteError as exc:
            history, diverged = trainer.history, str(exc)
        entries = [e for e in history if "test_accuracy" in e]
        curves[name] = {"epoch": [0] + [e["epoch"] for e in entries],
                        "cost": [start_loss] + [e["loss"] for e in entries],
                        "test_accuracy": [start_accuracy] + [e["test_accuracy"]
                                                             for e in entries]}
        table.append(_row(name, rate, source, curves[name], entries, diverged))
        row = table[-1]
        report(f"  {name:9s} lr {rate:<7g} cost {row['final_cost']:.4f}  test accuracy "
               f"{100 * row['final_test_accuracy']:.2f}%" + untuned(source)
               + (f"  DIVERGED: {diverged}" if diverged else ""))
    return curves, table


def _row(name: str, rate: float, source: str, curve: dict, entries: list, diverged) -> dict:
    accuracies = curve["test_accuracy"]
    best = int(np.argmax(accuracies))
    return {"optimizer": name, "algorithm": OPTIMIZERS[name].__name__, "learning_rate": rate,
            "learning_rate_source": source, "final_cost": curve["cost"][-1],
            "final_test_accuracy": accuracies[-1], "best_test_accuracy": accuracies[best],
            "best_epoch": best,
            "median_epoch_seconds": (statistics.median(e["train_seconds"] for e in entries)
                                     if entries else None),
            "train_seconds": sum(e["train_seconds"] for e in entries),
            "diverged": diverged}


# -- trajectories ---------------------------------------------------------------------------

def rosenbrock(x, y):
    """f(x, y) = (1 - x)² + 100 (y - x²)², minimum 0 at (1, 1)."""
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def rosenbrock_gradient(p: np.ndarray) -> np.ndarray:
    x, y = p
    return np.array([-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)])


# The quadratic ½ pᵀHp, H with eigenvalues 1 and 50 along axes turned by 30°: its
# condition number is 50, and its axes are not the coordinates' (which would favour
# the per-coordinate methods).
_ANGLE = math.radians(30)
_ROTATION = np.array([[math.cos(_ANGLE), -math.sin(_ANGLE)],
                      [math.sin(_ANGLE), math.cos(_ANGLE)]])
HESSIAN = _ROTATION @ np.diag([1.0, 50.0]) @ _ROTATION.T


def quadratic(x, y):
    """f(p) = ½ pᵀHp, minimum 0 at (0, 0)."""
    return 0.5 * (HESSIAN[0, 0] * x * x + 2 * HESSIAN[0, 1] * x * y + HESSIAN[1, 1] * y * y)


def quadratic_gradient(p: np.ndarray) -> np.ndarray:
    return HESSIAN @ p


# Constant learning rates (no schedule), each the best of a small sweep (a factor 2-3
# apart) at the default number of steps; see docs/optimizers.md.  The quadratic's
# start lies mostly along its flat axis, where plain gradient descent crawls.
PROBLEMS = [
    dict(name="rosenbrock", title="Rosenbrock (1-x)² + 100(y-x²)²", function=rosenbrock,
         gradient=rosenbrock_gradient, start=(-1.5, 2.0), minimum=(1.0, 1.0),
         bounds=(-2.0, 2.0, -1.0, 3.0), log_levels=True, equal_aspect=False,
         learning_rates={"gd": 2e-3, "momentum": 1e-3, "nesterov": 1e-3, "adagrad": 0.3,
                         "rmsprop": 3e-3, "adadelta": 1.0, "adam": 0.02, "adamax": 0.05,
                         "nadam": 0.01}),
    dict(name="quadratic", title="quadratic ½pᵀHp, condition number 50", function=quadratic,
         gradient=quadratic_gradient, start=(-1.5, -1.2), minimum=(0.0, 0.0),
         bounds=(-2.0, 2.0, -1.6, 1.6), log_levels=False, equal_aspect=True,
         learning_rates={"gd": 0.03, "momentum": 0.005, "nesterov": 0.005, "adagrad": 0.3,
                         "rmsprop": 0.03, "adadelta": 1.0, "adam": 0.1, "adamax": 0.1,
                         "nadam": 0.1}),
]


def follow(name: str, gradient, start, learning_rate: float, steps: int) -> np.ndarray:
    """The (steps + 1, 2) points an optimizer visits from ``start``."""
    node = ParameterNode(np.array(start, dtype=np.float64))
    optimizer = OPTIMIZERS[name]([node], learning_rate)
    points = np.empty((steps + 1, 2))
    points[0] = node.w
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, steps + 1):
            optimizer.step([gradient(node.w)])
            points[k] = node.w
            if not np.all(np.isfinite(node.w)):
                points[k:] = np.nan
                break
    return points


def trajectory(problem: dict, name: str, steps: int) -> tuple[np.ndarray, dict]:
    """The points ``name`` visits on ``problem`` and how close it ends to the minimum."""
    rate, source = learning_rate_for(problem["learning_rates"], name)
    points = follow(name, problem["gradient"], problem["start"], rate, steps)
    distances = np.hypot(*(points - np.array(problem["minimum"])).T)
    close = np.flatnonzero(distances < 1e-3)
    final = points[-1]
    diverged = not np.all(np.isfinite(final))
    return points, {
        "learning_rate": rate, "learning_rate_source": source, "steps": steps,
        "final_point": None if diverged else final, "diverged": bool(diverged),
        "final_value": None if diverged else float(problem["function"](*final)),
        "final_distance_to_minimum": None if diverged else float(distances[-1]),
        "first_step_within_1e-3": int(close[0]) if close.size else None}

