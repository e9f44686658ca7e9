"""The Trainer's extensions: each training control lives in one small class.

Every training command and ``Model.fit`` use these same pieces: evaluation,
checkpoints, divergence, budgets, progress bars, Ctrl-C and the metrics log.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from dagnet.errors import NonFiniteError
from dagnet.training.trainer import Extension, Trainer, parse_trigger


class Evaluate(Extension):
    """Measure the model on held-out data: ``val_loss`` (mean per example) and, for a
    classifier, ``val_accuracy`` (keys prefixed by ``prefix``) into the next log entry.

    ``data`` is ``(X, Y)`` arrays or a callable ``data(model) -> dict`` of metrics.
    Keeps the entry with the best value of ``monitor`` (lower is better unless
    ``mode="max"``) in ``trainer.history.best``; ``monitor=False``: this evaluation
    does not decide the best entry (another one does).
    """

    priority = 20
    name = "evaluate"
    run_at_end = True

    def __init__(self, data, every=(1, "epoch"), prefix: str = "val_",
                 monitor: str | bool | None = None, mode: str = "min",
                 batch_size: int = 1000):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.data, self.trigger, self.prefix = data, parse_trigger(every), prefix
        self.monitor = f"{prefix}loss" if monitor is None else monitor
        self.mode, self.batch_size = mode, batch_size
        self.last: dict = {}

    def measure(self, trainer: Trainer) -> dict:
        model = trainer.model
        if callable(self.data):
            metrics = self.data(model)
        else:
            X, Y = self.data
            metrics = model.evaluate(X, Y, batch_size=self.batch_size)
        return {f"{self.prefix}{k}": v for k, v in metrics.items()}

    def __call__(self, trainer: Trainer) -> None:
        self.last = self.measure(trainer)
        trainer.observation.update(self.last)
        value = self.last.get(self.monitor) if self.monitor else None
        best = trainer.history.best
        if value is not None and (best is None or self.monitor not in best
                                  or self._better(value, best[self.monitor])):
            trainer.history.best = {"step": trainer.step,
                                    "epoch": round(trainer.epoch_detail, 6), **self.last}

    def _better(self, value: float, best: float) -> bool:
        return value < best if self.mode == "min" else value > best


class StopOnNonFinite(Extension):
    """Stop with NonFiniteError when the training loss is NaN or infinite (or, with
    ``explosion_factor``, grows past that multiple of its first value: char-rnn's rule),
    naming the epoch and the step.  With a graph in debug mode the graph itself names
    the first bad node before this runs."""

    trigger = (1, "step")
    priority = 0
    name = "stop_on_non_finite"

    def __init__(self, explosion_factor: float | None = None):
        self.explosion_factor = explosion_factor
        self.first_loss: float | None = None

    def __call__(self, trainer: Trainer) -> None:
        loss = trainer.last_loss
        exploded = (self.explosion_factor is not None and self.first_loss is not None
                    and loss > self.explosion_factor * self.first_loss)
        if not math.isfinite(loss) or exploded:
            what = "is not finite" if not math.isfinite(loss) else (
                f"grew past {self.explosion_factor:g}x its first value "
                f"{self.first_loss:.4g}")
            raise NonFiniteError(
                f"the training loss became {loss:.4g} at epoch {trainer.epoch_detail:.2f}, "
                f"step {trainer.step}: it {what}; training diverged. Lower the learning "
                f"rate (it is {trainer.optimizer.current_learning_rate():g}) or clip the "
                "gradients")
        if self.first_loss is None:
            self.first_loss = loss

    def state_dict(self) -> dict:
        return {"first_loss": self.first_loss}

    def load_state_dict(self, state: dict) -> None:
        self.first_loss = state.get("first_loss")


class TimeBudget(Extension):
    """Stop (reason ``budget``) once this run has trained for ``seconds`` of wall time."""

    trigger = (1, "step")
    priority = 5

    def __init__(self, seconds: float):
        if not (seconds > 0 and math.isfinite(seconds)):
            raise ValueError(f"a time budget must be a positive number of seconds, got "
                             f"{seconds}")
        self.seconds = float(seconds)
        self.started = 0.0

    def initialize(self, trainer: Trainer) -> None:
        self.started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def __call__(self, trainer: Trainer) -> None:
        if self.elapsed >= self.seconds:
            trainer.request_stop("budget", f"time budget of {self.seconds:g} s spent")


class EpochDecay(Extension):
    """char-rnn's learning-rate decay: the base rate times ``decay`` at the end of every
    epoch from ``after`` on (``decay ** (epochs done - ceil(after) + 1)``)."""

    trigger = (1, "step")
    priority = 10
    name = "epoch_decay"

    def __init__(self, decay: float, after: float):
        if not (0 < decay <= 1):
            raise ValueError(f"the decay must lie in (0, 1], got {decay}")
        if not (after >= 0 and math.isfinite(after)):
            raise ValueError(f"decay-after must be a finite number >= 0, got {after}")
        self.decay, self.after = decay, after
        self.base: float | None = None

    def factor(self, epochs_done: int) -> float:
        return self.decay ** max(0, epochs_done - math.ceil(self.after) + 1)

    def initialize(self, trainer: Trainer) -> None:
        if self.base is None:
            self.base = trainer.optimizer.learning_rate
        trainer.optimizer.learning_rate = self.base * self.factor(trainer.epoch)

    def __call__(self, trainer: Trainer) -> None:
        trainer.optimizer.learning_rate = self.base * self.factor(trainer.epoch)

    def state_dict(self) -> dict:
        return {"base": self.base}

    def load_state_dict(self, state: dict) -> None:
        self.base = state.get("base")


class ProgressBar(Extension):
    """A tqdm bar over the run's steps (or over a time budget's seconds), showing the
    recent loss and examples per second (``unit`` names an example: "img", "char")."""

    trigger = (1, "step")
    priority = 90

    def __init__(self, enabled: bool | None = None, description: str = "training",
                 unit: str = "ex", budget: float | None = None, every: int = 10):
        self.enabled, self.description, self.unit = enabled, description, unit
        self.budget, self.every = budget, every
        self.bar = None
        self._started = 0.0

    def initialize(self, trainer: Trainer) -> None:
        disable = (not self.enabled) if self.enabled is not None else None
        self._started = time.perf_counter()
        if self.budget is not None:
            self.bar = tqdm(total=round(self.budget), desc=self.description, unit="s",
                            disable=disable, leave=False, dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n:.0f}/{total}s{postfix}")
        else:
            total = trainer.total_steps
            self.bar = tqdm(total=total, initial=min(trainer.step, total),
                            desc=self.description, unit="step", disable=disable,
                            leave=False, dynamic_ncols=True)

    def __call__(self, trainer: Trainer) -> None:
        if self.budget is not None:
            self.bar.update(min(time.perf_counter() - self._started, self.budget) - self.bar.n)
        else:
            self.bar.update(1)
        if trainer.step % self.every == 0:
            postfix = {"loss": f"{trainer.last_loss:.4f}"}
            if trainer.window_seconds > 0:
                rate = trainer.window_examples / trainer.window_seconds
                postfix[f"{self.unit}/s"] = f"{rate:.0f}"
            self.bar.set_postfix(postfix, refresh=False)

    def finalize(self, trainer: Trainer) -> None:
        if self.bar is not None:
            self.bar.close()


def format_entry(entry: dict) -> str:
    """One line for a log entry: ``epoch 3 (step 1407): loss 0.1234, val_loss ...``."""
    shown = [f"{key} {value:.4f}" for key, value in entry.items()
             if isinstance(value, float) and (key == "loss" or key.startswith(("val_", "test_",
                                                                              "train_")))
             and key != "train_seconds"]
    return f"epoch {entry['epoch']:g} (step {entry['step']}): " + ", ".join(shown)


class Report(Extension):
    """Print one line per log entry through ``say`` (default: tqdm.write to stderr)."""

    def __init__(self, say: Callable[[str], None] | None = None,
                 format: Callable[[dict], str] = format_entry):
        self.say = say or (lambda line: tqdm.write(line, file=sys.stderr))
        self.format = format

    def on_log(self, trainer: Trainer, entry: dict) -> None:
        self.say(self.format(entry))


class Interrupt(Extension):
    """Ctrl-C ends the run after the current step (an update is never cut in half), with
    reason ``interrupted``: the extensions then save what there is.  A second Ctrl-C
    interrupts at once."""

    trigger = (1, "step")
    priority = 1

    def __init__(self):
        self.requested = False
        self.previous = None

    def initialize(self, trainer: Trainer) -> None:
        self.requested = False
        # Signal handlers can only be set from the main thread; elsewhere Ctrl-C is not ours.
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self.previous)

    def __call__(self, trainer: Trainer) -> None:
        if self.requested:
            trainer.request_stop("interrupted", "interrupted by Ctrl-C")

    def finalize(self, trainer: Trainer) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


class MetricsLog(Extension):
    """Append each log entry as one JSON line to ``path`` while training runs, so an
    interrupted or diverged run keeps its curve (``metrics.jsonl``)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def initialize(self, trainer: Trainer) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if trainer.step == 0 and self.path.exists():
            self.path.unlink()  # a fresh run in an old folder starts a fresh log

    def on_log(self, trainer: Trainer, entry: dict) -> None:
        line = json.dumps(jsonable(entry), allow_nan=False)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def jsonable(value):
    """``value`` with NumPy scalars and arrays as Python numbers and lists, Paths as
    strings, NaN and infinities as None (they are not JSON)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class TensorBoard(Extension):
    """Write every log entry's numbers as TensorBoard scalars under ``logdir`` (needs
    the optional tensorboardX: ``pip install "dagnet[tensorboard]"``)."""

    def __init__(self, logdir: str | os.PathLike):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ImportError("the TensorBoard extension needs tensorboardX: "
                              'pip install "dagnet[tensorboard]"') from None
        self.writer = SummaryWriter(str(logdir))

    def on_log(self, trainer: Trainer, entry: dict) -> None:
        for key, value in entry.items():
            if isinstance(value, (int, float)) and key != "step" and math.isfinite(value):
                self.writer.add_scalar(key, value, entry["step"])
        self.writer.flush()

    def finalize(self, trainer: Trainer) -> None:
        self.writer.close()
