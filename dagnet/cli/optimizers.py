"""``dagnet optimizers`` and ``dagnet trajectories``: the optimization algorithms compared
(dagnet.experiments.optimizers does the work)."""

from __future__ import annotations

import argparse

import numpy as np
from tqdm.auto import tqdm

from dagnet.argtypes import positive_int
from dagnet.cli.run import CommandRun, add_run_arguments, say
from dagnet.experiments import optimizers as experiment
from dagnet.training import MetricsLog, ProgressBar


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "optimizers", help="train one network with every optimizer and compare them",
        description="Train the same network from the same initial weights, on the same "
                    "mini-batches, with every optimization algorithm (each at a learning "
                    "rate that suits the data set); write optimizers.png (cost and test "
                    "accuracy against epochs) and the table in metrics.json. A comparison "
                    "runs from scratch: it has no --resume.")
    parser.add_argument("--dataset", choices=list(experiment.NETWORKS), default="disk",
                        help="disk: 2-D points inside/outside a disk (generated, seconds); "
                             "mnist: handwritten digits (minutes) (default disk)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="passes over the training set (default: disk 40, mnist 3)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="examples per update (default: disk 32, mnist 64)")
    parser.add_argument("--optimizers", default=None,
                        help="comma-separated algorithms to compare (default: all)")
    parser.add_argument("--lr-for", action="append", default=[], metavar="NAME=LR",
                        help="override one algorithm's learning rate (repeatable)")
    parser.add_argument("--train-size", type=positive_int, default=None,
                        help="training examples (default: disk 1000, mnist all 60000)")
    add_run_arguments(parser, resume=False,
                      data_help="mnist: folder with the four IDX files (default: "
                                "$DAGNET_DATA_DIR, the cache, or a download)")
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
    add_run_arguments(parser, resume=False)
    parser.set_defaults(run=run_trajectories)


def run_optimizers(args: argparse.Namespace) -> int:
    from dagnet.viz.optimizers import plot_learning_curves

    network = experiment.NETWORKS[args.dataset]
    epochs = args.epochs or network["epochs"]
    batch_size = args.batch_size or network["batch_size"]
    rates = experiment.learning_rates(args.dataset, experiment.chosen(args.optimizers),
                                      args.lr_for)
    X, labels, X_test, test_labels, description = experiment.load_data(
        args.dataset, args.seed, args.train_size, args.data, np.dtype(args.dtype),
        progress=False if args.quiet else None)
    run = CommandRun(args, "optimizers")
    report = (lambda line: None) if args.quiet else say
    report(f"dagnet optimizers: {description}; network {X.shape[1]} -> {network['layers']} "
           f"({network['hidden']}, {network['output']}), {args.dtype}, {epochs} epochs of "
           f"batches of {batch_size}")
    curves, table = experiment.compare_optimizers(
        X, labels, X_test, test_labels, network, rates, epochs=epochs, batch_size=batch_size,
        seed=args.seed, dtype=np.dtype(args.dtype), report=report,
        extensions=lambda name: [ProgressBar(False if args.quiet else None, name, "ex"),
                                 MetricsLog(run.folder / f"metrics-{name}.jsonl"),
                                 *run.profiling()])
    figure = plot_learning_curves(curves, run.folder / "optimizers.png", title=(
        f"{description}: {network['layers']} {network['hidden']}, batch {batch_size}"))
    run.record.add_file("figure", figure)
    run.record.update(train_seconds=sum(row["train_seconds"] for row in table),
                      final=table[-1], best=max(table, key=lambda row: row["best_test_accuracy"]))
    first = next(iter(curves.values()))
    return run.finish(f"optimizers: {len(table)} algorithms compared", dataset=args.dataset,
                      initial={"cost": first["cost"][0],
                               "test_accuracy": first["test_accuracy"][0]},
                      data=description, epochs=epochs, batch_size=batch_size, table=table,
                      curves=curves, network={"layers": network["layers"],
                                              "inputs": X.shape[1], "dtype": args.dtype})


def run_trajectories(args: argparse.Namespace) -> int:
    from dagnet.viz.optimizers import animate_trajectories, plot_trajectories

    names = experiment.chosen(args.optimizers)
    steps = {"rosenbrock": args.rosenbrock_steps, "quadratic": args.quadratic_steps}
    run = CommandRun(args, "trajectories")
    paths: dict[str, dict] = {p["name"]: {} for p in experiment.PROBLEMS}
    results: dict[str, dict] = {p["name"]: {} for p in experiment.PROBLEMS}
    cases = [(p, name) for p in experiment.PROBLEMS for name in names]
    for problem, name in tqdm(cases, desc="trajectories", leave=False,
                              disable=True if args.quiet else None):
        paths[problem["name"]][name], results[problem["name"]][name] = experiment.trajectory(
            problem, name, steps[problem["name"]])
    run.record.add_file("figure", plot_trajectories(experiment.PROBLEMS, paths,
                                                    run.folder / "trajectories.png"))
    if args.gif:
        run.record.add_file("animation", animate_trajectories(
            experiment.PROBLEMS, paths, run.folder / "trajectories.gif",
            progress=False if args.quiet else None))
    if not args.quiet:
        for problem in experiment.PROBLEMS:
            say(f"{problem['name']} from {problem['start']}, {steps[problem['name']]} steps:")
            for name, row in results[problem["name"]].items():
                say(f"  {name:9s} " + _describe(row))
    return run.finish("trajectories drawn", results=results, hessian=experiment.HESSIAN,
                      problems={p["name"]: {"title": p["title"], "start": p["start"],
                                            "minimum": p["minimum"], "steps": steps[p["name"]]}
                                for p in experiment.PROBLEMS})


def _describe(row: dict) -> str:
    note = experiment.untuned(row["learning_rate_source"])
    if row["diverged"]:
        return f"lr {row['learning_rate']:<6g} DIVERGED{note}"
    reached = row["first_step_within_1e-3"]
    return (f"lr {row['learning_rate']:<6g} distance to the minimum "
            f"{row['final_distance_to_minimum']:.2e}"
            + (f", within 1e-3 after {reached} steps" if reached is not None else "") + note)
