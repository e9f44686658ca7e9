"""Data-parallel training over MPI: K processes train one model on K shares of each batch.

Started by ``mpirun -n K`` (or ``srun``), every process (a *rank*) runs the same
command or script; ``wrap(trainer)`` makes the Trainer's run data-parallel:

- at the start, rank 0's weights and optimizer state are broadcast, and the ranks
  check that they agree about the model, the optimizer, the data and the run (a hash
  of each, compared with an allgather);
- every rank takes the *global* batch from its own copy of the data iterator and
  trains on its contiguous share of the rows (``shard``; axis 1 for time-first
  sequences), its summed cost divided by the global batch size;
- one Allreduce per step, over one flat preallocated buffer, sums the gradients and
  the loss; every rank then makes the same update with the global batch size, so the
  weights stay identical on every rank and equal (up to rounding) to those of one
  process training on whole batches, whatever K is;
- after each step the ranks agree on whether to stop (time budget, SIGTERM, SIGUSR1);
- rank 0 alone writes: checkpoints (holding the carried state of every rank, so a run
  resumes at any K), the metrics log, progress bars and reports.  Evaluations on
  arrays are shared between the ranks too.

A rank that fails alone stops every rank (MPI Abort) with a message naming it.  Every
collective has a deadline (``DAGNET_MPI_TIMEOUT`` seconds, default 120): past it a
roll call names the ranks that do not answer, and every rank stops.

mpi4py (``pip install "dagnet[mpi]"``) is imported only when a run is distributed:
``launched_size()`` reads the launcher's environment variables without it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import NoReturn

import numpy as np

from dagnet.errors import DagnetError, DistributedError
from dagnet.models import Model
from dagnet.training import (
    Batch,
    Checkpoint,
    Evaluate,
    Extension,
    History,
    MetricsLog,
    ProgressBar,
    Report,
    Run,
    TensorBoard,
    Trainer,
    jsonable,
)
from dagnet.training.trainer import STOP_REASONS

# The launchers' variables: Open MPI's mpirun; MPICH, Intel MPI and srun --mpi=pmi2.
SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")
RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK")
TIMEOUT_VARIABLE = "DAGNET_MPI_TIMEOUT"
DEFAULT_TIMEOUT = 120.0
# A rank that timed out waits this long for the others to answer its roll call.
ROLL_CALL_SECONDS = 2.0
# How often the watchdog looks at the collective in progress.
TICK = 0.1
# Tags of the roll call's messages.
ROLL_CALL, PRESENT = 7311, 7312
# Signals that stop a run after the current step (as Ctrl-C does in one process).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGUSR1")
                     if hasattr(signal, name))
# Extensions that write or show something: rank 0's alone.
ROOT_ONLY = (MetricsLog, ProgressBar, Report, TensorBoard)


# -- where this process stands, from the launcher's environment --------------------------------

def launched_size() -> int:
    """How many processes the MPI launcher started (1 outside mpirun or srun).  Reads the
    environment only: nothing is imported, MPI is not initialized."""
    for name in SIZE_VARIABLES:
        if os.environ.get(name):
            return _variable(name)
    # srun --mpi=pmix sets PMIX_RANK and Slurm's task count, no size of its own.
    if os.environ.get("PMIX_RANK") and os.environ.get("SLURM_STEP_NUM_TASKS"):
        return _variable("SLURM_STEP_NUM_TASKS")
    return 1


def launched_rank() -> int:
    """This process's rank among ``launched_size()`` (0 outside a launcher)."""
    for name in RANK_VARIABLES:
        if os.environ.get(name):
            return _variable(name)
    return 0


def is_root() -> bool:
    """Whether this process is rank 0: the one that writes files and reports."""
    return launched_rank() == 0


def _variable(name: str) -> int:
    text = os.environ[name]
    try:
        value = int(text)
    except ValueError:
        raise DistributedError(f"the environment variable {name}={text!r} is not an "
                               "integer") from None
    if value < 0:
        raise DistributedError(f"the environment variable {name}={text!r} is negative")
    return value


def require_mpi() -> None:
    """DistributedError unless mpi4py can be imported (checked without importing it, which
    would initialize MPI)."""
    if importlib.util.find_spec("mpi4py") is None:
        variable = next((n for n in SIZE_VARIABLES if os.environ.get(n)), None)
        started = (f" by an MPI launcher with {os.environ[variable]} processes ({variable})"
                   if variable else "")
        raise DistributedError(f"dagnet was started{started}, but mpi4py is not installed: "
                               'pip install "dagnet[mpi]" (it needs an MPI library, e.g. '
                               "Open MPI's libopenmpi-dev)")


def shard(n: int, rank: int, size: int) -> slice:
    """Rank ``rank``'s contiguous share of ``n`` rows among ``size`` ranks; the shares
    differ by one row at most, and are empty for some ranks when ``n < size``."""
    return slice(rank * n // size, (rank + 1) * n // size)


def take_rows(array, rows: slice, axis: int) -> np.ndarray:
    """``array``'s ``rows`` along ``axis`` (0 for (batch, ...), 1 for time-first)."""
    return np.asarray(array)[(slice(None),) * axis + (rows,)]


# -- the communicator: collectives under a deadline ------------------------------------------

class Communicator:
    """MPI's world with the few collectives a data-parallel run needs, each under a
    deadline of ``timeout`` seconds (default: $DAGNET_MPI_TIMEOUT, else 120): past it, a
    watchdog thread names the ranks that do not answer a roll call and stops every rank.

    ``world()`` gives the process's one Communicator; creating it initializes MPI.
    """

    def __init__(self, timeout: float | None = None):
        require_mpi()
        from mpi4py import MPI  # here: importing it initializes MPI

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.timeout = _timeout(timeout)
        # The roll call runs in the watchdog thread beside a blocked collective (point-to-point
        # messages never mix with collectives, even on the same communicator).
        self.threaded = MPI.Query_thread() == MPI.THREAD_MULTIPLE
        self._collective: tuple[str, float] | None = None
        threading.Thread(target=self._watch, name="dagnet-mpi-watchdog", daemon=True).start()

    # -- collectives --------------------------------------------------------------------------

    def allreduce(self, buffer: np.ndarray, what: str) -> None:
        """Sum ``buffer`` over the ranks, in place; ``what`` names it in a timeout."""
        with self._deadline(what):
            self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)

    def broadcast(self, buffer: np.ndarray, what: str) -> None:
        """Rank 0's ``buffer`` on every rank, in place."""
        with self._deadline(what):
            self.comm.Bcast(buffer, root=0)

    def allgather(self, value, what: str) -> list:
        """Every rank's ``value`` (small, picklable), in rank order."""
        with self._deadline(what):
            return self.comm.allgather(value)

    def gather(self, value, what: str) -> list | None:
        """Every rank's ``value`` in rank order on rank 0; None elsewhere."""
        with self._deadline(what):
            return self.comm.gather(value, root=0)

    def maximum(self, value: int, what: str) -> int:
        """The largest of the ranks' ``value``."""
        buffer = np.array([value], dtype=np.int64)
        with self._deadline(what):
            self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.MAX)
        return int(buffer[0])

    def abort(self, message: str) -> None:
        """Print ``message`` naming this rank, then stop every rank (MPI Abort)."""
        print(f"dagnet: rank {self.rank} of {self.size}: error: {message}", file=sys.stderr,
              flush=True)
        self.comm.Abort(1)

    # -- the deadline ------------------------------------------------------------------------

    @contextmanager
    def _deadline(self, what: str):
        self._collective = (what, time.monotonic())
        try:
            yield
        finally:
            self._collective = None

    def _watch(self) -> None:
        """The watchdog thread: answers the roll calls of ranks that wait too long, and
        stops every rank when this one has waited ``timeout`` seconds."""
        while True:
            time.sleep(TICK)
            collective = self._collective
            if collective is None:
                continue
            what, since = collective
            waited = time.monotonic() - since
            if waited > min(1.0, self.timeout) and self.threaded:
                self._answer_roll_calls()
            if waited > self.timeout and self._collective is collective:
                self._timed_out(what)

    def _timed_out(self, what: str) -> None:
        missing = self._roll_call() if self.threaded else []
        who = (f"rank{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))}"
               if missing else "another rank")
        self.abort(f"no answer from {who} for {self.timeout:g} s while {what} (it died or "
                   f"hangs; {TIMEOUT_VARIABLE} sets the limit): stopping every rank")

    def _roll_call(self) -> list[int]:
        """The ranks that do not answer within ROLL_CALL_SECONDS (those waiting in a
        collective answer; a dead or stuck rank cannot)."""
        others = [r for r in range(self.size) if r != self.rank]
        for rank in others:
            self.comm.isend(self.rank, dest=rank, tag=ROLL_CALL)
        heard: set[int] = set()
        deadline = time.monotonic() + ROLL_CALL_SECONDS
        while time.monotonic() < deadline and len(heard) < len(others):
            heard |= self._answer_roll_calls()
            time.sleep(TICK / 2)
        return [r for r in others if r not in heard]

    def _answer_roll_calls(self) -> set[int]:
        """Answer the roll calls waiting for this rank; the ranks heard from."""
        heard, status = set(), self.MPI.Status()
        for tag in (ROLL_CALL, PRESENT):
            while self.comm.iprobe(source=self.MPI.ANY_SOURCE, tag=tag, status=status):
                source = status.Get_source()
                self.comm.recv(source=source, tag=tag)
                heard.add(source)
                if tag == ROLL_CALL:
                    self.comm.isend(self.rank, dest=source, tag=PRESENT)
        return heard


def _timeout(timeout: float | None) -> float:
    if timeout is None:
        text = os.environ.get(TIMEOUT_VARIABLE)
        try:
            timeout = DEFAULT_TIMEOUT if text is None else float(text)
        except ValueError:
            raise DistributedError(f"{TIMEOUT_VARIABLE}={text!r} is not a number of "
                                   "seconds") from None
    if not (0 < timeout < float("inf")):
        raise DistributedError(f"the collectives' timeout must be a positive number of "
                               f"seconds, got {timeout}")
    return float(timeout)


_WORLD: Communicator | None = None


def world() -> Communicator:
    """This process's Communicator over every rank (initializes MPI the first time)."""
    global _WORLD
    if _WORLD is None:
        _WORLD = Communicator()
    return _WORLD


# -- the model: one update shared by the ranks ----------------------------------------------

class _Gradients:
    """What a model's ``train_step`` calls ``optimize`` on in a distributed step: the
    gradients go into the flat buffer, and the update waits for the other ranks'."""

    def __init__(self, parameter_nodes, views: list[np.ndarray]):
        self.parameter_nodes, self.views = parameter_nodes, views
        self.batch_size: int | None = None

    def optimize(self, batch_size: int = 1) -> None:
        for node, view in zip(self.parameter_nodes, self.views):
            np.copyto(view, node.get_gradient(0), casting="same_kind")
        self.batch_size = batch_size


class DataParallel:
    """``model`` trained by every rank on its share of each batch (see the module
    docstring).  Only ``train_step`` (and ``fit``) are its own: every other attribute is
    read from and written to the wrapped model, so checkpoints, evaluations and resumes
    see the model itself.

    The carried state of ``model`` when it is wrapped (a resumed run's) is the global
    state: each rank keeps its own rows of it.
    """

    _OWN = ("model", "communicator", "allreduce_seconds", "batch_rows", "in_step", "_buffer",
            "_views")

    def __init__(self, model, communicator: Communicator):
        for name, value in (("model", model), ("communicator", communicator),
                            ("allreduce_seconds", 0.0), ("batch_rows", None),
                            ("in_step", False)):
            object.__setattr__(self, name, value)
        nodes = model.parameter_nodes
        # One flat buffer: every gradient, then the loss.
        buffer = np.empty(sum(p.w.size for p in nodes) + 1,
                          np.result_type(*[p.w.dtype for p in nodes]))
        offsets = np.cumsum([0] + [p.w.size for p in nodes])
        object.__setattr__(self, "_buffer", buffer)
        object.__setattr__(self, "_views", [buffer[a:b].reshape(p.w.shape) for a, b, p
                                            in zip(offsets[:-1], offsets[1:], nodes)])
        state = getattr(model, "carried_state", None)
        if state is not None:
            rows = shard(len(state[0]), communicator.rank, communicator.size)
            model.carried_state = [np.array(s[rows]) for s in state]

    def __getattr__(self, name: str):
        return getattr(self.model, name)

    def __setattr__(self, name: str, value) -> None:
        if name in self._OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self.model, name, value)

    def train_step(self, batch: Batch, optimizer) -> float:
        """Train on this rank's rows of the global ``batch``: forward and backward on them,
        one Allreduce of the gradients and the loss, then the update of the whole batch.
        Returns the mean loss per example over the global batch."""
        axis, rank, size = self.model.batch_axis, self.communicator.rank, self.communicator.size
        n = np.shape(batch.inputs)[axis]
        self.batch_rows = self.batch_rows or n
        rows, buffer = shard(n, rank, size), self._buffer
        self.in_step = True
        collect = _Gradients(self.model.parameter_nodes, self._views)
        if rows.stop > rows.start:
            # The global size: the share's summed cost is divided by the whole batch's.
            share = Batch(take_rows(batch.inputs, rows, axis),
                          take_rows(batch.targets, rows, axis), batch.size, batch.first)
            buffer[-1] = self.model.train_step(share, collect)
            if collect.batch_size is None:
                raise DistributedError(f"{type(self.model).__name__}.train_step did not call "
                                       "optimizer.optimize: it cannot be trained over MPI")
        else:  # fewer rows than ranks: this one adds nothing
            buffer[:] = 0
        started = time.perf_counter()
        self.communicator.allreduce(buffer, "summing the gradients of update "
                                            f"{optimizer.t + 1}")
        self.allreduce_seconds += time.perf_counter() - started
        optimizer.step(self._views, collect.batch_size or batch.size)
        self.in_step = False
        return float(buffer[-1])

    def gather_carried_state(self) -> list[np.ndarray] | None:
        """On rank 0, every rank's carried state, rows in rank order (the global state);
        None elsewhere, or when the model carries none.  Every rank must call it."""
        state = getattr(self.model, "carried_state", None)
        shares = self.communicator.gather(state, "gathering the carried state")
        present = [s for s in shares or () if s is not None]
        if not present:
            return None
        return [np.concatenate([s[k] for s in present]) for k in range(len(present[0]))]

    def fit(self, X, Y, *, callbacks=(), progress: bool | None = False, **options) -> History:
        """``Model.fit`` over the ranks: each trains on its share of every batch; the
        progress bar, if asked for, on rank 0 only.  Every rank calls it with the same
        arguments."""
        # Model.fit only uses the protocol, which this wrapper answers for the model.
        return Model.fit(self, X, Y, callbacks=[*callbacks, Coordinator(self)],
                         progress=progress if self.communicator.rank == 0 else False,
                         **options)

    def summary(self) -> dict:
        """What a run record says about the distribution of the work."""
        size = self.communicator.size
        return {"world_size": size,
                "per_rank_batch": -(-(self.batch_rows or 0) // size),
                "allreduce_seconds": self.allreduce_seconds}


# -- the extensions: the ranks start, stop and save together --------------------------------

class Coordinator(Extension):
    """Keeps the ranks of a run together.  At the start: rank 0's weights and optimizer
    state on every rank, after checking that the ranks agree about the run.  After every
    step (last of the extensions): one stop decision for all, from any rank's request (a
    budget, Ctrl-C, SIGTERM or SIGUSR1).  At the end: if this rank stopped alone (an
    error), stop every rank with a message naming it."""

    trigger = (1, "step")
    priority = 99

    def __init__(self, model: DataParallel):
        self.model, self.communicator = model, model.communicator
        self.agreed: str | None = None
        self.terminated: str | None = None
        self._previous_handlers: dict = {}

    def initialize(self, trainer: Trainer) -> None:
        self.agreed = None
        self._check_agreement(trainer)
        self._broadcast_state(trainer.optimizer)
        if threading.current_thread() is threading.main_thread():
            # mpirun and Slurm stop a job with SIGTERM (mpirun's Ctrl-C too); mpirun forwards
            # SIGUSR1: interruptions, agreed like Ctrl-C.
            self._previous_handlers = {number: signal.signal(number, self._terminate)
                                       for number in STOP_SIGNALS}

    def _terminate(self, signum, frame) -> None:
        self.terminated = signal.Signals(signum).name

    def __call__(self, trainer: Trainer) -> None:
        if self.terminated:
            trainer.request_stop("interrupted", f"stopped by {self.terminated}")
        request = trainer.stop_request
        code = 0 if request is None else _stop_code(request[0])
        agreed = self.communicator.maximum(code, f"agreeing to stop after step {trainer.step}")
        if agreed:
            self.agreed = STOP_REASONS[agreed - 1]
            if request is None:
                trainer.request_stop(self.agreed, f"another rank stopped ({self.agreed})")

    def ended_together(self, trainer: Trainer) -> bool:
        """Whether every rank ended the run at this step, for the same reason."""
        reason = trainer.stop_reason
        # Divergence is seen by StopOnNonFinite in the summed loss after the step, by all.
        return reason in ("done", self.agreed) or (reason == "diverged"
                                                   and not self.model.in_step)

    def finalize(self, trainer: Trainer) -> None:
        for number, handler in self._previous_handlers.items():
            signal.signal(number, handler)
        self._previous_handlers = {}
        if not self.ended_together(trainer):
            error = trainer.error
            what = f"{type(error).__name__}: {error}" if error else trainer.stop_reason
            self.communicator.abort(f"{what} (at step {trainer.step}): stopping every rank")

    def _check_agreement(self, trainer: Trainer) -> None:
        mine = fingerprints(trainer, self.model)
        everyone = self.communicator.allgather(mine, "checking that the ranks agree")
        problems = []
        for what in mine:
            differ = [r for r, theirs in enumerate(everyone) if theirs[what] != everyone[0][what]]
            if differ:
                problems.append(f"rank{'s' if len(differ) > 1 else ''} "
                                f"{', '.join(map(str, differ))} about {what}")
        if problems:  # every rank found the same, and stops before the first step
            raise DistributedError(f"the ranks disagree with rank 0: {'; '.join(problems)}. "
                                   "Every rank must run the same command, options and seed "
                                   "on the same data")

    def _broadcast_state(self, optimizer) -> None:
        arrays = [p.w for p in self.model.parameter_nodes] + [
            entry[key] for entry in optimizer.state for key in sorted(entry)]
        flat = np.concatenate([a.ravel().astype(np.float64) for a in arrays])
        self.communicator.broadcast(flat, "broadcasting rank 0's weights")
        offset = 0
        for array in arrays:
            array[...] = flat[offset:offset + array.size].reshape(array.shape)
            offset += array.size


def _stop_code(reason: str) -> int:
    """1 + the reason's place in STOP_REASONS (later ones win); an unknown one is an error."""
    return STOP_REASONS.index(reason if reason in STOP_REASONS else "error") + 1


class _RootCheckpoint(Extension):
    """The run's Checkpoint, written by rank 0 alone, with every rank's carried state
    gathered first, so the file holds the global state (it resumes at any K)."""

    def __init__(self, checkpoint: Checkpoint, model: DataParallel):
        self.checkpoint, self.model = checkpoint, model
        self.trigger, self.priority = checkpoint.trigger, checkpoint.priority
        self.name = checkpoint.name
        self.saved_step = -1

    def __call__(self, trainer: Trainer) -> None:
        self._save(trainer)

    def finalize(self, trainer: Trainer) -> None:
        # The Coordinator, finalized before, has stopped every rank unless they ended together.
        if trainer.step > 0 and trainer.step != self.saved_step:
            self._save(trainer)

    def _save(self, trainer: Trainer) -> None:
        gathered = self.model.gather_carried_state()
        self.saved_step = trainer.step
        if self.model.communicator.rank != 0:
            return
        model = self.model.model
        own = model.carried_state
        if gathered is not None:
            model.carried_state = gathered
        try:
            self.checkpoint.save(trainer)
        finally:
            model.carried_state = own

    def state_dict(self) -> dict:
        return self.checkpoint.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.checkpoint.load_state_dict(state)


def share_evaluation(evaluate: Evaluate, model: DataParallel) -> None:
    """Let each rank evaluate its share of ``evaluate``'s arrays and sum the results (the
    metrics are means over examples); left whole when there are fewer rows than ranks."""
    if callable(evaluate.data):
        return
    X, Y = evaluate.data
    communicator, axis = model.communicator, model.batch_axis
    n = np.shape(X)[axis]
    if n < communicator.size:
        return
    rows = shard(n, communicator.rank, communicator.size)
    X, Y = take_rows(X, rows, axis), take_rows(Y, rows, axis)
    count = rows.stop - rows.start

    def measure(net) -> dict:
        metrics = model.model.evaluate(X, Y, batch_size=evaluate.batch_size)
        keys = sorted(metrics)
        sums = np.array([metrics[k] * count for k in keys] + [count], dtype=np.float64)
        communicator.allreduce(sums, f"summing an evaluation ({evaluate.prefix}...)")
        return {k: float(sums[i] / sums[-1]) for i, k in enumerate(keys)}

    evaluate.data = measure


def wrap(trainer: Trainer, communicator: Communicator | None = None) -> Trainer:
    """Make ``trainer``'s run data-parallel over the MPI ranks (the module docstring says
    how); returns ``trainer``, changed in place.  Every rank calls it, with the same model,
    optimizer, data iterator and extensions, before ``run()``; for example, under
    ``mpirun -n 4``: ``distributed.wrap(Trainer(model, optimizer, data, epochs=3)).run()``.
    """
    if isinstance(trainer.model, DataParallel):
        return trainer
    communicator = communicator or world()
    model = DataParallel(trainer.model, communicator)
    trainer.model = model
    extensions = [Coordinator(model)]
    for extension in trainer.extensions:
        if isinstance(extension, Checkpoint):
            extension = _RootCheckpoint(extension, model)
        elif isinstance(extension, ROOT_ONLY) and communicator.rank != 0:
            continue
        elif isinstance(extension, Evaluate):
            share_evaluation(extension, model)
        extensions.append(extension)
    trainer.extensions = sorted(extensions, key=lambda extension: extension.priority)
    return trainer


class DistributedRun(Run):
    """A ``dagnet.training.Run`` that trains data-parallel when an MPI launcher started K > 1
    processes (and is a plain Run otherwise).  Rank 0 alone writes and reports; the other
    ranks get an empty scratch folder, train, and leave the process when training ends
    (SystemExit with rank 0's status: 0, 1 for an error every rank saw, 130 when
    interrupted), so that what follows ``train`` in a command runs on rank 0 alone.  The
    record says how the work was shared: ``world_size``, ``per_rank_batch``,
    ``allreduce_seconds``."""

    def __init__(self, command: str, folder=None, *, quiet: bool = False, **options):
        self.world_size, self.root = launched_size(), is_root()
        if self.world_size > 1:
            require_mpi()
        if not self.root:
            folder = tempfile.mkdtemp(prefix="dagnet-rank-")
        super().__init__(command, folder, quiet=quiet or not self.root, **options)
        self.record.update(world_size=self.world_size)

    def train(self, trainer: Trainer) -> History:
        if self.world_size == 1:
            return super().train(trainer)
        if not self.root:
            self._train_and_leave(trainer)
        history = super().train(wrap(trainer))
        self.record.update(**trainer.model.summary())
        return history

    def _train_and_leave(self, trainer: Trainer) -> NoReturn:
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                history = wrap(trainer).run()
        except DagnetError:  # every rank stopped on it: rank 0 reports it
            raise SystemExit(1) from None
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
        raise SystemExit(130 if history.stop_reason == "interrupted" else 0)


# -- the agreement check ---------------------------------------------------------------------

def fingerprints(trainer: Trainer, model) -> dict[str, str]:
    """Hashes of what the ranks must agree about: the model's configuration, the
    optimizer, the data (its arrays, position and generator) and the run's bounds."""
    inner, optimizer, data = getattr(model, "model", model), trainer.optimizer, trainer.data
    shared = [(type(e).__name__, e.trigger) for e in trainer.extensions
              if not isinstance(e, ROOT_ONLY)]
    return {
        "the model": digest(type(inner).__name__, inner.config(), str(inner.dtype)),
        "the optimizer": digest(type(optimizer).__name__, optimizer.config(), optimizer.t,
                                [[(k, v.shape, v.dtype.str) for k, v in sorted(e.items())]
                                 for e in optimizer.state]),
        "the data": digest(type(data).__name__, data.batches_per_epoch, data.state_dict(),
                           *data_arrays(data)),
        "the run's length and extensions": digest(trainer.step, trainer.epochs,
                                                  trainer.max_steps, trainer.log_every,
                                                  shared),
    }


def data_arrays(data) -> list[np.ndarray]:
    """The arrays a data iterator reads from: its own, and those of the objects it holds
    (char-rnn's streams)."""
    found = []
    for value in vars(data).values():
        if isinstance(value, np.ndarray):
            found.append(value)
        elif hasattr(value, "__dict__") and not callable(value):
            found += [v for v in vars(value).values() if isinstance(v, np.ndarray)]
    return found


def digest(*parts) -> str:
    """A short hash of arrays (dtype, shape and bytes) and JSON-ready values."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(f"{part.dtype.str}{part.shape}".encode())
            h.update(np.ascontiguousarray(part).data)
        else:
            h.update(json.dumps(jsonable(part), sort_keys=True, default=repr).encode())
    return h.hexdigest()
