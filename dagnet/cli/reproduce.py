"""``dagnet reproduce``: arguments -> ``dagnet.reproduce.runner`` with ``dagnet.cli.main``
as the command runner -> metrics.json, index.html and, with --docs, the tutorial pages."""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

from dagnet.argtypes import non_negative_int, out_folder
from dagnet.cli import main
from dagnet.cli.run import add_debug_argument
from dagnet.errors import DagnetError
from dagnet.reproduce import runner
from dagnet.reproduce.experiments import BUDGETS, EXPERIMENTS


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "reproduce", help="re-run every part of the tutorial series; write index.html",
        description="Run every part's experiment with dagnet's own commands (XOR and the "
                    "disk with tanh and ReLU, the learning-rate sweep, MNIST [10] and "
                    "[128, 64, 10], the Reber grammars with RNN and LSTM, the optimizers, "
                    "char-rnn and a GPT on tiny Shakespeare), each into its own subfolder "
                    "of --out, and write --out/index.html: every figure, the tutorial's "
                    "figures beside dagnet's, generated text, timings and the environment; "
                    "--out/metrics.json "
                    "is a run record with every experiment's status.  Experiments whose data "
                    "are missing are reported as skipped; one that fails is reported with its "
                    "error and the others still run.  Exit code 1 when an experiment failed, "
                    "130 when interrupted.")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--quick", dest="budget", action="store_const", const="quick",
                        help="smaller budgets for what takes minutes: the whole series in "
                             "under 15 minutes on 2 cores (the page says so)")
    budget.add_argument("--budget", dest="budget", choices=BUDGETS,
                        help="full (default): the budgets that reach the issues' targets; "
                             "quick: as --quick; tiny: seconds, a smoke test")
    parser.set_defaults(budget="full", run=run_reproduce)
    parser.add_argument("--out", type=out_folder, default=None, metavar="DIR",
                        help="folder for the page and one subfolder per experiment "
                             "(default: runs/reproduce-<timestamp>/)")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help="folder holding mnist/ (the four IDX files) and "
                             "tinyshakespeare/input.txt (default: each command's own search: "
                             "$DAGNET_DATA_DIR, the cache, a download)")
    parser.add_argument("--seed", type=non_negative_int, default=None,
                        help="seed for every command (default: each command's own default; "
                             "char-rnn: 123, the seed of its published figures)")
    parser.add_argument("--only", nargs="+", metavar="NAME", default=None,
                        help="run only these experiments or parts (part1 … part6, part8); the "
                             "other experiments recorded in --out stay on the page. "
                             "Experiments: " + ", ".join(e.name for e in EXPERIMENTS))
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: rewrite index.html (and --docs) from the "
                             "experiments already in --out")
    parser.add_argument("--docs", type=Path, default=None, metavar="DOCS_DIR",
                        help="also copy the figures the tutorial pages show into "
                             "DOCS_DIR/results and rewrite the generated blocks of "
                             "DOCS_DIR/part*.md (dagnet's docs/ folder)")
    parser.add_argument("--verbose", action="store_true",
                        help="show each command's own output as it runs (it is always kept "
                             "in the experiment's log.txt)")
    add_debug_argument(parser)


def run_reproduce(args: argparse.Namespace) -> int:
    settings = runner.Settings(args.budget, args.seed, args.data, args.docs, args.verbose,
                               bool(getattr(args, "debug", False)))
    if args.report_only:
        if args.out is None:
            raise DagnetError("--report-only needs --out: the folder of an earlier run")
        return runner.report_only(args.out, settings)
    folder = args.out or Path("runs") / f"reproduce-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    argv = getattr(args, "argv", None) or ["reproduce"]
    return runner.reproduce(main, folder, argv, settings, args.only)
