"""The one training loop of dagnet, extended by small extensions.

``Trainer(model, optimizer, data, ...).run()`` repeats: take the next batch from
``data`` (an iterator of ``dagnet.training.iterators``), ``model.train_step(batch,
optimizer)`` (forward, backward, one update; returns the mean loss per example),
then give every extension whose trigger fires its turn.  At every log point (by
default each epoch) it writes one entry into ``history``: the step, the epoch, the
mean training loss since the previous entry, the learning rate and the training
seconds, plus what extensions observed (a validation loss, an accuracy).

Extensions are small objects in the style of Chainer's training extensions:
``Evaluate``, ``Checkpoint``, ``StopOnNonFinite``, ``TimeBudget``, ``ProgressBar``,
``Interrupt``, ``MetricsLog``... (``dagnet.training.extensions``).  Each may act
after a step (``__call__`` when its trigger fires), see each logged entry
(``on_log``), and clean up or save what there is when the run ends, however it
ends (``finalize``, which sees ``trainer.stop_reason``).

The model only needs ``train_step(batch, optimizer) -> float`` (and, for the
extensions that use them, ``evaluate_batches``, ``save``, ``parameter_nodes``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from dagnet.errors import DagnetError, NonFiniteError

STOP_REASONS = ("done", "budget", "interrupted", "diverged", "error")
# Extensions of lower priority run before the step's log entry is written (they measure
# what goes into it), the others after it (they save or show it).
LOG_PRIORITY = 50


def parse_trigger(trigger) -> tuple[int, str]:
    """``(n, "epoch")``, ``(n, "step")``, or an int (steps); checked."""
    if isinstance(trigger, int) and not isinstance(trigger, bool):
        trigger = (trigger, "step")
    try:
        n, unit = trigger
    except (TypeError, ValueError):
        raise ValueError(f"a trigger is (n, 'epoch') or (n, 'step'), got {trigger!r}") from None
    if unit not in ("epoch", "step") or isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"a trigger is (n, 'epoch') or (n, 'step') with n >= 1, got "
                         f"{trigger!r}")
    return n, unit


class Extension:
    """Something the trainer runs at a trigger, sees each log entry, and finalizes.

    ``trigger``: ``(n, "epoch")`` or ``(n, "step")``; None: never called after steps
    (only ``on_log`` and ``finalize``).  Lower ``priority`` runs first after a step.
    """

    trigger: tuple[int, str] | None = None
    priority = 50
    # Called once more when the run ends between two of its triggers (evaluations), so
    # that the last history entry describes the final weights.
    run_at_end = False
    # Keys this extension adds to the state a checkpoint saves (see state_dict).
    name = ""

    def initialize(self, trainer: Trainer) -> None:
        """Called once before the first step (also after a resume)."""

    def __call__(self, trainer: Trainer) -> None:
        """Called after a step when the trigger fires."""

    def on_log(self, trainer: Trainer, entry: dict) -> None:
        """Called with every entry the trainer appends to its history."""

    def finalize(self, trainer: Trainer) -> None:
        """Called once when the run ends, whatever ``trainer.stop_reason`` is."""

    def state_dict(self) -> dict:
        """JSON-ready state to carry across a checkpoint (most extensions have none)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


@dataclass
class History:
    """What a run did: one entry per log point, and how it ended."""

    entries: list[dict] = field(default_factory=list)
    stop_reason: str = "done"
    steps: int = 0
    epochs: float = 0.0
    train_seconds: float = 0.0
    best: dict | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, k):
        return self.entries[k]

    def __iter__(self):
        return iter(self.entries)

    def column(self, key: str) -> list:
        """The values of ``key`` over the entries that have it."""
        return [entry[key] for entry in self.entries if key in entry]

    @property
    def last(self) -> dict:
        return self.entries[-1] if self.entries else {}


class StopTraining(DagnetError):
    """Raised by an extension to end the run cleanly with ``reason``."""

    def __init__(self, reason: str, message: str = ""):
        super().__init__(message or reason)
        self.reason = reason


class Trainer:
    """Train ``model`` with ``optimizer`` on batches from ``data``; see the module docstring.

    ``epochs`` (a float: 2.5 stops halfway through the third epoch) and ``max_steps``
    bound the run, counted from the very first step (a resumed run keeps its counts).
    ``log_every`` is the trigger of the history entries.  ``extensions`` run in order
    of priority, then of the list.
    """

    def __init__(self, model, optimizer, data, *, epochs: float | None = None,
                 max_steps: int | None = None, extensions: Iterable[Extension] = (),
                 log_every=(1, "epoch")):
        if epochs is None and max_steps is None:
            raise ValueError("a Trainer needs epochs or max_steps")
        if epochs is not None and not (epochs > 0 and math.isfinite(epochs)):
            raise ValueError(f"epochs must be a positive finite number, got {epochs}")
        if max_steps is not None and (isinstance(max_steps, bool) or max_steps < 1):
            raise ValueError(f"max_steps must be a positive integer, got {max_steps}")
        self.model, self.optimizer, self.data = model, optimizer, data
        self.epochs, self.max_steps = epochs, max_steps
        self.log_every = parse_trigger(log_every)
        self.extensions = sorted(extensions, key=lambda ext: ext.priority)
        self.history = History()
        self.step = 0
        self.observation: dict = {}  # what extensions measured since the last log entry
        self.stop_reason: str | None = None
        self.error: BaseException | None = None
        # The training loss, examples and seconds since the last log entry.
        self.window_loss, self.window_examples, self.window_seconds = 0.0, 0, 0.0
        self.last_loss = math.nan
        self.step_learning_rate = math.nan
        self._stop_request: tuple[str, str] | None = None
        # Set by the Profile extension: told of each step, it times the nodes inside it.
        self.profiler = None

    # -- counters ----------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """Completed epochs."""
        return self.data.epoch

    @property
    def epoch_detail(self) -> float:
        """Epochs done, with the fraction of the current one."""
        return self.data.epoch_detail

    @property
    def total_steps(self) -> int:
        """How many steps the run will make in all, from its bounds."""
        steps = []
        if self.epochs is not None:
            steps.append(math.ceil(self.epochs * self.data.batches_per_epoch))
        if self.max_steps is not None:
            steps.append(self.max_steps)
        return min(steps)

    def fires(self, trigger) -> bool:
        """Whether ``trigger`` fires after the step just made."""
        if trigger is None:
            return False
        n, unit = trigger
        if unit == "step":
            return self.step % n == 0
        return self.data.is_new_epoch and self.epoch % n == 0

    def request_stop(self, reason: str, message: str = "") -> None:
        """End the run after the current step (extensions call this)."""
        if self._stop_request is None:
            self._stop_request = (reason, message)

    @property
    def stop_request(self) -> tuple[str, str] | None:
        """``(reason, message)`` of the stop requested during this step, if any (processes
        training together compare theirs: ``dagnet.distributed``)."""
        return self._stop_request

    # -- the loop ----------------------------------------------------------------------

    def run(self) -> History:
        """Train until a bound, a budget, an interruption or divergence; return the history.

        Divergence (NonFiniteError) and other errors are raised again after every
        extension has finalized (saved what there is); an interruption is not: look
        at ``history.stop_reason``.
        """
        for ext in self.extensions:
            ext.initialize(self)
        self.stop_reason = None
        try:
            while self._stop_request is None and self.step < self.total_steps:
                self._one_step()
            reason = self._stop_request[0] if self._stop_request else "done"
            if self.window_examples:
                for ext in self.extensions:
                    if ext.run_at_end and not self.fires(ext.trigger):
                        ext(self)
                self._log()
            self.stop_reason = reason
        except KeyboardInterrupt:
            self.stop_reason = "interrupted"
        except NonFiniteError as exc:
            self.stop_reason, self.error = "diverged", exc
        except BaseException as exc:
            self.stop_reason, self.error = "error", exc
        finally:
            self._finish()
        if self.error is not None:
            raise self.error
        return self.history

    def _one_step(self) -> None:
        fetching = time.perf_counter()
        batch = self.data.next_batch()
        # Extensions may change the rate after this step; the log shows the one used.
        self.step_learning_rate = self.optimizer.current_learning_rate()
        profiler = self.profiler
        started = time.perf_counter()
        if profiler is not None:
            profiler.begin_step(started - fetching)
            started = time.perf_counter()
        loss = float(self.model.train_step(batch, self.optimizer))
        seconds = time.perf_counter() - started
        if profiler is not None:
            profiler.end_step(seconds)
        self.step += 1
        self.history.train_seconds += seconds
        self.window_seconds += seconds
        self.window_loss += loss * batch.size
        self.window_examples += batch.size
        self.last_loss = loss
        logged = False
        for ext in self.extensions:
            if not logged and ext.priority >= LOG_PRIORITY:
                logged = self._log_if_due()
            if self.fires(ext.trigger):
                ext(self)
        if not logged:
            self._log_if_due()

    def _log_if_due(self) -> bool:
        if self.fires(self.log_every):
            self._log()
        return True

    def _log(self) -> None:
        entry = {"step": self.step, "epoch": round(self.epoch_detail, 6),
                 "loss": self.window_loss / max(self.window_examples, 1),
                 "learning_rate": self.step_learning_rate,
                 "train_seconds": self.window_seconds,
                 "examples_per_second": self.window_examples / max(self.window_seconds,
                                                                     1e-12)}
        entry.update(self.observation)
        self.observation = {}
        self.window_loss, self.window_examples, self.window_seconds = 0.0, 0, 0.0
        self.history.entries.append(entry)
        for ext in self.extensions:
            ext.on_log(self, entry)

    def _finish(self) -> None:
        self.history.stop_reason = self.stop_reason
        self.history.steps = self.step
        self.history.epochs = self.epoch_detail
        errors = []
        for ext in reversed(self.extensions):
            try:
                ext.finalize(self)
            except Exception as exc:  # one failing finalizer must not stop the others saving
                errors.append(exc)
        if errors and self.error is None:
            self.error = errors[0]

    # -- checkpoints -------------------------------------------------------------------

    def state_dict(self) -> dict:
        """The loop's own state (JSON-ready): counters, history, extensions' state."""
        return {"step": self.step, "history": self.history.entries,
                "train_seconds": self.history.train_seconds, "best": self.history.best,
                "data": self.data.state_dict(),
                "extensions": {ext.name: ext.state_dict() for ext in self.extensions
                               if ext.name}}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_dict()``'s output."""
        self.step = int(state["step"])
        self.history.entries = list(state["history"])
        self.history.train_seconds = float(state["train_seconds"])
        self.history.best = state.get("best")
        self.data.load_state_dict(state["data"])
        saved = state.get("extensions", {})
        for ext in self.extensions:
            if ext.name and ext.name in saved:
                ext.load_state_dict(saved[ext.name])
