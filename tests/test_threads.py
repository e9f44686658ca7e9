"""dagnet.threads: the BLAS thread count set, restored and refused; the auto policy's
arithmetic on a fake /proc/stat."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from dagnet import threads


@pytest.fixture
def restore_threads():
    before = threads.get_threads()
    yield
    threads.set_threads(before)


def test_set_threads_and_the_context_manager_restore(restore_threads):
    threads.set_threads(1)
    assert threads.get_threads() == 1
    cores = threads.available_cores()
    with threads.blas_threads(cores) as count:
        assert count == cores == threads.get_threads()
        a = np.ones((64, 64))
        np.testing.assert_array_equal(a @ a, 64 * a)  # products still work
    assert threads.get_threads() == 1


def test_the_context_manager_restores_after_an_error(restore_threads):
    threads.set_threads(1)
    with pytest.raises(RuntimeError), threads.blas_threads(threads.available_cores()):
        raise RuntimeError("inside")
    assert threads.get_threads() == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, 10_000])
def test_bad_counts_are_refused_with_the_range(bad):
    with pytest.raises(ValueError, match=r"integer from 1 to \d+.*'auto'"):
        threads.set_threads(bad)


class FakeMachine:
    """/proc/stat and the clocks of a machine of ``cores`` cores, advanced by hand."""

    def __init__(self, tmp_path, monkeypatch, cores: int = 2):
        self.path = tmp_path / "stat"
        self.cores = cores
        self.wall = self.own = 0.0
        self.idle = self.busy = 0
        monkeypatch.setattr(threads, "PROC_STAT", str(self.path))
        monkeypatch.setattr(threads.os, "cpu_count", lambda: cores)
        monkeypatch.setattr(threads, "available_cores", lambda: cores)
        monkeypatch.setattr(threads.time, "perf_counter", lambda: self.wall)
        monkeypatch.setattr(threads.time, "process_time", lambda: self.own)
        monkeypatch.setattr(threads.time, "sleep", lambda s: self.run(s, others=0, own=0))
        monkeypatch.setattr(threads, "_last_sample", None)
        monkeypatch.setattr(threads, "_last_estimate", None)
        self.write()

    def run(self, seconds: float, others: float, own: float) -> None:
        """``seconds`` pass with ``others`` cores used by other processes, ``own`` by us."""
        jiffies = round(100 * seconds)
        self.wall += seconds
        self.own += own * seconds
        self.busy += round(jiffies * (others + own))
        self.idle += round(jiffies * (self.cores - others - own))
        self.write()

    def write(self) -> None:
        # user nice system idle iowait irq softirq steal guest guest_nice
        self.path.write_text(f"cpu  {self.busy} 0 0 {self.idle} 0 0 0 0 0 0\ncpu0 1 2 3\n")


def test_auto_uses_every_core_of_a_quiet_machine(tmp_path, monkeypatch):
    machine = FakeMachine(tmp_path, monkeypatch)
    assert threads.auto_threads() == 2  # the first call watches a quiet machine
    machine.run(1.0, others=0, own=1)  # one thread of ours, one core idle
    assert threads.free_cores() == pytest.approx(2)
    assert threads.auto_threads() == 2


def test_auto_leaves_the_core_of_a_busy_neighbour(tmp_path, monkeypatch):
    machine = FakeMachine(tmp_path, monkeypatch)
    machine.run(0.0, others=0, own=0)
    threads.free_cores()
    machine.run(1.0, others=1, own=1)  # a spinning neighbour beside our one thread
    assert threads.free_cores() == pytest.approx(1)
    # our two threads get 2/3 of the two cores: still only one core is ours
    machine.run(1.0, others=2 / 3, own=4 / 3)
    assert threads.auto_threads() == 1


def test_auto_keeps_one_thread_on_an_overloaded_machine(tmp_path, monkeypatch):
    machine = FakeMachine(tmp_path, monkeypatch)
    threads.free_cores()
    machine.run(2.0, others=1.8, own=0.2)
    assert threads.free_cores() == pytest.approx(0.2)
    assert threads.auto_threads() == 1


def test_calls_closer_than_the_window_reuse_the_estimate(tmp_path, monkeypatch):
    machine = FakeMachine(tmp_path, monkeypatch)
    threads.free_cores()
    machine.run(1.0, others=1, own=1)
    assert threads.free_cores() == pytest.approx(1)
    machine.run(0.01, others=0, own=0)  # too short to read: the previous estimate
    assert threads.free_cores() == pytest.approx(1)


def test_without_proc_stat_auto_uses_the_available_cores(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "PROC_STAT", str(tmp_path / "missing"))
    assert threads.free_cores() is None
    assert threads.auto_threads() == threads.available_cores()


def test_no_visible_blas_warns_once_and_changes_nothing(monkeypatch):
    class NoBlas:
        def select(self, user_api):
            assert user_api == "blas"
            return type("Selection", (), {"lib_controllers": []})()

    monkeypatch.setattr(threads, "_controller", None)
    monkeypatch.setattr(threads, "ThreadpoolController", NoBlas)
    with pytest.warns(RuntimeWarning, match="no BLAS library"):
        assert threads.get_threads() is None
    assert threads.set_threads(1) == 1  # nothing to set: no error, no second warning


def test_parallel_map_keeps_the_order_and_one_blas_thread_per_worker(restore_threads):
    if threads.available_cores() < 2:
        pytest.skip("needs two cores")
    threads.set_threads(2)
    seen = threads.parallel_map(lambda k: (k, threads.get_threads(), threading.get_ident()),
                                range(6))
    assert [k for k, _, _ in seen] == list(range(6))
    assert {count for _, count, _ in seen} == {1}  # each piece's products on one thread
    assert threading.get_ident() not in {ident for _, _, ident in seen}
    assert threads.get_threads() == 2  # restored


def test_parallel_map_with_one_thread_is_a_loop_in_the_caller(restore_threads):
    threads.set_threads(1)
    idents = threads.parallel_map(lambda k: threading.get_ident(), range(3))
    assert set(idents) == {threading.get_ident()}


def _parallel_sum_in_child(queue) -> None:
    threads.set_threads(2)
    queue.put(sum(threads.parallel_map(lambda k: k * k, range(4))))


def test_parallel_map_works_in_a_forked_child_of_a_process_that_used_it(restore_threads):
    import multiprocessing

    if threads.available_cores() < 2 or "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs two cores and fork")
    threads.set_threads(2)
    threads.parallel_map(lambda k: k, range(4))  # the parent's pool exists
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_parallel_sum_in_child, args=(queue,))
    child.start()
    child.join(timeout=30)
    if child.is_alive():
        child.terminate()
    assert child.exitcode == 0 and queue.get(timeout=1) == 14

