"""Where a training step's time goes: a per-node-type timer the Trainer switches on.

``Profile(folder)`` is an extension: while the run trains, the Trainer hands its
``StepProfile`` every training step, which sets itself as the graphs' node timer
(``dagnet.graph.set_node_timer``) for the step and for nothing else (an evaluation
or a checkpoint between steps is not counted in the nodes).  It adds up, per node
type, the seconds of its forward and backward passes and their calls, and the
optimizer's update; the rest of the step is what no node and no update ran (the
graph's loops, the model's own code, conversions of the batch).  Outside the step
it counts the time spent fetching batches and between steps (extensions, logging).

When the run ends, however it ends, ``profile.json`` (the figures) and
``profile.txt`` (the same as a table) are written into the folder.  Timing each node
costs two clock reads and a dictionary update per node and pass, a few microseconds:
it shows on steps of little work with many nodes (MNIST [128, 64, 10], 30 timed passes
per step of about 2 ms of CPU: 5-7% longer epochs, measured), not on char-rnn's
(36 passes per step of about 100 ms).  The times are wall-clock: on a machine shared
with other work, each node also carries its share of the waits for a core.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from dagnet.files import write_json
from dagnet.graph import set_node_timer
from dagnet.training.trainer import Extension, Trainer

PROFILE_FILE = "profile.json"
PROFILE_TEXT = "profile.txt"


class StepProfile:
    """The accumulated times of a run's training steps; the Trainer calls ``begin_step``
    and ``end_step`` around each ``train_step``, the graphs call it as their node timer."""

    def __init__(self):
        self.times: dict[tuple[str, str], list] = {}  # (type name, phase) -> [seconds, calls]
        self.steps = 0
        self.step_seconds = self.batch_seconds = self.between_seconds = 0.0
        self._ended: float | None = None
        self._previous_timer = None

    def __call__(self, what: object, phase: str, seconds: float) -> None:
        key = (type(what).__name__, phase)
        entry = self.times.get(key)
        if entry is None:
            self.times[key] = [seconds, 1]
        else:
            entry[0] += seconds
            entry[1] += 1

    def new_run(self) -> None:
        """A Trainer starts: the time since the last one's last step is not between steps."""
        self._ended = None

    def begin_step(self, batch_seconds: float) -> None:
        """A step starts; fetching its batch took ``batch_seconds``."""
        if self._ended is not None:
            self.between_seconds += time.perf_counter() - self._ended - batch_seconds
        self.batch_seconds += batch_seconds
        self._previous_timer = set_node_timer(self)

    def end_step(self, seconds: float) -> None:
        """The step (``train_step``) took ``seconds``."""
        set_node_timer(self._previous_timer)
        self.steps += 1
        self.step_seconds += seconds
        self._ended = time.perf_counter()

    def summary(self) -> dict:
        """The figures of ``profile.json``: seconds, calls and share of the step time."""
        total = max(self.step_seconds, 1e-12)
        steps = max(self.steps, 1)

        def row(seconds: float, calls: int | None = None) -> dict:
            entry = {"seconds": seconds, "ms_per_step": 1e3 * seconds / steps,
                     "share": seconds / total}
            if calls is not None:
                entry["calls_per_step"] = calls / steps
            return entry

        nodes = [{"type": name, "phase": phase, **row(seconds, calls)}
                 for (name, phase), (seconds, calls) in self.times.items() if phase != "update"]
        nodes.sort(key=lambda entry: -entry["seconds"])
        updates = {name: row(seconds, calls)
                   for (name, phase), (seconds, calls) in self.times.items()
                   if phase == "update"}
        timed = sum(seconds for seconds, _ in self.times.values())
        return {"steps": self.steps, "step_seconds": self.step_seconds,
                "ms_per_step": 1e3 * self.step_seconds / steps,
                "nodes": nodes,
                "forward": row(sum(e["seconds"] for e in nodes if e["phase"] == "forward")),
                "backward": row(sum(e["seconds"] for e in nodes if e["phase"] == "backward")),
                "optimizer": updates,
                "rest_of_step": row(self.step_seconds - timed),
                "outside_step": {"batches": row(self.batch_seconds),
                                 "between_steps": row(self.between_seconds)}}


def profile_table(summary: dict) -> str:
    """``profile.txt``: the summary as a table, the largest share first."""
    lines = [f"{summary['steps']} training steps, {summary['step_seconds']:.3f} s in the "
             f"steps ({summary['ms_per_step']:.3f} ms per step)", "",
             f"{'':<34}{'phase':<10}{'ms/step':>10}{'calls/step':>12}{'share':>8}"]

    def line(label: str, phase: str, entry: dict) -> str:
        calls = f"{entry['calls_per_step']:.1f}" if "calls_per_step" in entry else ""
        return (f"{label:<34}{phase:<10}{entry['ms_per_step']:>10.3f}{calls:>12}"
                f"{100 * entry['share']:>7.1f}%")

    lines += [line(e["type"], e["phase"], e) for e in summary["nodes"]]
    lines += [line(f"optimizer ({name})", "update", e)
              for name, e in summary["optimizer"].items()]
    lines.append(line("rest of the step (loops, model code)", "", summary["rest_of_step"]))
    lines += ["", "all nodes: forward {:.1f}%, backward {:.1f}% of the step".format(
        100 * summary["forward"]["share"], 100 * summary["backward"]["share"])]
    outside = summary["outside_step"]
    lines.append(f"outside the steps: fetching batches {outside['batches']['ms_per_step']:.3f}"
                 f" ms/step, between steps (extensions, logging) "
                 f"{outside['between_steps']['ms_per_step']:.3f} ms/step")
    return "\n".join(lines) + "\n"


class Profile(Extension):
    """Time every training step's nodes by type (see the module docstring) and write
    ``profile.json`` and ``profile.txt`` into ``folder`` when the run ends."""

    priority = 0

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.profile = StepProfile()

    @property
    def files(self) -> dict[str, Path]:
        return {"profile": self.folder / PROFILE_FILE, "profile_text": self.folder / PROFILE_TEXT}

    def initialize(self, trainer: Trainer) -> None:
        self.profile.new_run()
        trainer.profiler = self.profile

    def finalize(self, trainer: Trainer) -> None:
        trainer.profiler = None
        summary = self.profile.summary()
        write_json(self.files["profile"], summary)
        self.files["profile_text"].write_text(profile_table(summary), encoding="utf-8")
