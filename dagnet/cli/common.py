"""What every CLI command shares: run folders, seeds, metrics.json, error reporting."""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dagnet.errors import DagnetError
from dagnet.files import write_json


def add_run_arguments(parser: argparse.ArgumentParser, default_seed: int = 0) -> None:
    """--out, --seed, --no-progress and --debug, for commands that write a run folder."""
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the figures, metrics.json and the model "
                             "(default: runs/<command>-<timestamp>/)")
    parser.add_argument("--seed", type=int, default=default_seed,
                        help=f"random seed; the same seed gives the same run (default "
                             f"{default_seed})")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_debug_argument(parser)


def add_debug_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show full tracebacks and check every node for NaN/inf")


def add_optimizer_arguments(parser: argparse.ArgumentParser, default: str = "gd",
                            default_lr: float = 0.1) -> None:
    """--optimizer NAME, --lr, each algorithm's options and the training controls.

    Shared by every training command.  ``default_lr`` is the learning rate of the
    ``default`` optimizer; another optimizer without --lr gets its own default
    (``OptimizationAlgorithm.default_learning_rate``).  Options left unset take
    the algorithm's defaults; options that do not apply to the chosen algorithm
    are refused by ``make_optimizer``.
    """
    from dagnet.optim import OPTIMIZERS

    group = parser.add_argument_group(
        "optimizer", "the optimization algorithm and its training controls (see "
                     "docs/optimizers.md); a step is one mini-batch update")
    group.add_argument("--optimizer", choices=list(OPTIMIZERS), default=default,
                       help="optimization algorithm (default %(default)s)")
    group.add_argument("--lr", type=float, default=None,
                       help=f"learning rate (default {default_lr:g} for {default}, else the "
                            "algorithm's own default: "
                            + ", ".join(f"{name} {cls.default_learning_rate:g}"
                                        for name, cls in OPTIMIZERS.items()
                                        if name != default) + ")")
    parser.set_defaults(optimizer_default=default, optimizer_default_lr=default_lr)
    for flag, kind, text in _ALGORITHM_OPTIONS:
        group.add_argument(flag, type=kind, default=None, metavar=flag.lstrip("-").upper()
                           .replace("-", "_"), help=text)
    group.add_argument("--eps-inside-max", action="store_const", const=True, default=None,
                       help="adamax: PyTorch's u = max(beta2 u, |g| + eps) instead of "
                            "dividing by u + eps")
    group.add_argument("--weight-decay", type=float, default=0.0, metavar="LAMBDA",
                       help="weight decay (default %(default)s; 0: none)")
    group.add_argument("--weight-decay-mode", choices=["decoupled", "l2"], default="decoupled",
                       help="decoupled: w <- (1 - LAMBDA) w - lr d (the tutorial's, AdamW's); "
                            "l2: LAMBDA w added to the gradient (default %(default)s)")
    group.add_argument("--clip-norm", type=float, default=None, metavar="NORM",
                       help="rescale the gradients when their global L2 norm exceeds NORM")
    group.add_argument("--clip-value", type=float, default=None, metavar="VALUE",
                       help="clip every gradient component to [-VALUE, VALUE]")
    group.add_argument("--lr-schedule", choices=["constant", "step", "exponential", "cosine"],
                       default="constant", help="learning-rate schedule (default %(default)s)")
    group.add_argument("--lr-step-size", type=int, default=None, metavar="STEPS",
                       help="step schedule: multiply the rate by --lr-gamma every STEPS steps")
    group.add_argument("--lr-gamma", type=float, default=None, metavar="GAMMA",
                       help="step and exponential schedules: the factor (exponential: per "
                            "step; step default 0.1)")
    group.add_argument("--lr-total-steps", type=int, default=None, metavar="STEPS",
                       help="cosine schedule: steps from the full rate down to the minimum "
                            "(default: the whole run, after warm-up)")
    group.add_argument("--lr-min-factor", type=float, default=None, metavar="FACTOR",
                       help="cosine schedule: the final rate as a fraction of --lr (default 0)")
    group.add_argument("--warmup-steps", type=int, default=0, metavar="STEPS",
                       help="linear warm-up from lr/STEPS to lr over the first STEPS steps, "
                            "before the schedule (default %(default)s; 0: none)")


# --flag, type, help: each passed to the constructor (as flag_name) only when given.
_ALGORITHM_OPTIONS = [
    ("--momentum", float, "momentum, nesterov: the momentum mu (default 0.9)"),
    ("--beta1", float, "adam, adamax, nadam: decay of the gradient average (default 0.9)"),
    ("--beta2", float, "adam, adamax, nadam: decay of the squared-gradient average or "
                       "of the maximum (default 0.999)"),
    ("--rho", float, "rmsprop (default 0.9), adadelta (default 0.95): decay of the "
                     "squared-gradient average"),
    ("--eps", float, "adagrad, rmsprop, adadelta, adam, adamax, nadam: epsilon of the "
                     "denominator"),
    ("--initial-accumulator", float, "adagrad: initial sum of squared gradients (default 0)"),
    ("--momentum-decay", float, "nadam: psi of the momentum schedule (default 0.004)"),
]


def make_optimizer(args: argparse.Namespace, parameter_nodes, total_steps: int | None = None):
    """The optimizer that the options of ``add_optimizer_arguments`` describe.

    ``total_steps`` (the number of updates the run will make, when the command
    knows it) is the default length of a cosine schedule.  Sets ``args.lr`` to
    the learning rate used.  Bad or inapplicable options raise DagnetError.
    """
    import inspect

    from dagnet.optim import (
        OPTIMIZERS,
        CosineSchedule,
        ExponentialSchedule,
        StepSchedule,
        WarmupSchedule,
    )

    name = args.optimizer
    cls = OPTIMIZERS[name]
    if getattr(args, "lr", None) is None:
        args.lr = (getattr(args, "optimizer_default_lr", cls.default_learning_rate)
                   if name == getattr(args, "optimizer_default", name)
                   else cls.default_learning_rate)
    accepted = inspect.signature(cls.__init__).parameters
    options = {}
    for flag in [flag for flag, _, _ in _ALGORITHM_OPTIONS] + ["--eps-inside-max"]:
        key = flag.lstrip("-").replace("-", "_")
        value = getattr(args, key, None)
        if value is None:
            continue
        if key not in accepted:
            raise DagnetError(f"{flag} does not apply to --optimizer {name}")
        options[key] = value

    schedule_name = getattr(args, "lr_schedule", "constant")
    given = {flag: getattr(args, flag.lstrip("-").replace("-", "_"), None)
             for flag in ("--lr-step-size", "--lr-gamma", "--lr-total-steps",
                          "--lr-min-factor")}
    uses = {"constant": (), "step": ("--lr-step-size", "--lr-gamma"),
            "exponential": ("--lr-gamma",), "cosine": ("--lr-total-steps", "--lr-min-factor")}
    for flag, value in given.items():
        if value is not None and flag not in uses[schedule_name]:
            raise DagnetError(f"{flag} does not apply to --lr-schedule {schedule_name}")
    warmup = getattr(args, "warmup_steps", 0) or 0
    try:
        schedule = None
        if schedule_name == "step":
            if given["--lr-step-size"] is None:
                raise DagnetError("--lr-schedule step needs --lr-step-size")
            gamma = given["--lr-gamma"]
            schedule = StepSchedule(given["--lr-step-size"], 0.1 if gamma is None else gamma)
        elif schedule_name == "exponential":
            if given["--lr-gamma"] is None:
                raise DagnetError("--lr-schedule exponential needs --lr-gamma")
            schedule = ExponentialSchedule(given["--lr-gamma"])
        elif schedule_name == "cosine":
            steps = given["--lr-total-steps"]
            if steps is None and total_steps is not None:
                steps = max(1, total_steps - warmup)
            if steps is None:
                raise DagnetError("--lr-schedule cosine needs --lr-total-steps")
            minimum = given["--lr-min-factor"]
            schedule = CosineSchedule(steps, 0.0 if minimum is None else minimum)
        if warmup:
            schedule = WarmupSchedule(warmup, schedule)
        return cls(parameter_nodes, args.lr, **options,
                   weight_decay=getattr(args, "weight_decay", 0.0),
                   weight_decay_mode=getattr(args, "weight_decay_mode", "decoupled"),
                   clip_norm=getattr(args, "clip_norm", None),
                   clip_value=getattr(args, "clip_value", None), schedule=schedule)
    except ValueError as exc:  # hyperparameters are validated by the constructors
        raise DagnetError(str(exc)) from None


def run_folder(args: argparse.Namespace, command: str) -> Path:
    """The run's output folder, created: ``--out`` or runs/<command>-<timestamp>/."""
    folder = args.out
    if folder is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = Path("runs") / f"{command}-{stamp}"
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def positive_int(text: str) -> int:
    """An argparse ``type`` for counts: epochs, batch sizes, layer sizes."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def seed_streams(seed: int, names: Sequence[str]) -> dict[str, np.random.Generator]:
    """Independent generators, one per use of randomness (``names``), all from one seed.

    ``SeedSequence(seed).spawn``: the same seed gives the same streams, and drawing
    more from one (say, more training points) leaves the others unchanged.  Keep
    the order of ``names`` fixed: stream k is the k-th child of the seed.
    """
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children)}


def progress_enabled(args: argparse.Namespace) -> bool | None:
    """None lets tqdm decide (a bar on a terminal only); False when --no-progress."""
    return False if getattr(args, "no_progress", False) else None


def environment() -> dict:
    """Versions and machine, recorded in metrics.json so a figure can be traced."""
    import dagnet

    return {"dagnet": dagnet.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine()}


def write_metrics(folder: Path, metrics: dict) -> Path:
    """Write ``folder/metrics.json`` (atomically), adding the environment."""
    metrics = dict(metrics)
    metrics.setdefault("environment", environment())
    return write_json(folder / "metrics.json", _jsonable(metrics))


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and value != value:
        return None
    return value


def say(message: str) -> None:
    """A line of the command's report, on stderr so stdout stays for data."""
    print(message, file=sys.stderr, flush=True)
