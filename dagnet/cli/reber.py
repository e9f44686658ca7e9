"""``dagnet reber`` and ``dagnet reber-compare``: recurrent nets learn the Reber grammars
(the training, measurements and comparison are ``dagnet.experiments.reber``)."""

from __future__ import annotations

import argparse

from dagnet.argtypes import positive_float, positive_int, take_checkpoint_options
from dagnet.cli.run import CommandRun, add_run_arguments
from dagnet.data import reber
from dagnet.experiments import reber as experiment
from dagnet.models.rnn import CELL_TYPES, RecurrentNetwork
from dagnet.optim.options import add_optimizer_arguments, make_optimizer
from dagnet.training import Checkpoint, optimizer_from_checkpoint, resume, training_state

MODEL_FILE = "model.safetensors"
DEFAULT_HIDDEN = {False: 4, True: 16}  # the tutorial's 4 units; embedded needs more memory
MAY_CHANGE = ("checkpoints",)  # on --resume; every other option is the checkpoint's


def register(subparsers) -> None:
    one = subparsers.add_parser(
        "reber", help="train an RNN, LSTM or GRU on the (embedded) Reber grammar",
        description="Train a recurrent net to predict the next symbol of (embedded) Reber "
                    "strings. A fresh string is correct when, at every position, the symbols "
                    "with probability above --threshold are exactly the legal next ones. "
                    "Writes learning_curve.png, deep_states.png, metrics.json(l) and "
                    "model.safetensors (a checkpoint). May change on --resume: --checkpoints.")
    one.add_argument("--cell", choices=list(CELL_TYPES), default="rnn", help="default rnn")
    one.add_argument("--embedded", action="store_true",
                     help="the embedded grammar: B T <Reber> T E | B P <Reber> P E")
    one.add_argument("--hidden", type=positive_int, default=None,
                     help="hidden units (default 4, or 16 with --embedded)")
    _add_training_arguments(one)
    add_run_arguments(one)
    one.set_defaults(run=run_reber)
    compare = subparsers.add_parser(
        "reber-compare", help="RNN, GRU and LSTM of similar sizes on the embedded grammar",
        description="Train cells of about as many weights on the embedded Reber grammar over "
                    "seeds, as `dagnet reber` does; compare their accuracy, overall and on the "
                    "second-to-last symbol (which needs memory), and the strings to reach 99%. "
                    "Writes compare.png, compare.json, metrics.json and metrics.jsonl.")
    compare.add_argument("--cells", nargs="+", choices=list(CELL_TYPES),
                         default=["rnn", "gru", "lstm"], help="default rnn gru lstm")
    compare.add_argument("--parameters", type=positive_int, default=None,
                         help="weights per net (default: an LSTM of 16 units')")
    compare.add_argument("--seeds", type=positive_int, default=5,
                         help="seeds per cell: --seed, --seed + 1, ... (default 5)")
    _add_training_arguments(compare)
    add_run_arguments(compare, resume=False)
    compare.set_defaults(run=run_compare)


def _add_training_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strings", type=positive_int, default=20000,
                        help="training strings, each drawn fresh (default 20000)")
    parser.add_argument("--batch-size", type=positive_int, default=16,
                        help="strings per update, padded and masked (default 16)")
    parser.add_argument("--test-strings", type=positive_int, default=1000,
                        help="fresh strings the accuracy is measured on (default 1000)")
    parser.add_argument("--threshold", type=_threshold, default=0.3,
                        help="a symbol is predicted when its probability exceeds this "
                             "(in (0, 1), default 0.3)")
    parser.add_argument("--checkpoints", type=positive_int, default=20,
                        help="accuracy measurements during training (default 20)")
    parser.add_argument("--unfused", action="store_true",
                        help="steps from elementary nodes, not fused nodes (the reference)")
    add_optimizer_arguments(parser, default="adam", default_lr=0.01)
    # A constant rate leaves a trained net's accuracy jittering by 1-2% (embedded LSTM).
    parser.set_defaults(lr_schedule="cosine")


def _threshold(text: str) -> float:
    if (value := positive_float(text)) >= 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text}")
    return value


def _task(args: argparse.Namespace, embedded: bool) -> experiment.ReberTask:
    return experiment.ReberTask(embedded, args.strings, args.batch_size, args.test_strings,
                                args.threshold, args.checkpoints)


def _resumed(args: argparse.Namespace) -> RecurrentNetwork | None:
    """The checkpoint's model on --resume, the options not given again set to its run's."""
    if args.resume is None:
        return None
    model = RecurrentNetwork.load(args.resume)
    take_checkpoint_options(args, training_state(model, args.resume)["options"])
    return model


def run_reber(args: argparse.Namespace) -> int:
    from dagnet.viz.recurrent import draw_reber_run

    model = _resumed(args)
    args.hidden = args.hidden or DEFAULT_HIDDEN[args.embedded]
    run = CommandRun(args, "reber", [key for key in vars(args) if key not in MAY_CHANGE])
    task, seeded = _task(args, args.embedded), experiment.streams(args.seed)
    accuracy = experiment.Accuracy(experiment.test_strings(task, args.seed), task, args.dtype)
    if model is None:
        model = experiment.reber_network(args.cell, args.hidden, seeded["init"],
                                         dtype=args.dtype, fused=not args.unfused)
        optimizer = make_optimizer(args, model.parameter_nodes, total_steps=task.updates)
        model.metadata = {"command": "reber", "symbols": reber.SYMBOLS, "seed": args.seed,
                          "untrained": accuracy.point(model)}
    else:
        run.check_resume(training_state(model, args.resume)["options"])
        optimizer = optimizer_from_checkpoint(model, args.resume)
    model.debug = run.debug
    checkpoint = Checkpoint(run.folder, MODEL_FILE, options=run.options(), metadata=lambda t: {
        "accuracy": t.history.last.get("test_accuracy")})
    trainer = experiment.reber_trainer(model, optimizer, task, seeded["train"], accuracy,
                                       run.extensions(unit="str", checkpoint=checkpoint))
    if args.resume is not None:
        resume(trainer, args.resume)
    history = run.train(trainer)
    figures = experiment.run_figures(history, model.metadata["untrained"], args.embedded)
    for role, path in (draw_reber_run(run.folder, model, [figures["untrained"], *history],
                                      accuracy.strings, args.embedded)
                       | {"checkpoint": run.folder / MODEL_FILE}).items():
        run.record.add_file(role, path)
    return run.finish(
        experiment.describe(args.cell, figures), **figures, parameters=model.n_parameters,
        grammar="embedded Reber" if args.embedded else "Reber", fused=not args.unfused,
        optimizer={"name": args.optimizer, **optimizer.config()},
        **{key: getattr(args, key) for key in ("cell", "embedded", "hidden", "dtype",
                                               "batch_size", "threshold", "test_strings")})


def run_compare(args: argparse.Namespace) -> int:
    from dagnet.viz.recurrent import plot_compare

    run = CommandRun(args, "reber-compare")
    comparison = experiment.compare_cells(
        args.cells, range(args.seed, args.seed + args.seeds), _task(args, True),
        lambda nodes, updates: make_optimizer(args, nodes, total_steps=updates),
        parameters=args.parameters, dtype=args.dtype, fused=not args.unfused,
        train=run.train, progress=False if run.quiet else None, extensions=run.profiling(),
        log=run.folder / "metrics.jsonl")
    settings = {key: getattr(args, key) for key in ("optimizer", "lr", "lr_schedule")}
    run.record.add_file("figure", plot_compare(
        run.folder / "compare.png", comparison.cells,
        f"Embedded Reber: {args.strings} training strings, {args.batch_size} per update, "
        f"{args.optimizer} (lr {args.lr:g}), {args.seeds} seeds"))
    run.record.add_file("compare", experiment.write_comparison(
        run.folder / "compare.json", comparison, settings))
    return run.finish("\n".join(comparison.report()), **comparison.record_fields(),
                      **comparison.settings, **settings, cells=comparison.summary())
