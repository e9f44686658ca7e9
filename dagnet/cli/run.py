"""What every command shares: its flags, its run folder, its Trainer and its run record.

A training command is: arguments -> model and data -> ``Trainer.run`` -> run record.
``add_run_arguments`` declares the flags every training command has, with the same
meaning and default everywhere; ``CommandRun`` makes the run folder, the standard
extensions (divergence, Ctrl-C, progress, the metrics log, checkpoints), runs the
trainer and writes ``metrics.json`` however the run ends.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from dagnet.argtypes import non_negative_int, out_folder, take_checkpoint_options, threads
from dagnet.distributed import DistributedRun
from dagnet.threads import set_threads
from dagnet.training import check_options, jsonable
from dagnet.training.run import say

DTYPES = ("float32", "float64")


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
    group.add_argument("--threads", type=threads, default="auto", metavar="N|auto",
                       help="BLAS threads: N, or auto (default): one per core other processes "
                            "leave free, measured at the start (dagnet.set_threads)")
    group.add_argument("--profile", action="store_true", help="time the nodes of every "
                       "training step: writes profile.json and profile.txt in the run folder")
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


# -- a command's run ----------------------------------------------------------------------------

class CommandRun(DistributedRun):
    """A ``dagnet.training.Run`` made from a command's arguments, with its resume rules;
    under ``mpirun -n K``, data-parallel (``dagnet.distributed.DistributedRun``).

    ``fixed`` lists the options a resumed run may not change (architecture, data
    shape, dtype, optimizer); the others (epochs, budgets, learning rate...) may.
    """

    def __init__(self, args: argparse.Namespace, command: str, fixed: Sequence[str] = ()):
        resumed = getattr(args, "resume", None)
        if resumed is not None and args.out is None:
            args.out = Path(resumed).parent
        set_threads(getattr(args, "threads", "auto"))
        super().__init__(command, args.out, argv=getattr(args, "argv", None), seed=args.seed,
                         quiet=bool(getattr(args, "quiet", False)),
                         debug=bool(getattr(args, "debug", False)),
                         profile=bool(getattr(args, "profile", False)))
        self.args, self.fixed = args, list(fixed)

    def options(self) -> dict:
        """The run's options, JSON-ready, as a checkpoint stores them."""
        skip = {"run", "argv", "given", "config", "resume", "out", "quiet", "json", "debug",
                "threads", "profile"}
        return jsonable({k: v for k, v in vars(self.args).items()
                         if k not in skip and not callable(v)})

    def check_resume(self, saved_options: dict) -> None:
        """Refuse a --resume whose explicit options contradict the checkpoint's, and take
        the checkpoint's value for every option not given again."""
        given = {k: v for k, v in self.options().items()
                 if k in getattr(self.args, "given", set())}
        check_options(saved_options, given, self.fixed, self.args.resume)
        take_checkpoint_options(self.args, saved_options)
        self.record.update(seed=self.args.seed)

    def finish(self, summary: str, **figures) -> int:
        """Write metrics.json with ``figures``, print ``summary`` (and --json), and give the
        exit status: 130 for an interrupted run, else 0."""
        line = super().finish(summary, **figures)
        if getattr(self.args, "json", False):
            print(json.dumps(line), flush=True)
        if self.interrupted:
            checkpoint = self.record.fields["files"].get("checkpoint")
            say(f"{self.command}: interrupted" + (f"; continue with --resume "
                                                  f"{self.folder / checkpoint}"
                                                  if checkpoint else ""))
            return 130
        return 0
