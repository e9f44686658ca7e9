"""``Run``: a training run's folder, run record and standard extensions.

What every dagnet command uses, and what a user's own script can use to get the same
folder layout: ``metrics.jsonl`` written while it trains, ``metrics.json`` (the run
record, docs/run-records.md) written however it ends, and the extensions every run
wants (divergence, Ctrl-C, a progress bar, the log, a report line per entry).
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from dagnet.errors import DagnetError
from dagnet.training.checkpoint import Checkpoint
from dagnet.training.extensions import (
    Interrupt,
    MetricsLog,
    ProgressBar,
    Report,
    StopOnNonFinite,
    TimeBudget,
)
from dagnet.training.profile import Profile
from dagnet.training.record import LOG_FILE, RunRecord
from dagnet.training.trainer import History, Trainer


def say(message: str) -> None:
    """A line of a run's report, on stderr so stdout stays for data."""
    print(message, file=sys.stderr, flush=True)


class Run:
    """One run of ``command`` into ``folder`` (default runs/<command>-<timestamp>/).

    ``quiet`` hides the progress bar and the report lines; ``debug`` keeps the
    traceback of a diverged run's error; ``profile`` times the nodes of every training
    step and writes profile.json and profile.txt (``dagnet.training.profile``).
    """

    def __init__(self, command: str, folder: str | os.PathLike | None = None, *,
                 argv: Sequence[str] | None = None, seed: int | None = None,
                 quiet: bool = False, debug: bool = False, profile: bool = False,
                 report: Callable[[str], None] = say):
        self.command, self.quiet, self.debug, self.report = command, quiet, debug, report
        self.folder = Path(folder) if folder is not None else Path("runs") / (
            f"{command.replace(' ', '-')}-{datetime.datetime.now():%Y%m%d-%H%M%S}")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.record = RunRecord(self.folder, command, None if argv is None else list(argv),
                                seed)
        self.profile = Profile(self.folder) if profile else None

    def extensions(self, *, unit: str = "ex", description: str | None = None,
                   checkpoint: Checkpoint | None = None, budget: float | None = None,
                   report: bool = True, explosion_factor: float | None = None) -> list:
        """The extensions every run uses, plus ``checkpoint`` and a time ``budget`` (s)."""
        found = [StopOnNonFinite(explosion_factor), Interrupt(),
                 ProgressBar(False if self.quiet else None, description or self.command, unit,
                             budget=budget),
                 MetricsLog(self.folder / LOG_FILE)]
        if report and not self.quiet:
            found.append(Report(self.report))
        if budget is not None:
            found.append(TimeBudget(budget))
        if checkpoint is not None:
            found.append(checkpoint)
        return found + self.profiling()

    def profiling(self) -> list:
        """``[Profile]`` when this run profiles its steps, else ``[]``: for a command that
        builds its own extensions (one Profile may serve several Trainers in turn)."""
        return [] if self.profile is None else [self.profile]

    def train(self, trainer: Trainer) -> History:
        """Run ``trainer``; a diverged run still gets its record before its error is
        raised.  NumPy's overflow warnings are silenced: divergence is reported once, by
        StopOnNonFinite, naming the epoch and the step."""
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                history = trainer.run()
        except DagnetError:
            self._note(trainer.history, trainer.stop_reason or "error")
            self.record.write()
            if not self.debug and trainer.stop_reason == "diverged":
                raise DagnetError(f"{trainer.error} (--debug names the first node whose "
                                  f"output or gradient is not finite; what there was is in "
                                  f"{self.folder})") from None
            raise
        self._note(history, history.stop_reason)
        return history

    def _note(self, history: History, stop_reason: str) -> None:
        self.record.update(stop_reason=stop_reason, train_seconds=history.train_seconds,
                           final=history.last, best=history.best)
        self.record.add_file("log", self.folder / LOG_FILE)
        self._list_profile()

    def _list_profile(self) -> None:
        if self.profile is not None:
            for role, path in self.profile.files.items():
                if path.exists():
                    self.record.add_file(role, path)

    def finish(self, summary: str, **figures) -> dict:
        """Write metrics.json with the command's ``figures`` and report ``summary``;
        returns the one-line summary (the record's main keys and the scalar figures)."""
        self._list_profile()
        path = self.record.write(**figures)
        if not self.quiet:
            self.report(f"{summary}; wrote {self.folder}/")
        record = json.loads(path.read_text())
        keys = ("command", "seed", "stop_reason", "wall_seconds", "train_seconds", "final",
                "best", "files")
        return ({k: record[k] for k in keys}
                | {k: v for k, v in record.items()
                   if k in figures and not isinstance(v, (list, dict))}
                | {"folder": str(self.folder)})

    @property
    def interrupted(self) -> bool:
        return self.record.fields["stop_reason"] == "interrupted"
