"""``dagnet xor``, ``dagnet disk`` and ``dagnet lr-sweep``: arguments -> network and data
(``dagnet.experiments.toy``) -> Trainer.run -> run record, figures and model.safetensors
(for xor and disk a checkpoint that --resume continues)."""

from __future__ import annotations

import argparse
from functools import partial

from dagnet.argtypes import positive_float, positive_int
from dagnet.cli.run import CommandRun, add_run_arguments
from dagnet.data import toy as data
from dagnet.errors import DagnetError
from dagnet.experiments import toy
from dagnet.models import GraphModel
from dagnet.optim.options import add_optimizer_arguments, make_optimizer
from dagnet.training.checkpoint import Checkpoint, optimizer_from_checkpoint, resume, training_state
from dagnet.training.extensions import Interrupt, ProgressBar

# Options a resumed run takes from its checkpoint; another value given is refused.
FIXED = ("layers", "activation", "init_scale", "seed", "dtype", "optimizer", "lr", "batch_size",
         "train_points", "test_points", "log_every")
ON_RESUME = " Writes figures, metrics.json(l) and model.safetensors, a checkpoint that " \
    "--resume continues; only --epochs may change then."


def register(subparsers) -> None:
    _parser(subparsers, "xor", "learn XOR with the tutorial's [4, 4, 1] network by full-batch "
            "gradient steps", [4, 4, 1], 2000, 1.0, toy.XOR_INIT_SCALE).set_defaults(run=run_xor)
    disk = _parser(subparsers, "disk", "learn the disk: points of [-1, 1]^2, class 1 inside the "
                   "disk of radius sqrt(2/pi); accuracy on fresh points", [16, 16, 1], 100, 0.3,
                   dict.fromkeys(toy.HIDDEN_ACTIVATIONS, 1.0))
    disk.add_argument("--batch-size", type=positive_int, default=32, help="default 32")
    disk.add_argument("--train-points", type=positive_int, default=5000, help="default 5000")
    disk.add_argument("--test-points", type=positive_int, default=1000, help="default 1000")
    disk.set_defaults(lr_schedule=toy.DISK_LR_SCHEDULE, run=run_disk)  # cosine: see toy
    sweep = _parser(subparsers, "lr-sweep", "XOR from the same initial weights with each "
                    "learning rate: converged, slow or diverged", [4, 4, 1], 2000, 1.0,
                    toy.XOR_INIT_SCALE, resume=False)
    sweep.add_argument("--lrs", type=positive_float, nargs="+", metavar="LR",
                       default=list(toy.SWEEP_LEARNING_RATES), help="default %(default)s")
    sweep.set_defaults(run=run_lr_sweep)


def _parser(subparsers, name: str, summary: str, layers: list[int], epochs: int, lr: float,
            scales: dict[str, float], resume: bool = True):
    parser = subparsers.add_parser(name, help=summary, description=summary + (
        "." + ON_RESUME if resume else "; a divergence does not stop the sweep."))
    parser.add_argument("--layers", type=positive_int, nargs="+", default=layers, metavar="N",
                        help=f"layer sizes after the two inputs, the last one 1 (default {layers})")
    parser.add_argument("--activation", choices=toy.HIDDEN_ACTIVATIONS, default="tanh",
                        help="hidden-layer activation; the output is a sigmoid (default tanh)")
    parser.add_argument("--init-scale", type=positive_float, default=None, metavar="S",
                        help="multiply the first layer's initial weights by S (default "
                        + ", ".join(f"{v:g} for {k}" for k, v in scales.items()) + ")")
    parser.add_argument("--epochs", type=positive_int, default=epochs,
                        help=f"passes over the training points, in all (default {epochs})")
    add_optimizer_arguments(parser, default_lr=lr)
    add_run_arguments(parser, resume=resume)
    parser.set_defaults(init_scales=scales)
    return parser


def _start(args: argparse.Namespace, command: str) -> tuple[CommandRun, GraphModel | None]:
    """The run, and with --resume the checkpoint's model, whose options become ``args``'."""
    if args.layers[-1] != 1:  # one output: the probability of class 1
        raise DagnetError(f"--layers must end with 1, got {' '.join(map(str, args.layers))}")
    run = CommandRun(args, command, FIXED)
    if getattr(args, "resume", None) is None:
        args.init_scale = args.init_scale or args.init_scales[args.activation]
        return run, None
    model = GraphModel.load(args.resume)
    saved = training_state(model, args.resume)["options"]
    run.check_resume(saved)  # the checkpoint's value for every option not given again
    return run, model


def _train(args, run: CommandRun, model: GraphModel | None, total_steps: int, trainer):
    """Train a new network, or the checkpoint's, on ``trainer(model, optimizer, extensions)``."""
    if model is not None:
        optimizer = optimizer_from_checkpoint(model, args.resume)
    else:
        model = toy.toy_network(args.layers, args.activation, args.init_scale,
                                toy.streams(args.seed)["init"], args.dtype)
        optimizer = make_optimizer(args, model.parameter_nodes, total_steps=total_steps)
        model.metadata = {"command": run.command, "seed": args.seed, "layers": args.layers,
                          "activation": args.activation}
    model.debug = run.debug
    run.record.add_file("checkpoint", run.folder / toy.MODEL_FILE)
    every = (1, "epoch") if run.command == "disk" else None  # xor: when the run ends
    checkpoint = Checkpoint(run.folder, toy.MODEL_FILE, every, options=run.options())
    trainer = trainer(model, optimizer, run.extensions(checkpoint=checkpoint, report=False))
    if args.resume is not None:
        resume(trainer, args.resume)
    return model, optimizer, run.train(trainer)


def _settings(args) -> dict:
    keys = ("layers", "activation", "init_scale", "optimizer", "lr", "epochs", "dtype")
    return {key: getattr(args, key) for key in keys}


def run_xor(args: argparse.Namespace) -> int:
    run, model = _start(args, "xor")
    args.log_every = getattr(args, "log_every", None) or toy.log_interval(args.epochs)
    model, optimizer, history = _train(args, run, model, args.epochs, partial(
        toy.xor_trainer, epochs=args.epochs, log_every=args.log_every))
    result = toy.xor_result(model, run.folder, history.entries,
                            f"XOR, {args.activation} {args.layers}")
    return run.finish(
        f"xor: {result['accuracy']:.0%} of the 4 points right, cost {result['final_cost']:.3g} "
        "per example, outputs " + " ".join(f"{o:.3f}" for o in result["outputs"].values()),
        **result, **_settings(args), optimizer_config=optimizer.config(), history=history.entries)


def run_disk(args: argparse.Namespace) -> int:
    run, model = _start(args, "disk")
    streams = toy.streams(args.seed)
    train = data.disk(args.train_points, streams["train"], args.dtype)
    test = data.disk(args.test_points, streams["test"], args.dtype)
    model, optimizer, history = _train(
        args, run, model, args.epochs * -(-args.train_points // args.batch_size), partial(
            toy.disk_trainer, train=train, test=test, batch_size=args.batch_size,
            epochs=args.epochs, rng=streams["shuffle"]))
    result = toy.disk_result(model, train, test, run.folder, history.entries,
                             f"disk, {args.activation} {args.layers}")
    return run.finish(
        f"disk: {result['accuracy']:.1%} of {args.test_points:,} fresh points right (training "
        f"points {result['train_accuracy']:.1%}, cost {result['final_cost']:.3g})", **result,
        **_settings(args), optimizer_config=optimizer.config(), batch_size=args.batch_size,
        history=history.entries, train_points=args.train_points, test_points=args.test_points)


def run_lr_sweep(args: argparse.Namespace) -> int:
    if args.lr is not None:
        raise DagnetError("lr-sweep chooses the learning rates itself: give them with --lrs, "
                          "not --lr")
    run, _ = _start(args, "lr-sweep")
    runs = toy.sweep_learning_rates(
        lambda: toy.toy_network(args.layers, args.activation, args.init_scale,
                                toy.streams(args.seed)["init"], args.dtype),
        lambda model, lr: make_optimizer(argparse.Namespace(**vars(args) | {"lr": lr}),
                                         model.parameter_nodes, total_steps=args.epochs),
        sorted(set(args.lrs)), args.epochs,
        lambda lr: [Interrupt(), ProgressBar(False if run.quiet else None, f"lr {lr:g}"),
                    *run.profiling()])
    summary = toy.sweep_summary(runs)
    figures, files = toy.save_sweep(run.folder, runs, f"XOR, {args.activation} {args.layers}, "
                                    f"{args.optimizer}", {"command": "lr-sweep", "seed": args.seed})
    for role, path in files.items():
        run.record.add_file(role, path)
    return run.finish(
        f"lr-sweep: converged {summary['converged']}, slow {summary['slow']}, diverged "
        f"{summary['diverged']}; best lr {summary['best_lr']}", **summary, **_settings(args),
        figures=figures)
