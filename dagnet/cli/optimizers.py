"""``dagnet optimizers`` and ``dagnet trajectories``: the optimization algorithms compared.

``optimizers`` trains one network from the same initial weights, on the same
mini-batches in the same order, with every algorithm at its learning rate for
the data set, and draws the learning curves.  ``trajectories`` follows each
algorithm from the same start on the Rosenbrock function and on an
ill-conditioned quadratic.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import numpy as np

from dagnet.cli.common import (
    add_run_arguments,
    positive_int,
    progress_enabled,
    run_folder,
    say,
    seed_streams,
    write_metrics,
)
from dagnet.errors import DagnetError, NonFiniteError
from dagnet.optim import ALIASES, OPTIMIZERS, optimizer_choices, optimizer_name

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

NETWORKS = {  # hidden layers, activations, default epochs, batch size, dtype
    "disk": dict(layers=[16, 16, 1], hidden="tanh", output="sigmoid", epochs=40,
                 batch_size=32, dtype="float64"),
    "mnist": dict(layers=[128, 64, 10], hidden="relu", output="softmax", epochs=3,
                  batch_size=64, dtype="float32"),
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "optimizers", help="train one network with every optimizer and compare them",
        description="Train the same network from the same initial weights, on the same "
                    "mini-batches, with every optimization algorithm (each at a learning "
                    "rate that suits the data set); write optimizers.png (cost and test "
                    "accuracy against epochs) and the table in metrics.json.")
    parser.add_argument("--dataset", choices=list(NETWORKS), default="disk",
                        help="disk: 2-D points inside/outside a disk (generated, seconds); "
                             "mnist: handwritten digits (minutes) (default disk)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="passes over the training set (default: disk "
                             f"{NETWORKS['disk']['epochs']}, mnist {NETWORKS['mnist']['epochs']})")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="examples per update (default: disk 32, mnist 64)")
    parser.add_argument("--optimizers", default=None,
                        help="comma-separated algorithms to compare (default: all)")
    parser.add_argument("--lr-for", action="append", default=[], metavar="NAME=LR",
                        help="override one algorithm's learning rate (repeatable)")
    parser.add_argument("--train-size", type=positive_int, default=None,
                        help="training examples (default: disk 1000, mnist all 60000)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="mnist: folder with the four IDX files (default: dagnet's "
                             "search order, see dagnet.data.mnist)")
    add_run_arguments(parser)
    parser.set_defaults(run=run_optimizers)

    parser = subparsers.add_parser(
        "trajectories", help="draw each optimizer's path on Rosenbrock and a quadratic",
        description="Follow every optimization algorithm from the same start on the "
                    "Rosenbrock function and on an ill-conditioned quadratic; write "
                    "trajectories.png (and trajectories.gif with --gif) and metrics.json.")
    parser.add_argument("--optimizers", default=None,
                        help="comma-separated algorithms to draw (default: all)")
    parser.add_argument("--rosenbrock-steps", type=positive_int, default=3000,
                        help="updates on the Rosenbrock function (default 3000)")
    parser.add_argument("--quadratic-steps", type=positive_int, default=200,
                        help="updates on the quadratic (default 200)")
    parser.add_argument("--gif", action="store_true",
                        help="also write trajectories.gif, the paths drawn step by step")
    add_run_arguments(parser)
    parser.set_defaults(run=run_trajectories)


# -- dagnet optimizers ------------------------------------------------------------------

def _chosen(text: str | None) -> list[str]:
    """The registered names of --optimizers (aliases such as sgd allowed); None: all."""
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


def _learning_rates(dataset: str, names: list[str], overrides: list[str]
                    ) -> dict[str, tuple[float, str]]:
    """name -> (learning rate, where it comes from: tuned, declared default or --lr-for)."""
    rates = {name: learning_rate_for(LEARNING_RATES[dataset], name) for name in names}
    for item in overrides:
        name, _, value = item.partition("=")
        name = ALIASES.get(name, name)
        if name not in rates:
            raise DagnetError(f"--lr-for {item}: {name!r} is not among the compared optimizers "
                              f"({', '.join(names)})")
        try:
            rates[name] = (float(value), "--lr-for")
        except ValueError:
            raise DagnetError(f"--lr-for {item}: {value!r} is not a number") from None
    return rates


def _untuned(source: str) -> str:
    """A note for the report when the rate was not measured for this problem."""
    return " (declared default, not tuned here)" if source == "declared default" else ""


def _streams(seed: int) -> dict[str, np.random.Generator]:
    """Fresh generators for the data, the initial weights and the mini-batch order: every
    optimizer gets the same weights and the same batches."""
    return seed_streams(seed, ["data", "weights", "order"])


def _load_data(args: argparse.Namespace, dtype) -> tuple:
    """(X, Y, X_test, test labels), and a line describing them."""
    rng = _streams(args.seed)["data"]
    if args.dataset == "disk":
        from dagnet.data.toy import disk

        n = 1000 if args.train_size is None else args.train_size
        X, Y = disk(n, rng, dtype=dtype)
        X_test, Y_test = disk(1000, rng, dtype=dtype)
        return X, Y, X_test, Y_test[:, 0].astype(int), f"disk, {n} training and 1000 test points"
    from dagnet.data.mnist import Preprocessing, load_mnist, one_hot

    train_images, train_labels, test_images, test_labels = load_mnist(
        args.data_dir, progress=progress_enabled(args))
    if args.train_size is not None:
        keep = rng.permutation(len(train_images))[:args.train_size]
        train_images, train_labels = train_images[keep], train_labels[keep]
    preprocessing = Preprocessing.fit(train_images)
    X = preprocessing.transform(train_images, dtype)
    X_test = preprocessing.transform(test_images, dtype)
    return (X, one_hot(train_labels, dtype=dtype), X_test, test_labels.astype(int),
            f"MNIST, {len(X)} training and {len(X_test)} test images")


def _evaluate(graph, X: np.ndarray, Y: np.ndarray | None, labels: np.ndarray) -> dict:
    """Accuracy on (X, labels), and the mean cost if Y is given."""
    output = graph.propagate([X])[0]
    predicted = (output[:, 0] > 0.5).astype(int) if output.shape[1] == 1 else output.argmax(1)
    result = {"accuracy": float(np.mean(predicted == labels))}
    if Y is not None:
        result["cost"] = graph.compute_cost([Y]) / len(X)
    return result


def run_optimizers(args: argparse.Namespace) -> int:
    from dagnet.models import fully_connected
    from dagnet.training import train
    from dagnet.viz.optimizers import plot_learning_curves

    network = NETWORKS[args.dataset]
    epochs = network["epochs"] if args.epochs is None else args.epochs
    batch_size = network["batch_size"] if args.batch_size is None else args.batch_size
    names = _chosen(args.optimizers)
    rates = _learning_rates(args.dataset, names, args.lr_for)
    dtype = np.dtype(network["dtype"])
    folder = run_folder(args, "optimizers")
    X, Y, X_test, test_labels, description = _load_data(args, dtype)
    train_labels = (Y[:, 0].astype(int) if Y.shape[1] == 1 else Y.argmax(1))
    say(f"dagnet optimizers: {description}; network {X.shape[1]} -> "
        f"{network['layers']} ({network['hidden']}, {network['output']}), {dtype}, "
        f"{epochs} epochs of batches of {batch_size}")

    def build():
        return fully_connected(network["layers"], X.shape[1], network["hidden"],
                               network["output"], rng=_streams(args.seed)["weights"],
                               dtype=dtype)

    initial_graph = build()
    initial = _evaluate(initial_graph, X, Y, train_labels)
    initial_test = _evaluate(initial_graph, X_test, None, test_labels)
    curves, table = {}, []
    for name in names:
        graph = build()  # the same seed: the same initial weights for every optimizer
        rate, source = rates[name]
        optimizer = OPTIMIZERS[name](graph.parameter_nodes, rate)
        try:
            history = train(graph, optimizer, X, Y, epochs=epochs, batch_size=batch_size,
                            rng=_streams(args.seed)["order"],
                            on_epoch=lambda epoch, g=graph: {
                                "test_accuracy": _evaluate(g, X_test, None,
                                                           test_labels)["accuracy"]},
                            progress=progress_enabled(args), description=name)
            diverged = None
        except NonFiniteError as exc:
            history = getattr(exc, "history", [])
            diverged = str(exc)
        curves[name] = {
            "epoch": [0] + [entry["epoch"] for entry in history],
            "cost": [initial["cost"]] + [entry["cost"] for entry in history],
            "test_accuracy": [initial_test["accuracy"]]
            + [entry["test_accuracy"] for entry in history],
        }
        accuracies = curves[name]["test_accuracy"]
        best = int(np.argmax(accuracies))
        row = {"optimizer": name, "algorithm": type(optimizer).__name__,
               "learning_rate": rate, "learning_rate_source": source,
               "final_cost": curves[name]["cost"][-1],
               "final_test_accuracy": accuracies[-1],
               "best_test_accuracy": accuracies[best], "best_epoch": best,
               "median_epoch_seconds": (statistics.median(e["seconds"] for e in history)
                                        if history else None),
               "diverged": diverged}
        table.append(row)
        say(f"  {name:9s} lr {rate:<7g} cost {row['final_cost']:.4f}  test accuracy "
            f"{100 * row['final_test_accuracy']:.2f}%" + _untuned(source)
            + (f"  DIVERGED: {diverged}" if diverged else ""))
    figure = plot_learning_curves(
        curves, folder / "optimizers.png",
        title=f"{description}: {network['layers']} {network['hidden']}, batch {batch_size}")
    write_metrics(folder, {
        "command": "optimizers", "dataset": args.dataset, "data": description,
        "network": {"layers": network["layers"], "inputs": X.shape[1],
                    "hidden_activation": network["hidden"],
                    "output_activation": network["output"], "dtype": str(dtype)},
        "epochs": epochs, "batch_size": batch_size, "seed": args.seed,
        "initial": {"cost": initial["cost"], "test_accuracy": initial_test["accuracy"]},
        "table": table, "curves": curves, "figure": figure.name,
    })
    say(f"wrote {figure} and {folder / 'metrics.json'}")
    return 0


# -- dagnet trajectories ---------------------------------------------------------------

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
    from dagnet.node import ParameterNode

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


def run_trajectories(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from dagnet.viz.optimizers import animate_trajectories, plot_trajectories

    names = _chosen(args.optimizers)
    steps = {"rosenbrock": args.rosenbrock_steps, "quadratic": args.quadratic_steps}
    folder = run_folder(args, "trajectories")
    paths: dict[str, dict[str, np.ndarray]] = {}
    results: dict[str, dict] = {}
    started = time.perf_counter()
    bar = tqdm(total=len(PROBLEMS) * len(names), desc="trajectories", leave=False,
               disable=None if progress_enabled(args) is None else True)
    for problem in PROBLEMS:
        paths[problem["name"]], results[problem["name"]] = {}, {}
        minimum = np.array(problem["minimum"])
        for name in names:
            rate, source = learning_rate_for(problem["learning_rates"], name)
            points = follow(name, problem["gradient"], problem["start"], rate,
                            steps[problem["name"]])
            paths[problem["name"]][name] = points
            distances = np.hypot(*(points - minimum).T)
            close = np.flatnonzero(distances < 1e-3)
            final = points[-1]
            diverged = not np.all(np.isfinite(final))
            results[problem["name"]][name] = {
                "learning_rate": rate, "learning_rate_source": source,
                "steps": steps[problem["name"]],
                "final_point": None if diverged else final, "diverged": bool(diverged),
                "final_value": None if diverged else float(problem["function"](*final)),
                "final_distance_to_minimum": None if diverged else float(distances[-1]),
                "first_step_within_1e-3": int(close[0]) if close.size else None,
            }
            bar.update(1)
    bar.close()
    figure = plot_trajectories(PROBLEMS, paths, folder / "trajectories.png")
    written = [figure.name]
    if args.gif:
        written.append(animate_trajectories(PROBLEMS, paths, folder / "trajectories.gif",
                                            progress=progress_enabled(args)).name)
    for problem in PROBLEMS:
        say(f"{problem['name']} from {problem['start']}, {steps[problem['name']]} steps:")
        for name, row in results[problem["name"]].items():
            reached = row["first_step_within_1e-3"]
            note = _untuned(row["learning_rate_source"])
            if row["diverged"]:
                say(f"  {name:9s} lr {row['learning_rate']:<6g} DIVERGED{note}")
                continue
            say(f"  {name:9s} lr {row['learning_rate']:<6g} distance to the minimum "
                f"{row['final_distance_to_minimum']:.2e}"
                + (f", within 1e-3 after {reached} steps" if reached is not None else "")
                + note)
    write_metrics(folder, {
        "command": "trajectories", "seconds": time.perf_counter() - started,
        "problems": {p["name"]: {"title": p["title"], "start": p["start"],
                                 "minimum": p["minimum"], "steps": steps[p["name"]]}
                     for p in PROBLEMS},
        "hessian": HESSIAN, "results": results, "figures": written,
    })
    say(f"wrote {', '.join(str(folder / w) for w in written)} and {folder / 'metrics.json'}")
    return 0
