"""Data-parallel training (dagnet.distributed): K ranks on shares of each batch give the
weights of one process on whole batches; a rank that dies or hangs stops the others.

The mechanism is checked in one process first, with K ranks as threads (a communicator
of the same interface), then with real processes under ``mpirun -n 2``
(tests/mpi_script.py), which skips where mpirun or mpi4py is missing (fails in CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import dagnet
from dagnet import distributed
from dagnet.cli import main
from dagnet.cli import mnist as mnist_command
from dagnet.errors import DistributedError
from dagnet.training import Extension, StreamBatches, optimizer_from_checkpoint, resume
from tests import mpi_script
from tests.conftest import ROOT, SHARED_DATA, in_ci, require, require_data

TOLERANCE = 1e-10  # float64, 20 steps: sums in another order, nothing else


def max_difference(a: dict, b: dict) -> float:
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


# -- pure functions -------------------------------------------------------------------------

@pytest.mark.parametrize("n, size", [(11, 2), (9, 2), (4, 3), (2, 3), (0, 2), (128, 64)])
def test_shards_cover_the_rows_in_order_and_differ_by_one_row_at_most(n, size):
    shares = [distributed.shard(n, rank, size) for rank in range(size)]
    assert [i for s in shares for i in range(s.start, s.stop)] == list(range(n))
    lengths = [s.stop - s.start for s in shares]
    assert max(lengths) - min(lengths) <= 1


def test_take_rows_cuts_the_batch_axis():
    X = np.arange(24).reshape(2, 4, 3)
    assert np.array_equal(distributed.take_rows(X, slice(1, 3), 0), X[1:3])
    assert np.array_equal(distributed.take_rows(X, slice(1, 3), 1), X[:, 1:3])


def test_the_launch_is_read_from_the_launchers_variables(monkeypatch):
    for name in (*distributed.SIZE_VARIABLES, *distributed.RANK_VARIABLES,
                 "SLURM_STEP_NUM_TASKS"):
        monkeypatch.delenv(name, raising=False)
    assert (distributed.launched_size(), distributed.launched_rank()) == (1, 0)
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "3")
    assert (distributed.launched_size(), distributed.launched_rank()) == (4, 3)
    assert not distributed.is_root()
    monkeypatch.delenv("OMPI_COMM_WORLD_SIZE")
    monkeypatch.setenv("PMIX_RANK", "3")
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "8")  # srun --mpi=pmix
    assert distributed.launched_size() == 8
    monkeypatch.setenv("PMI_SIZE", "two")
    with pytest.raises(DistributedError, match="PMI_SIZE='two' is not an integer"):
        distributed.launched_size()


def test_without_mpi4py_a_launched_command_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "0")
    real = distributed.importlib.util.find_spec
    monkeypatch.setattr(distributed.importlib.util, "find_spec",
                        lambda name, *a: None if name == "mpi4py" else real(name, *a))
    with pytest.raises(DistributedError, match=r"2 processes \(OMPI_COMM_WORLD_SIZE\), but "
                                               r"mpi4py is not installed: pip install"):
        distributed.require_mpi()
    code = main(["mnist", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "run"),
                 "--quiet"])
    assert code == 1 and not (tmp_path / "run").exists()


@pytest.mark.parametrize("value, message", [("0", "positive number"), ("-3", "positive number"),
                                            ("inf", "positive number"),
                                            ("soon", "DAGNET_MPI_TIMEOUT='soon' is not")])
def test_a_bad_timeout_is_refused(monkeypatch, value, message):
    monkeypatch.setenv(distributed.TIMEOUT_VARIABLE, value)
    with pytest.raises(DistributedError, match=message):
        distributed._timeout(None)


def test_fingerprints_change_with_the_data_the_model_and_the_run():
    X, labels = mpi_script.mlp_data()
    base = distributed.fingerprints(mpi_script.mlp_trainer(None, X, labels), mpi_script.mlp())
    other_data = distributed.fingerprints(
        mpi_script.mlp_trainer(None, X + 1e-9, labels), mpi_script.mlp())
    longer = distributed.fingerprints(mpi_script.mlp_trainer(None, X, labels, steps=21),
                                      mpi_script.mlp())
    assert [k for k in base if base[k] != other_data[k]] == ["the data"]
    assert [k for k in base if base[k] != longer[k]] == ["the run's length and extensions"]


# -- K ranks as threads ----------------------------------------------------------------------

class ThreadGroup:
    """K ranks in one process, as threads: each has a communicator of the interface of
    ``distributed.Communicator``, whose collectives meet at a barrier."""

    def __init__(self, size: int):
        self.size = size
        self.barrier = threading.Barrier(size, timeout=60)
        self.slots: list = [None] * size

    def communicator(self, rank: int):
        group = self

        class Member:
            def __init__(self):
                self.rank, self.size = rank, group.size

            def _exchange(self, value) -> list:
                group.slots[rank] = value
                group.barrier.wait()
                values = list(group.slots)
                group.barrier.wait()
                return values

            def allreduce(self, buffer, what):
                buffer[...] = np.sum(self._exchange(buffer.copy()), axis=0)

            def broadcast(self, buffer, what):
                buffer[...] = self._exchange(buffer.copy())[0]

            def allgather(self, value, what):
                return self._exchange(value)

            def gather(self, value, what):
                values = self._exchange(value)
                return values if rank == 0 else None

            def maximum(self, value, what):
                return max(self._exchange(value))

            def abort(self, message):
                raise AssertionError(message)

        return Member()

    def run(self, work) -> list:
        """``work(rank, communicator)`` on every rank; what each returned."""
        results, errors = [None] * self.size, []

        def target(rank):
            try:
                results[rank] = work(rank, self.communicator(rank))
            except BaseException as exc:  # reported by the test below
                errors.append(exc)
                self.barrier.abort()

        threads = [threading.Thread(target=target, args=(r,)) for r in range(self.size)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return results


@pytest.mark.parametrize("size", [2, 3])
def test_k_threads_train_the_mlp_of_one_process(size):
    """Batches of 11 rows over 3 ranks: shares of 3, 4, 4; the epochs' last batches
    of 9 rows too.  Every rank ends with the one-process weights and history."""
    X, labels = mpi_script.mlp_data()
    reference = mpi_script.mlp_trainer(None, X, labels)
    expected = reference.run()

    def work(rank, communicator):
        trainer = distributed.wrap(mpi_script.mlp_trainer(None, X, labels), communicator)
        return trainer.run(), mpi_script.weights(trainer.model)

    for history, weights in ThreadGroup(size).run(work):
        assert max_difference(mpi_script.weights(reference.model), weights) < TOLERANCE
        assert [e["step"] for e in history] == [e["step"] for e in expected]
        for mine, theirs in zip(history, expected):
            assert mine["loss"] == pytest.approx(theirs["loss"], abs=TOLERANCE)
            assert mine.get("train_accuracy") == pytest.approx(theirs.get("train_accuracy"))


def test_ranks_without_rows_keep_up_and_the_checkpoint_holds_every_streams_state(tmp_path):
    """char-rnn's 5 streams over 6 ranks: rank 0 gets none.  The checkpoint taken
    mid-epoch holds the state of all 5 streams and resumes in one process."""
    reference = mpi_script.charrnn_trainer(None)
    reference.run()

    def work(rank, communicator):
        trainer = distributed.wrap(mpi_script.charrnn_trainer(tmp_path), communicator)
        trainer.run()
        return mpi_script.weights(trainer.model)

    for weights in ThreadGroup(6).run(work):
        assert max_difference(mpi_script.weights(reference.model), weights) < TOLERANCE
    assert max_difference(mpi_script.weights(reference.model),
                          _resumed_charrnn(tmp_path / "charrnn4.safetensors")) < TOLERANCE


def _resumed_charrnn(path: Path) -> dict:
    model = dagnet.load(path)
    trainer = mpi_script.charrnn_trainer(None)
    trainer.model, trainer.optimizer = model, optimizer_from_checkpoint(model, path)
    assert isinstance(trainer.data, StreamBatches)
    resume(trainer, path)
    assert len(model.carried_state[0]) == mpi_script.STREAMS
    trainer.run()
    return mpi_script.weights(model)


def test_a_budget_on_one_rank_stops_every_rank_after_the_same_step():
    X, labels = mpi_script.mlp_data()

    class StopAt(Extension):
        """Rank 1's budget is spent after step 7 (a time budget differs between ranks)."""

        trigger = (1, "step")

        def __init__(self, rank):
            self.rank = rank

        def __call__(self, trainer):
            if self.rank == 1 and trainer.step == 7:
                trainer.request_stop("budget", "time budget spent")

    def work(rank, communicator):
        trainer = mpi_script.mlp_trainer(None, X, labels, extensions=[StopAt(rank)])
        history = distributed.wrap(trainer, communicator).run()
        return history.stop_reason, history.steps

    assert ThreadGroup(3).run(work) == [("budget", 7)] * 3


def test_ranks_that_disagree_are_named():
    def work(rank, communicator):
        X, labels = mpi_script.mlp_data(shift=float(rank == 2))
        with pytest.raises(DistributedError) as caught:
            distributed.wrap(mpi_script.mlp_trainer(None, X, labels), communicator).run()
        return str(caught.value)

    messages = ThreadGroup(3).run(work)
    assert messages[0] == messages[2] and "rank 2 about the data" in messages[0]


# -- real processes under mpirun ---------------------------------------------------------------

def mpirun(arguments: list[str], timeout: float = 120, **environment):
    """``mpirun --oversubscribe -n 2 ARGUMENTS`` and its duration; skipped without mpirun or
    mpi4py (failed under CI, which installs both)."""
    require("mpi4py")
    if shutil.which("mpirun") is None:
        message = "mpirun not found (Debian: apt-get install openmpi-bin libopenmpi-dev)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMPI_ALLOW_RUN_AS_ROOT": "1",
           "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", **environment}
    started = time.monotonic()
    done = subprocess.run(["mpirun", "--oversubscribe", "-n", "2", *arguments], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    return done, time.monotonic() - started


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mpi")
    done, _ = mpirun([sys.executable, "tests/mpi_script.py", "agree", str(folder)])
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, json.loads((folder / "results.json").read_text())


def test_two_processes_train_the_mlp_of_one_process(two_ranks):
    folder, results = two_ranks
    X, labels = mpi_script.mlp_data()
    reference = mpi_script.mlp_trainer(None, X, labels)
    expected = reference.run()
    assert max_difference(mpi_script.weights(reference.model),
                          np.load(folder / "mlp.npz")) < TOLERANCE
    history = results["mlp"]["history"]
    assert [e["loss"] for e in history] == pytest.approx([e["loss"] for e in expected],
                                                         abs=TOLERANCE)
    summary = results["mlp"]["summary"]
    assert summary["world_size"] == 2 and summary["per_rank_batch"] == 6
    assert summary["allreduce_seconds"] > 0


def test_data_parallel_fit_is_model_fit(two_ranks):
    folder, _ = two_ranks
    model = mpi_script.mlp()
    X, labels = mpi_script.mlp_data()
    model.fit(X, labels, epochs=3, batch_size=mpi_script.BATCH, optimizer="adam",
              learning_rate=0.05, seed=5)
    assert max_difference(mpi_script.weights(model), np.load(folder / "fit.npz")) < TOLERANCE


def test_two_processes_checkpoint_what_one_process_resumes(two_ranks):
    folder, _ = two_ranks
    X, labels = mpi_script.mlp_data()
    reference = mpi_script.mlp_trainer(None, X, labels)
    reference.run()
    path = folder / "mlp10.safetensors"
    model = dagnet.load(path)
    trainer = mpi_script.mlp_trainer(None, X, labels)
    trainer.model, trainer.optimizer = model, optimizer_from_checkpoint(model, path)
    resume(trainer, path)
    trainer.run()
    assert max_difference(mpi_script.weights(reference.model),
                          mpi_script.weights(model)) < TOLERANCE
    charrnn = mpi_script.charrnn_trainer(None)
    charrnn.run()
    expected = mpi_script.weights(charrnn.model)
    assert max_difference(expected, np.load(folder / "charrnn.npz")) < TOLERANCE
    assert max_difference(expected, _resumed_charrnn(folder / "charrnn4.safetensors")) < TOLERANCE


def test_ranks_that_disagree_about_the_data_are_refused(two_ranks):
    _, results = two_ranks
    assert "the ranks disagree with rank 0: rank 1 about the data" in results["disagreement"]


@pytest.mark.parametrize("how, names", [
    ("raise", "rank 1 of 2: error: RuntimeError: injected failure (at step 3)"),
    ("kill", "process rank 1 with PID"),
    ("hang", "no answer from rank 1 for 1 s while agreeing to stop after step 3"),
])
def test_a_rank_that_dies_or_hangs_stops_the_other_with_its_name(tmp_path, how, names):
    done, seconds = mpirun([sys.executable, "tests/mpi_script.py", how, str(tmp_path)],
                           timeout=60, DAGNET_MPI_TIMEOUT="1")
    assert done.returncode != 0
    assert names in done.stdout + done.stderr
    assert seconds < 30  # a start-up, a second of timeout and the roll call: no hang


# The command without its figures (drawing them takes seconds, and nothing distributed).
WITHOUT_FIGURES = ("import sys; import dagnet.cli.mnist as m; m._draw = lambda *a, **k: {}; "
                   "from dagnet.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.mark.slow
def test_mpirun_dagnet_mnist_resumes_a_one_process_run_at_two_ranks(tmp_path, monkeypatch):
    """One process trains an epoch; two ranks resume it for a second: the weights of one
    process training both epochs, one run record, rank 0's lines alone."""
    data = require_data(SHARED_DATA / "mnist")
    monkeypatch.setattr(mnist_command, "_draw", lambda *args, **kwargs: {})
    common = ["mnist", "--layers", "10", "--train-size", "300", "--dtype", "float64",
              "--data", str(data), "--quiet"]
    assert main([*common, "--epochs", "2", "--out", str(tmp_path / "one")]) == 0
    assert main([*common, "--epochs", "1", "--out", str(tmp_path / "two")]) == 0
    done, _ = mpirun([sys.executable, "-c", WITHOUT_FIGURES, "mnist", "--resume",
                      str(tmp_path / "two" / "model.safetensors"), "--epochs", "2",
                      "--data", str(data), "--json"])
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = done.stdout.splitlines()
    summary, record = json.loads(line), json.loads((tmp_path / "two" / "metrics.json").read_text())
    expected = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert record["world_size"] == 2 and record["per_rank_batch"] == 64
    assert summary["stop_reason"] == "done" and record["history"][-1]["epoch"] == 2
    assert record["test_accuracy"] == pytest.approx(expected["test_accuracy"], abs=1e-12)
    assert done.stderr.count("mnist: test accuracy") == 1  # rank 0 reports, alone
    one = dagnet.load(tmp_path / "one" / "model.safetensors")
    two = dagnet.load(tmp_path / "two" / "model.safetensors")
    assert max_difference({p.name: p.w for p in one.parameter_nodes},
                          {p.name: p.w for p in two.parameter_nodes}) < TOLERANCE
