"""What every command shares: its flags, its run folder, its Trainer and its run record.

A training command is: arguments -> model and data -> ``Trainer.run`` -> run record.
``add_run_arguments`` declares the flags every training command has, with the same
meaning and default everywhere; ``CommandRun`` makes the run folder, the standard
extensions (divergence, Ctrl-C, progress, the metrics log, checkpoints), runs the
trainer and writes ``metrics.json`` however the run ends.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dagnet import distributed
from dagnet.errors import DagnetError
from dagnet.training import (
    LOG_FILE,
    Checkpoint,
    History,
    Interrupt,
    MetricsLog,
    ProgressBar,
    Report,
    RunRecord,
    StopOnNonFinite,
    TimeBudget,
    Trainer,
    check_options,
    jsonable,
)

DTYPES = ("float32", "float64")


# -- argument types: every bad value is refused by the parser, in one line ----------------------

def positive_int(text: str) -> int:
    """An argparse ``type`` for counts: epochs, batch sizes, layer sizes."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse ``type`` for seeds and lengths: 0, 1, 2..."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    """An argparse ``type`` for rates and budgets: a finite number > 0."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def finite_float(text: str) -> float:
    """An argparse ``type``: any finite number (the declared range is checked later)."""
    return _number(text)


def non_negative_float(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1), got {text}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def out_folder(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder, got an empty string")
    return Path(text)


# -- the flags ------------------------------------------------------------------------------------

def add_run_arguments(parser: argparse.ArgumentParser, *, data_help: str | None = None,
                      resume: bool = True) -> None:
    """--out, --seed, --dtype, --data, --resume, --quiet, --json, --config, --debug:
    the same meaning and default on every training command."""
    group = parser.add_argument_group("run", "where the run writes, its seed and data")
    group.add_argument("--out", type=out_folder, default=None, metavar="DIR",
                       help="folder for the figures, metrics.json, metrics.jsonl and the "
                            "model (default: runs/<command>-<timestamp>/; with --resume, "
                            "the checkpoint's folder)")
    group.add_argument("--seed", type=non_negative_int, default=0,
                       help="random seed; the same seed gives the same run, bit for bit "
                            "(default 0)")
    group.add_argument("--dtype", choices=DTYPES, default="float32",
                       help="floating-point type of weights and activations, end to end "
                            "(default float32)")
    if data_help is not None:
        group.add_argument("--data", type=Path, default=None, metavar="PATH", help=data_help)
    if resume:
        group.add_argument("--resume", type=Path, default=None, metavar="CHECKPOINT",
                           help="continue the run saved in CHECKPOINT exactly (its model, "
                                "optimizer, data position and generators); options that "
                                "contradict it are refused")
    group.add_argument("--quiet", action="store_true",
                       help="no progress bar and no report lines on stderr")
    group.add_argument("--json", action="store_true",
                       help="print a one-line JSON summary of the run on stdout")
    group.add_argument("--config", type=Path, default=None, metavar="FILE.toml",
                       help="read options from a TOML file (keys: the long flag names, "
                            "e.g. batch-size = 64); flags on the command line win")
    add_debug_argument(parser)


def add_debug_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show full tracebacks and check every node for NaN/inf")


def say(message: str) -> None:
    """A line of the command's report, on stderr so stdout stays for data."""
    print(message, file=sys.stderr, flush=True)


# -- a command's run ----------------------------------------------------------------------------

class CommandRun:
    """One run of a training command: its folder, record, extensions and end.

    ``fixed`` lists the options a resumed run may not change (architecture, data
    shape, dtype, optimizer); the others (epochs, budgets, learning rate...) may.

    Under ``mpirun -n K`` (K > 1) every rank runs the command and ``train`` trains
    data-parallel (``dagnet.distributed``); rank 0 alone writes and reports, the other
    ranks exit when training ends.
    """

    def __init__(self, args: argparse.Namespace, command: str, fixed: Sequence[str] = ()):
        self.args, self.command = args, command
        resumed = getattr(args, "resume", None)
        if resumed is not None and args.out is None:
            args.out = Path(resumed).parent
        self.folder = args.out or Path("runs") / (
            f"{command.replace(' ', '-')}-{datetime.datetime.now():%Y%m%d-%H%M%S}")
        self.world_size, self.root = distributed.launched_size(), distributed.is_root()
        if self.world_size > 1:
            distributed.require_mpi()
        if self.root:
            self.folder.mkdir(parents=True, exist_ok=True)
        self.record = RunRecord(self.folder, command, getattr(args, "argv", None), args.seed)
        self.fixed = list(fixed)
        self.quiet = bool(getattr(args, "quiet", False)) or not self.root

    @property
    def debug(self) -> bool:
        return bool(getattr(self.args, "debug", False))

    def options(self) -> dict:
        """The run's options, JSON-ready, as a checkpoint stores them."""
        skip = {"run", "argv", "given", "config", "resume", "out", "quiet", "json", "debug"}
        return jsonable({k: v for k, v in vars(self.args).items()
                         if k not in skip and not callable(v)})

    def check_resume(self, saved_options: dict) -> None:
        """Refuse a --resume whose explicit options contradict the checkpoint's, and take
        the checkpoint's value for every fixed option not given again."""
        given = {k: v for k, v in self.options().items()
                 if k in getattr(self.args, "given", set())}
        check_options(saved_options, given, self.fixed, self.args.resume)
        for key in self.fixed:
            if key in saved_options and key not in given:
                setattr(self.args, key, saved_options[key])

    def extensions(self, *, unit: str = "ex", description: str | None = None,
                   checkpoint: Checkpoint | None = None, budget: float | None = None,
                   report: bool = True, explosion_factor: float | None = None) -> list:
        """The extensions every command uses, plus ``checkpoint`` and a time ``budget``."""
        found = [StopOnNonFinite(explosion_factor), Interrupt(),
                 ProgressBar(False if self.quiet else None, description or self.command, unit,
                             budget=budget),
                 MetricsLog(self.folder / LOG_FILE)]
        if report and not self.quiet:
            found.append(Report(say))
        if budget is not None:
            found.append(TimeBudget(budget))
        if checkpoint is not None:
            found.append(checkpoint)
        return found

    def train(self, trainer: Trainer) -> History:
        """Run ``trainer``; a diverged run still gets its record before the error is
        reported.  NumPy's overflow warnings are silenced: divergence is reported once,
        by StopOnNonFinite, naming the epoch and the step.  Under mpirun the other ranks
        leave here (exit status 0, 1 or 130 as rank 0's): rank 0 reports the run."""
        try:
            if self.world_size > 1:
                distributed.wrap(trainer)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                history = trainer.run()
        except DagnetError:
            if not self.root:
                raise SystemExit(1) from None
            self.record.update(stop_reason=trainer.stop_reason or "error",
                               train_seconds=trainer.history.train_seconds,
                               final=trainer.history.last, best=trainer.history.best)
            self.record.add_file("log", self.folder / LOG_FILE)
            self.record.write()
            if not self.debug and trainer.stop_reason == "diverged":
                raise DagnetError(f"{trainer.error} (--debug names the first node whose "
                                  f"output or gradient is not finite; what there was is in "
                                  f"{self.folder})") from None
            raise
        if not self.root:
            raise SystemExit(130 if history.stop_reason == "interrupted" else 0)
        if self.world_size > 1:
            self.record.update(**trainer.model.summary())
        self.record.update(stop_reason=history.stop_reason,
                           train_seconds=history.train_seconds, final=history.last,
                           best=history.best)
        self.record.add_file("log", self.folder / LOG_FILE)
        return history

    def finish(self, summary: str, **figures) -> int:
        """Write metrics.json with ``figures``, print ``summary`` (and --json), and give the
        exit status: 130 for an interrupted run, else 0."""
        path = self.record.write(**figures)
        if not self.quiet:
            say(f"{summary}; wrote {self.folder}/")
        if getattr(self.args, "json", False):
            record = json.loads(path.read_text())
            keys = ("command", "seed", "stop_reason", "wall_seconds", "train_seconds", "final",
                    "best", "files")
            shown = {k: record[k] for k in keys} | {k: v for k, v in record.items()
                                                    if k in figures and not isinstance(
                                                        v, (list, dict))}
            print(json.dumps(shown | {"folder": str(self.folder)}), flush=True)
        if self.record.fields["stop_reason"] == "interrupted":
            checkpoint = self.record.fields["files"].get("checkpoint")
            say(f"{self.command}: interrupted" + (f"; continue with --resume "
                                                  f"{self.folder / checkpoint}"
                                                  if checkpoint else ""))
            return 130
        return 0
