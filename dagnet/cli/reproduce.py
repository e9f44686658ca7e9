"""``dagnet reproduce``: re-run every part of the tutorial series and write one page.

Each experiment of ``dagnet.reproduce.experiments`` is a ``dagnet`` command line,
run in this process by ``dagnet.cli.main`` into its own subfolder of --out, its
output kept in that subfolder's log.txt.  An experiment whose data cannot be found
is recorded as skipped with the reason; one that fails is recorded with its error,
and the run goes on.  After every experiment the folder's metrics.json (the record
of the runs) and index.html are rewritten, so an interrupted run still has its page.
``--only`` re-runs some experiments into an existing folder and keeps the others'
records; ``--docs`` copies the figures the tutorial pages show into DOCS/results and
rewrites their generated blocks.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import shlex
import shutil
import sys
import time
import traceback
from pathlib import Path

from dagnet.cli.common import add_debug_argument, run_folder, say, write_metrics
from dagnet.errors import DagnetError, DataError
from dagnet.files import atomic_write_text
from dagnet.reproduce import report
from dagnet.reproduce.experiments import (
    BUDGETS,
    EXPERIMENTS,
    PARTS,
    Context,
    Experiment,
    display_command,
    sample_argv,
    select,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "reproduce", help="re-run every part of the tutorial series; write index.html",
        description="Run every part's experiment with dagnet's own commands (XOR and the "
                    "disk with tanh and ReLU, the learning-rate sweep, MNIST [10] and "
                    "[128, 64, 10], the Reber grammars with RNN and LSTM, the optimizers, "
                    "char-rnn on tiny Shakespeare), each into its own subfolder of --out, "
                    "and write --out/index.html: every figure, the tutorial's figures beside "
                    "dagnet's, generated text, timings and the environment.  Experiments "
                    "whose data are missing are reported as skipped; one that fails is "
                    "reported with its error and the others still run.  Exit code 1 when an "
                    "experiment failed.")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--quick", dest="budget", action="store_const", const="quick",
                        help="smaller budgets for what takes minutes: the whole series in "
                             "under 15 minutes on 2 cores (the page says so)")
    budget.add_argument("--budget", dest="budget", choices=BUDGETS,
                        help="full (default): the budgets that reach the issues' targets; "
                             "quick: as --quick; tiny: seconds, a smoke test")
    parser.set_defaults(budget="full")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the page and one subfolder per experiment "
                             "(default: runs/reproduce-<timestamp>/)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding mnist/ (the four IDX files) and "
                             "tinyshakespeare/input.txt (default: each command's own search: "
                             "$DAGNET_DATA_DIR, the cache, a download)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed for every command (default: each command's own default)")
    parser.add_argument("--only", nargs="+", metavar="NAME", default=None,
                        help="run only these experiments or parts (part1 … part6); the "
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
    parser.set_defaults(run=run_reproduce)


# -- data ------------------------------------------------------------------------------

class DataLocator:
    """Finds MNIST and the char-rnn corpus once, or the reason they are missing."""

    def __init__(self, data_dir: Path | None):
        self.data_dir = data_dir
        self.found: dict[str, Path | str] = {}

    def locate(self, kind: str) -> Path:
        """The MNIST folder or the text file; DataError with the reason when missing."""
        if kind not in self.found:
            try:
                self.found[kind] = self._mnist() if kind == "mnist" else self._text()
            except DataError as exc:
                self.found[kind] = str(exc)
        found = self.found[kind]
        if isinstance(found, str):
            raise DataError(found)
        return found

    def _mnist(self) -> Path:
        from dagnet.data.mnist import FILE_NAMES, locate_mnist

        if self.data_dir is None:
            return locate_mnist(None, progress=None)[0].parent
        folder = self.data_dir / "mnist"
        missing = [name for name in FILE_NAMES
                   if not ((folder / name).is_file() or (folder / f"{name}.gz").is_file())]
        if missing:
            raise DataError(f"MNIST not found: {folder} (from --data-dir) lacks "
                            f"{', '.join(missing)} (raw or .gz)")
        return folder

    def _text(self) -> Path:
        from dagnet.data.text import locate_tiny_shakespeare

        if self.data_dir is None:
            return locate_tiny_shakespeare(progress=None)
        path = self.data_dir / "tinyshakespeare" / "input.txt"
        if not path.is_file():
            raise DataError(f"tiny Shakespeare not found: no file {path} (from --data-dir)")
        return path


# -- running one experiment ------------------------------------------------------------------

class _Tee(io.TextIOBase):
    """Writes to the log (and the terminal with --verbose), keeping the text."""

    def __init__(self, log, echo=None):
        self.log, self.echo, self.lines = log, echo, []

    def write(self, text: str) -> int:
        self.log.write(text)
        self.log.flush()
        if self.echo is not None:
            self.echo.write(text)
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        self.log.flush()

    def last_line(self) -> str:
        lines = [line.strip() for line in "".join(self.lines).splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("dagnet ") and "error" in line]
        return (errors or lines or ["(no output)"])[-1]


def _call(argv: list[str], log, verbose: bool, debug: bool, stdout=None) -> tuple[int, str]:
    """``dagnet.cli.main(argv)``, its output into ``log``; (exit code, error or '')."""
    from dagnet.cli import main

    tee = _Tee(log, sys.stderr if verbose else None)
    log.write(f"$ dagnet {shlex.join(argv)}\n")
    try:
        with contextlib.redirect_stderr(tee), contextlib.redirect_stdout(stdout or tee):
            code = main((["--debug"] if debug else []) + argv)
    except SystemExit as exc:  # argparse refused an option (it printed why)
        code = exc.code if isinstance(exc.code, int) else 2
    except Exception as exc:  # noqa: BLE001 - a failing experiment must not stop the others
        traceback.print_exc(file=log)
        return 1, f"{type(exc).__name__}: {exc}"
    return code, ("" if code == 0 else tee.last_line())


def run_experiment(experiment: Experiment, context: Context, root: Path, verbose: bool = False,
                   debug: bool = False) -> dict:
    """Run one experiment into root/<name>/; its record (status, commands, seconds, error)."""
    folder = root / experiment.name
    folder.mkdir(parents=True, exist_ok=True)
    record = {"name": experiment.name, "part": experiment.part, "title": experiment.title,
              "budget": context.budget, "started": _now(), "commands": []}
    started = time.perf_counter()
    with open(folder / report.LOG, "w", encoding="utf-8") as log:
        argv = experiment.argv(context) + ["--out", str(folder), "--no-progress"]
        record["commands"].append(argv)
        code, error = _call(argv, log, verbose, debug)
        if code == 0 and experiment.sample:
            metrics = report.experiment_metrics(root, experiment.name) or {}
            checkpoint = metrics.get("best_checkpoint")
            if not checkpoint or not (folder / checkpoint).is_file():
                code, error = 1, f"no best checkpoint in {folder} to sample from"
            else:
                argv = sample_argv(context, folder / checkpoint)
                record["commands"].append(argv)
                text = io.StringIO()
                code, error = _call(argv, log, verbose, debug, stdout=text)
                if code == 0:
                    atomic_write_text(folder / report.SAMPLE, text.getvalue())
    record["seconds"] = time.perf_counter() - started
    if code == 0:
        record["status"] = "ok"
    elif code == 130:
        record["status"], record["error"] = "interrupted", error or "interrupted"
    else:
        record["status"], record["error"] = "failed", error
    return record


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


# -- dagnet reproduce ------------------------------------------------------------------------

def _previous_run(folder: Path) -> dict | None:
    previous = report.read_json(folder / "metrics.json")
    if previous is not None and previous.get("command") == "reproduce":
        return previous
    return None


def _prepare(folder: Path, chosen: list[Experiment], previous: dict | None) -> None:
    """Empty the experiments' subfolders, refusing folders that reproduce did not write."""
    for experiment in chosen:
        sub = folder / experiment.name
        if not sub.exists() or (sub.is_dir() and not any(sub.iterdir())):
            continue
        if previous is None:
            raise DagnetError(f"{sub} already holds files that dagnet reproduce did not "
                              "write: choose a new or empty --out")
        shutil.rmtree(sub)


def _result_line(experiment: Experiment, record: dict, root: Path) -> str:
    status = record["status"]
    if status == "skipped":
        return f"skipped: {record['reason']}"
    if status != "ok":
        return f"{status} after {record['seconds']:.1f} s: {record['error']}"
    shown = "; ".join(f"{h['quantity']} {h['dagnet']}" for h in report.headlines(root, record))
    return f"ok in {record['seconds']:.1f} s" + (f": {shown}" if shown else "")


def run_reproduce(args: argparse.Namespace) -> int:
    try:
        chosen = select(args.only)
    except KeyError as exc:
        raise DagnetError(f"--only: no experiment or part {exc.args[0]!r}; choose among "
                          + ", ".join([e.name for e in EXPERIMENTS]
                                      + [f"part{k}" for k in PARTS])) from None
    if args.report_only:
        if args.out is None:
            raise DagnetError("--report-only needs --out: the folder of an earlier run")
        previous = _previous_run(args.out)
        if previous is None:
            raise DagnetError(f"{args.out}: no metrics.json of dagnet reproduce to report on")
        return _finish(args, args.out, previous, ran=[], interrupted=False)

    started_at, started = _now(), time.perf_counter()
    folder = run_folder(args, "reproduce")
    previous = _previous_run(folder)
    _prepare(folder, chosen, previous)
    command_line = "dagnet reproduce " + shlex.join(_own_argv(args))
    run = {"command": "reproduce", "command_line": command_line, "budget": args.budget,
           "seed": args.seed, "data_dir": args.data_dir, "environment": report.machine(),
           "invocations": [], "experiments": {}}
    if previous is not None and args.only:
        run["invocations"] = previous.get("invocations", [])
        run["experiments"] = {name: record for name, record in previous["experiments"].items()
                              if name not in {e.name for e in chosen}}
    invocation = {"command": command_line, "started": started_at, "seconds": 0.0}
    run["invocations"].append(invocation)
    context = Context(budget=args.budget, seed=args.seed)
    data = DataLocator(args.data_dir)
    say(f"dagnet reproduce: {len(chosen)} experiments, {args.budget} budget, into {folder}/")
    interrupted = False
    width = len(str(len(chosen)))
    for k, experiment in enumerate(chosen, 1):
        tag = f"[{k:>{width}}/{len(chosen)}] {experiment.name}"
        try:
            if experiment.data == "mnist":
                context.mnist_dir = data.locate("mnist")
            elif experiment.data == "text":
                context.text_file = data.locate("text")
        except DataError as exc:
            record = {"name": experiment.name, "part": experiment.part,
                      "title": experiment.title, "budget": args.budget, "status": "skipped",
                      "reason": str(exc), "started": _now(), "seconds": None}
        else:
            say(f"{tag}: {display_command(experiment.argv(context))}")
            try:
                record = run_experiment(experiment, context, folder, args.verbose,
                                        bool(getattr(args, "debug", False)))
            except KeyboardInterrupt:
                record = {"name": experiment.name, "part": experiment.part,
                          "title": experiment.title, "budget": args.budget,
                          "status": "interrupted", "error": "interrupted (Ctrl-C)",
                          "started": _now(), "seconds": None}
        run["experiments"][experiment.name] = record
        say(f"{tag}: {_result_line(experiment, record, folder)}")
        invocation["seconds"] = time.perf_counter() - started
        _save(folder, run)
        if record["status"] == "interrupted":
            interrupted = True
            break
    return _finish(args, folder, run, [e.name for e in chosen], interrupted)


def _own_argv(args: argparse.Namespace) -> list[str]:
    """The options of this invocation, as a reader would retype them."""
    argv = []
    if args.budget != "full":
        argv += ["--budget", args.budget]
    for flag, value in (("--out", args.out), ("--data-dir", args.data_dir),
                        ("--seed", args.seed), ("--docs", args.docs)):
        if value is not None:
            argv += [flag, str(value)]
    if args.only:
        argv += ["--only", *args.only]
    return argv


def _save(folder: Path, run: dict) -> None:
    write_metrics(folder, run)
    report.write_page(folder, run)


def _finish(args: argparse.Namespace, folder: Path, run: dict, ran: list[str],
            interrupted: bool) -> int:
    """Page and docs; exit code 1 when an experiment of this invocation (``ran``) failed."""
    page = report.write_page(folder, run)
    if args.docs is not None:
        from dagnet.reproduce.docs import update_docs

        written = update_docs(folder, run, args.docs)
        say(f"docs: rewrote {len(written)} page(s) and their figures under {args.docs}/")
    records = run["experiments"].values()
    failed = [r["name"] for r in records if r["status"] == "failed" and r["name"] in ran]
    skipped = [r["name"] for r in records if r["status"] == "skipped" and r["name"] in ran]
    say(f"wrote {page}"
        + (f"; skipped {', '.join(skipped)}" if skipped else "")
        + (f"; FAILED {', '.join(failed)}" if failed else ""))
    if interrupted:
        return 130
    return 1 if failed else 0
