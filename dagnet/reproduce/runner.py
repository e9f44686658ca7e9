"""Running ``dagnet reproduce``: each experiment's ``dagnet`` command line in this process.

The command runner (``dagnet.cli.main``) comes in as a callable: the library never
imports the command line.  Each experiment runs into its own subfolder of the run
folder, its output kept in that subfolder's log.txt.  An experiment whose data cannot
be found is recorded as skipped with the reason; one that fails is recorded with its
error, and the run goes on.  After every experiment the folder's metrics.json (a run
record, with ``experiments`` and ``invocations``) and index.html are rewritten, so an
interrupted run still has its page.  Re-running some experiments into a folder keeps
the others' records.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import shlex
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dagnet.data.mnist import FILE_NAMES, locate_mnist
from dagnet.data.text import locate_tiny_shakespeare
from dagnet.errors import DagnetError, DataError
from dagnet.files import atomic_write_text
from dagnet.reproduce import report
from dagnet.reproduce.docs import update_docs
from dagnet.reproduce.experiments import (
    EXPERIMENTS,
    PARTS,
    Context,
    Experiment,
    best_checkpoint,
    display_command,
    sample_argv,
    select,
)
from dagnet.training import RunRecord
from dagnet.training.run import say

Command = Callable[[list[str]], int]  # ``dagnet.cli.main``: argv after ``dagnet`` -> exit code


@dataclass
class Settings:
    """What one ``dagnet reproduce`` invocation was asked to do."""

    budget: str = "full"
    seed: int | None = None       # None: each command's own default (char-rnn's: 123)
    data: Path | None = None      # a root holding mnist/ and tinyshakespeare/input.txt
    docs: Path | None = None      # dagnet's docs/ folder, to rewrite from the run
    verbose: bool = False         # echo each command's output, not only into log.txt
    debug: bool = False
    tell: Callable[[str], None] = say  # the progress lines, on stderr


def choose(names: list[str] | None) -> list[Experiment]:
    """The experiments named by --only; DagnetError naming an unknown one."""
    try:
        return select(names)
    except KeyError as exc:
        raise DagnetError(f"--only: no experiment or part {exc.args[0]!r}; choose among "
                          + ", ".join([e.name for e in EXPERIMENTS]
                                      + [f"part{k}" for k in PARTS])) from None


# -- data ------------------------------------------------------------------------------

class DataLocator:
    """Finds MNIST and the char-rnn corpus once, or the reason they are missing."""

    def __init__(self, data: Path | None):
        self.data = data
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
        if self.data is None:
            return locate_mnist(None, progress=None)[0].parent
        folder = self.data / "mnist"
        missing = [name for name in FILE_NAMES
                   if not ((folder / name).is_file() or (folder / f"{name}.gz").is_file())]
        if missing:
            raise DataError(f"MNIST not found: {folder} (from --data) lacks "
                            f"{', '.join(missing)} (raw or .gz)")
        return folder

    def _text(self) -> Path:
        if self.data is None:
            return locate_tiny_shakespeare(progress=None)
        path = self.data / "tinyshakespeare" / "input.txt"
        if not path.is_file():
            raise DataError(f"tiny Shakespeare not found: no file {path} (from --data)")
        return path

    def fill(self, experiment: Experiment, context: Context) -> None:
        """Set the context's data location that ``experiment`` needs (DataError if none)."""
        if experiment.data == "mnist":
            context.mnist_dir = self.locate("mnist")
        elif experiment.data == "text":
            context.text_file = self.locate("text")


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


def call(command: Command, argv: list[str], log, settings: Settings,
         stdout=None) -> tuple[int, str]:
    """``command(argv)``, its output into ``log``; (exit code, error or '')."""
    tee = _Tee(log, sys.stderr if settings.verbose else None)
    log.write(f"$ dagnet {shlex.join(argv)}\n")
    try:
        with contextlib.redirect_stderr(tee), contextlib.redirect_stdout(stdout or tee):
            code = command((["--debug"] if settings.debug else []) + argv)
    except SystemExit as exc:  # argparse refused an option (it printed why)
        code = exc.code if isinstance(exc.code, int) else 2
    except Exception as exc:  # noqa: BLE001 - a failing experiment must not stop the others
        traceback.print_exc(file=log)
        return 1, f"{type(exc).__name__}: {exc}"
    return code, ("" if code == 0 else tee.last_line())


def _sample(command: Command, context: Context, folder: Path, log, settings: Settings,
            commands: list, sampler: str) -> tuple[int, str]:
    """char-rnn, GPT: text from the run's best checkpoint into folder/sample.txt, by
    ``dagnet <sampler> sample``."""
    checkpoint = best_checkpoint(report.read_json(folder / "metrics.json") or {})
    if not checkpoint or not (folder / checkpoint).is_file():
        return 1, f"no best checkpoint in {folder} to sample from"
    argv = sample_argv(context, folder / checkpoint, sampler)
    commands.append(argv)
    text = io.StringIO()
    code, error = call(command, argv, log, settings, stdout=text)
    if code == 0:
        atomic_write_text(folder / report.SAMPLE, text.getvalue())
    return code, error


def _entry(experiment: Experiment, budget: str, **fields) -> dict:
    return {"name": experiment.name, "part": experiment.part, "title": experiment.title,
            "budget": budget, "started": now(), **fields}


def run_experiment(experiment: Experiment, context: Context, root: Path, command: Command,
                   settings: Settings) -> dict:
    """Run one experiment into root/<name>/; its record (status, commands, seconds, error)."""
    folder = root / experiment.name
    folder.mkdir(parents=True, exist_ok=True)
    record = _entry(experiment, context.budget, commands=[])
    started = time.perf_counter()
    with open(folder / report.LOG, "w", encoding="utf-8") as log:
        argv = experiment.argv(context) + ["--out", str(folder)]
        record["commands"].append(argv)
        code, error = call(command, argv, log, settings)
        if code == 0 and experiment.sample:
            code, error = _sample(command, context, folder, log, settings, record["commands"],
                                  experiment.sample)
    record["seconds"] = time.perf_counter() - started
    if code == 0:
        record["status"] = "ok"
    elif code == 130:
        record["status"], record["error"] = "interrupted", error or "interrupted"
    else:
        record["status"], record["error"] = "failed", error
    return record


def now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


# -- the run folder ---------------------------------------------------------------------------

def previous_run(folder: Path) -> dict | None:
    """The record of an earlier ``dagnet reproduce`` into ``folder``, if any."""
    previous = report.read_json(folder / "metrics.json")
    if previous is not None and previous.get("command") == "reproduce":
        return previous
    return None


def prepare(folder: Path, chosen: list[Experiment], previous: dict | None) -> None:
    """Empty the experiments' subfolders, refusing folders that reproduce did not write."""
    for experiment in chosen:
        sub = folder / experiment.name
        if not sub.exists() or (sub.is_dir() and not any(sub.iterdir())):
            continue
        if previous is None:
            raise DagnetError(f"{sub} already holds files that dagnet reproduce did not "
                              "write: choose a new or empty --out")
        shutil.rmtree(sub)


class Reproduction:
    """One invocation of ``dagnet reproduce`` into ``folder``: its run record, kept in
    metrics.json with the other experiments of an earlier run into the folder."""

    def __init__(self, folder: Path, argv: list[str], settings: Settings,
                 chosen: list[Experiment], previous: dict | None, keep_previous: bool):
        self.folder, self.settings, self.chosen = folder, settings, chosen
        self.record = RunRecord(folder, "reproduce", argv, settings.seed)
        command_line = "dagnet " + shlex.join(argv)
        self.invocation = {"command": command_line, "started": now(), "seconds": 0.0}
        kept = previous if previous is not None and keep_previous else {}
        names = {e.name for e in chosen}
        self.record.update(
            command_line=command_line, budget=settings.budget, data=settings.data,
            machine=report.machine(),
            invocations=[*kept.get("invocations", []), self.invocation],
            experiments={name: entry for name, entry in kept.get("experiments", {}).items()
                         if name not in names})
        self.record.add_file("page", folder / report.PAGE)
        self.started, self.ran, self.interrupted = time.perf_counter(), [], False

    @property
    def run(self) -> dict:
        return self.record.fields

    def run_all(self, command: Command) -> None:
        """Run the chosen experiments, in order, recording each as it ends."""
        context = Context(budget=self.settings.budget, seed=self.settings.seed)
        data, tell = DataLocator(self.settings.data), self.settings.tell
        count = len(self.chosen)
        tell(f"dagnet reproduce: {count} experiment{'' if count == 1 else 's'}, "
             f"{self.settings.budget} budget, into {self.folder}/")
        width = len(str(len(self.chosen)))
        for k, experiment in enumerate(self.chosen, 1):
            tag = f"[{k:>{width}}/{len(self.chosen)}] {experiment.name}"
            entry = self._run_one(experiment, context, data, command, tag)
            self._add(entry)
            tell(f"{tag}: {result_line(entry, self.folder)}")
            if entry["status"] == "interrupted":
                self.interrupted = True
                break

    def _run_one(self, experiment: Experiment, context: Context, data: DataLocator,
                 command: Command, tag: str) -> dict:
        try:
            data.fill(experiment, context)
        except DataError as exc:
            return _entry(experiment, context.budget, status="skipped", reason=str(exc),
                          seconds=None)
        self.settings.tell(f"{tag}: {display_command(experiment.argv(context))}")
        try:
            return run_experiment(experiment, context, self.folder, command, self.settings)
        except KeyboardInterrupt:
            return _entry(experiment, context.budget, status="interrupted",
                          error="interrupted (Ctrl-C)", seconds=None)

    def _add(self, entry: dict) -> None:
        """Record an experiment's end and rewrite metrics.json and the page."""
        self.ran.append(entry["name"])
        self.run["experiments"][entry["name"]] = entry
        self.invocation["seconds"] = time.perf_counter() - self.started
        self.run["train_seconds"] = 0.0
        for name, recorded in self.run["experiments"].items():  # those of earlier runs too
            metrics = report.experiment_metrics(self.folder, name)
            if recorded["status"] == "ok" and metrics is not None:
                self.record.add_file(name, self.folder / name / "metrics.json")
                self.run["train_seconds"] += metrics.get("train_seconds") or 0.0
        self.record.update(final={key: entry.get(key) for key in ("name", "status", "seconds")},
                           stop_reason=self._stop_reason())
        self.record.write()
        report.write_page(self.folder, self.run)

    def _stop_reason(self) -> str:
        if self.interrupted or any(self.run["experiments"][name]["status"] == "interrupted"
                                   for name in self.ran):
            return "interrupted"
        failed = any(self.run["experiments"][name]["status"] == "failed" for name in self.ran)
        return "error" if failed else "done"


def result_line(entry: dict, root: Path) -> str:
    """How an experiment ended, with its headline figures, in one line."""
    status = entry["status"]
    if status == "skipped":
        return f"skipped: {entry['reason']}"
    if status != "ok":
        return f"{status} after {entry['seconds'] or 0:.1f} s: {entry['error']}"
    shown = "; ".join(f"{h['quantity']} {h['dagnet']}" for h in report.headlines(root, entry))
    return f"ok in {entry['seconds']:.1f} s" + (f": {shown}" if shown else "")


def finish(folder: Path, run: dict, ran: list[str], settings: Settings) -> int:
    """Page and docs; exit code 130 when interrupted, 1 when an experiment of this
    invocation (``ran``) failed, else 0."""
    page = report.write_page(folder, run)
    if settings.docs is not None:
        written = update_docs(folder, run, settings.docs)
        settings.tell(f"docs: rewrote {len(written)} page(s) and their figures under "
                      f"{settings.docs}/")
    entries = [run["experiments"][name] for name in ran if name in run["experiments"]]
    failed = [e["name"] for e in entries if e["status"] == "failed"]
    skipped = [e["name"] for e in entries if e["status"] == "skipped"]
    settings.tell(f"wrote {page}" + (f"; skipped {', '.join(skipped)}" if skipped else "")
                  + (f"; FAILED {', '.join(failed)}" if failed else ""))
    if any(e["status"] == "interrupted" for e in entries):
        return 130
    return 1 if failed else 0


def reproduce(command: Command, folder: Path, argv: list[str], settings: Settings,
              only: list[str] | None = None) -> int:
    """Run the experiments ``only`` names (all by default) into ``folder`` with
    ``command``; write metrics.json, index.html and, with ``settings.docs``, the docs."""
    chosen = choose(only)
    folder.mkdir(parents=True, exist_ok=True)
    previous = previous_run(folder)
    prepare(folder, chosen, previous)
    reproduction = Reproduction(folder, argv, settings, chosen, previous, bool(only))
    reproduction.run_all(command)
    return finish(folder, reproduction.run, reproduction.ran, settings)


def report_only(folder: Path, settings: Settings) -> int:
    """Rewrite index.html (and the docs) from the experiments already in ``folder``."""
    previous = previous_run(folder)
    if previous is None:
        raise DagnetError(f"{folder}: no metrics.json of dagnet reproduce to report on")
    return finish(folder, previous, [], settings)
