"""The optimizer options every training command shares: --optimizer, --lr, the
algorithms' hyperparameters and the training controls.

The hyperparameter flags are derived from the registered algorithms'
declarations (``dagnet.optim.hyperparameters``): one flag per distinct name
(``beta1`` -> ``--beta1``), its help text from the declarations' help, defaults
and intervals.  A newly registered optimizer gets its flags without editing
this file.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from dagnet.argtypes import (
    finite_float,
    integer,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from dagnet.errors import DagnetError
from dagnet.node import ParameterNode
from dagnet.optim import (
    ALIASES,
    OPTIMIZERS,
    Hyperparameter,
    LRSchedule,
    OptimizationAlgorithm,
    optimizer_class,
    optimizer_name,
)
from dagnet.optim.base import make_optimizer as build_optimizer
from dagnet.optim.schedules import build_schedule


def add_optimizer_arguments(parser: argparse.ArgumentParser, default: str = "gd",
                            default_lr: float = 0.1) -> None:
    """--optimizer NAME, --lr, each algorithm's options and the training controls.

    Shared by every training command.  ``default_lr`` is the learning rate of the
    ``default`` optimizer; another optimizer without --lr gets its own default
    (``OptimizationAlgorithm.default_learning_rate``).  Options left unset take
    the algorithm's defaults; options that do not apply to the chosen algorithm
    are refused by ``make_optimizer``.
    """
    default = optimizer_name(default)
    group = parser.add_argument_group(
        "optimizer", "the optimization algorithm and its training controls (see "
                     "docs/optimizers.md); a step is one mini-batch update")
    aliases = "".join(f"; {alias} is {name}" for alias, name in ALIASES.items())
    group.add_argument("--optimizer", choices=list(OPTIMIZERS) + list(ALIASES),
                       default=default, help=f"optimization algorithm (default "
                                             f"%(default)s){aliases}")
    group.add_argument("--lr", type=positive_float, default=None,
                       help=f"learning rate (default {default_lr:g} for {default}, else the "
                            "algorithm's own default: "
                            + ", ".join(f"{name} {cls.default_learning_rate:g}"
                                        for name, cls in OPTIMIZERS.items()
                                        if name != default) + ")")
    parser.set_defaults(optimizer_default=default, optimizer_default_lr=default_lr)
    for name, declarations in algorithm_options().items():
        _add_hyperparameter_flag(group, name, declarations)
    _add_control_arguments(group)


def algorithm_options() -> dict[str, dict[str, Hyperparameter]]:
    """Hyperparameter name -> {algorithm name: its declaration}, for every hyperparameter
    of the registered algorithms but the learning rate (--lr), in registration order."""
    options: dict[str, dict[str, Hyperparameter]] = {}
    for algorithm, cls in OPTIMIZERS.items():
        for hyperparameter in cls.hyperparameters:
            if hyperparameter.name != "learning_rate":
                options.setdefault(hyperparameter.name, {})[algorithm] = hyperparameter
    return options


def flag(name: str) -> str:
    """The command-line flag of a hyperparameter: beta1 -> --beta1, momentum_decay ->
    --momentum-decay."""
    return "--" + name.replace("_", "-")


def _add_hyperparameter_flag(group, name: str, declarations: dict[str, Hyperparameter]
                             ) -> None:
    """One flag for the hyperparameter ``name`` of every algorithm that declares it."""
    kinds = {h.kind for h in declarations.values()}
    if len(kinds) > 1:
        raise TypeError(f"hyperparameter {name!r} is declared with different kinds "
                        f"({', '.join(f'{a}: {h.kind.__name__}' for a, h in declarations.items())}"
                        "): one flag cannot serve them; rename one")
    kind = kinds.pop()
    text = _help(declarations).replace("%", "%%")  # argparse formats help with %
    if kind is bool:
        group.add_argument(flag(name), action=argparse.BooleanOptionalAction, default=None,
                           help=text)
    else:
        group.add_argument(flag(name), type=finite_float if kind is float else integer,
                           default=None, metavar=name.upper(), help=text)


def _help(declarations: dict[str, Hyperparameter]) -> str:
    """"a, b: help, in [0.0, 1.0) (default 0.9); c: ...": the algorithms that declare the
    same help text together, their defaults grouped where they differ."""
    by_help: dict[tuple, dict[str, list[str]]] = {}
    for algorithm, h in declarations.items():
        by_default = by_help.setdefault((h.help, h.interval, h.kind), {})
        by_default.setdefault(_shown(h.default), []).append(algorithm)
    parts = []
    for (text, interval, kind), by_default in by_help.items():
        where = "" if kind is bool else f", in {interval}"
        if len(by_default) == 1:
            [(default, algorithms)] = by_default.items()
            parts.append(f"{', '.join(algorithms)}: {text}{where} (default {default})")
        else:
            names = ", ".join(f"{', '.join(algorithms)} (default {default})"
                              for default, algorithms in by_default.items())
            parts.append(f"{names}: {text}{where}")
    return "; ".join(parts)


def _shown(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}"


def _add_control_arguments(group) -> None:
    """Weight decay, clipping and the learning-rate schedule: the same for every algorithm."""
    group.add_argument("--weight-decay", type=non_negative_float, default=0.0, metavar="LAMBDA",
                       help="weight decay (default %(default)s; 0: none)")
    group.add_argument("--weight-decay-mode", choices=["decoupled", "l2"], default="decoupled",
                       help="decoupled: w <- (1 - LAMBDA) w - lr d (the tutorial's, AdamW's); "
                            "l2: LAMBDA w added to the gradient (default %(default)s)")
    group.add_argument("--weight-decay-vectors", action=argparse.BooleanOptionalAction,
                       default=True, help="decay the 1-D parameters (biases, gains) too; "
                                          "--no-weight-decay-vectors: matrices only (default on)")
    group.add_argument("--clip-norm", type=positive_float, default=None, metavar="NORM",
                       help="rescale the gradients when their global L2 norm exceeds NORM")
    group.add_argument("--clip-value", type=positive_float, default=None, metavar="VALUE",
                       help="clip every gradient component to [-VALUE, VALUE]")
    group.add_argument("--lr-schedule", choices=["constant", "step", "exponential", "cosine"],
                       default="constant", help="learning-rate schedule (default %(default)s)")
    group.add_argument("--lr-step-size", type=positive_int, default=None, metavar="STEPS",
                       help="step schedule: multiply the rate by --lr-gamma every STEPS steps")
    group.add_argument("--lr-gamma", type=positive_float, default=None, metavar="GAMMA",
                       help="step and exponential schedules: the factor (exponential: per "
                            "step; step default 0.1)")
    group.add_argument("--lr-total-steps", type=positive_int, default=None, metavar="STEPS",
                       help="cosine schedule: steps from the full rate down to the minimum "
                            "(default: the whole run, after warm-up)")
    group.add_argument("--lr-min-factor", type=non_negative_float, default=None, metavar="FACTOR",
                       help="cosine schedule: the final rate as a fraction of --lr (default 0)")
    group.add_argument("--warmup-steps", type=non_negative_int, default=0, metavar="STEPS",
                       help="linear warm-up from lr/STEPS to lr over the first STEPS steps, "
                            "before the schedule (default %(default)s; 0: none)")


def make_optimizer(args: argparse.Namespace, parameter_nodes: Sequence[ParameterNode],
                   total_steps: int | None = None) -> OptimizationAlgorithm:
    """The optimizer that the options of ``add_optimizer_arguments`` describe.

    ``total_steps`` (the number of updates the run will make, when the command
    knows it) is the default length of a cosine schedule.  Sets ``args.lr`` to
    the learning rate used and ``args.optimizer`` to the algorithm's registered
    name (an alias such as sgd becomes gd).  Bad or inapplicable options raise
    DagnetError.
    """
    try:
        name = args.optimizer = optimizer_name(args.optimizer)
    except ValueError as exc:
        raise DagnetError(f"--optimizer: {exc}") from None
    cls = optimizer_class(name)
    if getattr(args, "lr", None) is None:
        args.lr = (getattr(args, "optimizer_default_lr", cls.default_learning_rate)
                   if name == getattr(args, "optimizer_default", name)
                   else cls.default_learning_rate)
    options = _hyperparameter_options(args, name)
    try:
        schedule = _schedule(args, total_steps)
        return build_optimizer(
            name, parameter_nodes, learning_rate=args.lr, **options,
            weight_decay=getattr(args, "weight_decay", 0.0),
            weight_decay_mode=getattr(args, "weight_decay_mode", "decoupled"),
            weight_decay_vectors=getattr(args, "weight_decay_vectors", True),
            clip_norm=getattr(args, "clip_norm", None),
            clip_value=getattr(args, "clip_value", None), schedule=schedule)
    except ValueError as exc:  # hyperparameters are validated by the constructors
        raise DagnetError(str(exc)) from None


def _hyperparameter_options(args: argparse.Namespace, name: str) -> dict:
    """The algorithm's hyperparameters given on the command line; a DagnetError for one
    given that ``name`` does not take."""
    options = {}
    for key, declarations in algorithm_options().items():
        value = getattr(args, key, None)
        if value is None:
            continue
        if name not in declarations:
            raise DagnetError(f"{flag(key)} does not apply to --optimizer {name} (it applies "
                              f"to {', '.join(declarations)})")
        options[key] = value
    return options


def _schedule(args: argparse.Namespace, total_steps: int | None) -> LRSchedule | None:
    """The learning-rate schedule of --lr-schedule and its options, with --warmup-steps
    (and nanoGPT's ramp where a command sets ``warmup_ramp_to_inner``: ``gpt train``)."""
    options = {key: getattr(args, f"lr_{key}", None)
               for key in ("step_size", "gamma", "total_steps", "min_factor")}
    try:
        return build_schedule(getattr(args, "lr_schedule", "constant"),
                              warmup_steps=getattr(args, "warmup_steps", 0) or 0,
                              run_steps=total_steps,
                              ramp_to_inner=getattr(args, "warmup_ramp_to_inner", False),
                              **options)
    except ValueError as exc:  # name the flags, not the library's keywords
        message = str(exc)
        for key in options:
            message = message.replace(key, flag(f"lr_{key}"))
        raise DagnetError(message.replace("schedule ", "--lr-schedule ", 1)) from None
