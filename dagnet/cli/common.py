"""The optimizer options every training command shares (see dagnet/cli/run.py for the rest)."""

from __future__ import annotations

import argparse

from dagnet.errors import DagnetError


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


