"""dagnet.experiments.toy: the toy network, what dagnet xor trains, and the learning-rate sweep."""

from __future__ import annotations

import numpy as np
import pytest

from dagnet.data import toy as data
from dagnet.errors import ShapeError
from dagnet.experiments import toy
from dagnet.optim import make_optimizer
from dagnet.training import Extension


def test_the_toy_network_scales_its_first_layer_only():
    scaled = toy.toy_network([3, 2, 1], "tanh", 0.25, toy.streams(4)["init"], "float64")
    plain = toy.toy_network([3, 2, 1], "tanh", 1.0, toy.streams(4)["init"], "float64")
    first, *others = zip(scaled.parameter_nodes, plain.parameter_nodes)
    np.testing.assert_array_equal(first[0].w, 0.25 * first[1].w)
    for a, b in others:
        np.testing.assert_array_equal(a.w, b.w)
    assert scaled.task == "binary" and scaled.predict(np.zeros((5, 2))).shape == (5, 1)
    assert toy.toy_network([2, 1]).dtype == np.float32  # float32 unless asked


def test_the_toy_network_has_one_output():
    with pytest.raises(ShapeError, match=r"one output .* got layers \[4, 2\]"):
        toy.toy_network([4, 2])


@pytest.mark.parametrize("steps,every", [(1, 1), (200, 1), (201, 2), (300, 2), (2000, 10),
                                         (2001, 11)])
def test_xor_logs_at_most_200_entries(steps, every):
    assert toy.log_interval(steps) == every and steps // every <= 200


def test_the_smallest_network_learns_xor_for_9_of_seeds_0_to_9():
    X, Y = data.xor(np.float32)
    solved = []
    for seed in range(10):
        model, history = toy.train_xor([2, 1], seed=seed)
        assert len(history) == 200 and history.stop_reason == "done"
        solved.append(bool(np.all((model.predict(X) > 0.5) == (Y > 0.5))))
    # Seed 9 is stuck: two points of different classes share a saturated hidden code
    # (docs/xor.md).
    assert np.flatnonzero(~np.array(solved)).tolist() == [9]


def sweep(learning_rates, epochs=50, extensions=lambda lr: ()):
    return toy.sweep_learning_rates(
        lambda: toy.toy_network([4, 4, 1], "tanh", 0.1, toy.streams(0)["init"]),
        lambda model, lr: make_optimizer("gd", model.parameter_nodes, learning_rate=lr),
        learning_rates, epochs, extensions)


def test_every_rate_starts_from_the_same_weights_and_is_classified():
    runs = sweep([3.0, 1e-6, 1e308])
    assert [r.status for r in runs] == ["slow", "slow", "diverged"]
    assert len({r.initial_cost for r in runs}) == 1
    assert runs[2].reason.startswith("the training loss became nan at epoch")
    assert runs[2].final_cost is None and runs[2].accuracy is None
    summary = toy.sweep_summary(runs)
    assert summary["best_lr"] == 3.0 and summary["final_cost"] == runs[0].final_cost
    assert summary["slow"] == [3.0, 1e-6] and summary["diverged"] == [1e308]
    assert summary["stop_reason"] == "done" and summary["final"] == runs[0].history[-1]
    assert "model" not in summary["runs"][0] and summary["runs"][0]["lr"] == 3.0


class StopAt(Extension):
    """Ends the run at ``step`` the way Ctrl-C does."""

    trigger = (1, "step")

    def __init__(self, step: int):
        self.step = step

    def __call__(self, trainer) -> None:
        if trainer.step == self.step:
            trainer.request_stop("interrupted")


def test_an_interruption_stops_the_sweep():
    runs = sweep([1.0, 2.0, 3.0], extensions=lambda lr: [StopAt(20)] if lr == 2.0 else [])
    assert [(r.lr, r.status) for r in runs] == [(1.0, "slow"), (2.0, "interrupted")]
    assert runs[1].history[-1]["step"] == 20
    assert toy.sweep_summary(runs)["stop_reason"] == "interrupted"


def test_a_sweep_where_everything_diverged_has_no_best_run(tmp_path):
    runs = sweep([1e308], epochs=5)
    summary = toy.sweep_summary(runs)
    assert summary["best_lr"] is None and summary["history"] == [] and summary["final"] == {}
    figures, files = toy.save_sweep(tmp_path, runs, "XOR", {"command": "test"})
    assert figures == ["lr_sweep.png"] and list(files) == ["log"]
    assert not (tmp_path / "model.safetensors").exists()
