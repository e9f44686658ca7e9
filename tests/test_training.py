"""The mini-batch training loop."""

from __future__ import annotations

import numpy as np
import pytest

from dagnet import GradientDescent, NonFiniteError, fully_connected
from dagnet.training import minibatches, train


def test_minibatches_cover_every_row_once(rng):
    batches = list(minibatches(10, 3, rng))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert sorted(np.concatenate(batches)) == list(range(10))
    assert list(np.concatenate(list(minibatches(5, 2, None)))) == [0, 1, 2, 3, 4]


def test_history_has_costs_times_and_callback_entries(rng):
    X = rng.standard_normal((50, 2))
    Y = (X[:, :1] > 0).astype(float)
    graph = fully_connected([3, 1], 2, rng=rng)
    history = train(graph, GradientDescent(graph.parameter_nodes, 0.5), X, Y, epochs=3,
                    batch_size=8, rng=rng, on_epoch=lambda e: {"doubled": 2 * e},
                    progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert [h["doubled"] for h in history] == [2, 4, 6]
    assert history[-1]["cost"] < history[0]["cost"]
    assert all(h["seconds"] > 0 for h in history)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_diverging_cost_names_epoch_and_step(rng):
    X = rng.standard_normal((40, 2)) * 1e3
    Y = X[:, :1] * 1e3
    graph = fully_connected([4, 1], 2, output_activation="identity", rng=rng)
    with pytest.raises(NonFiniteError, match=r"epoch \d+, step \d+ of 5.*lower learning rate "
                                             r"\(it is 100\)"):
        train(graph, GradientDescent(graph.parameter_nodes, 100.0), X, Y, epochs=50,
              batch_size=8, rng=rng, progress=False)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverging_run_keeps_its_history_on_the_error(rng):
    X = rng.standard_normal((40, 2)) * 1e3
    Y = X[:, :1] * 1e3
    graph = fully_connected([4, 1], 2, output_activation="identity", rng=rng)
    with pytest.raises(NonFiniteError) as caught:
        train(graph, GradientDescent(graph.parameter_nodes, 100.0), X, Y, epochs=50,
              batch_size=8, rng=rng, progress=False)
    history = caught.value.history
    failed_epoch = int(str(caught.value).split("epoch ")[1].split(",")[0])
    assert failed_epoch > 1
    assert [h["epoch"] for h in history] == list(range(1, failed_epoch))


def test_one_bar_per_run_trains_like_one_bar_per_epoch(capsys):
    X = np.random.default_rng(0).standard_normal((12, 2))
    Y = (X[:, :1] > 0).astype(float)
    results = []
    for unit in ("example", "epoch"):
        graph = fully_connected([3, 1], 2, rng=np.random.default_rng(1))
        history = train(graph, GradientDescent(graph.parameter_nodes, 0.5), X, Y, epochs=30,
                        batch_size=12, progress=True, progress_unit=unit, description="xor")
        results.append(([h["cost"] for h in history], graph.parameter_nodes[0].w.copy()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    bars = capsys.readouterr().err
    assert "xor 30/30" in bars  # per-epoch bars are named by epoch
    assert "epoch/s" in bars or "s/epoch" in bars  # the run bar counts epochs
    with pytest.raises(ValueError, match="progress_unit"):
        train(graph, GradientDescent(graph.parameter_nodes, 0.5), X, Y, epochs=1,
              batch_size=12, progress_unit="step")


def test_progress_bar_names_the_examples(rng, capsys):
    graph = fully_connected([3, 1], 2, rng=rng)
    train(graph, GradientDescent(graph.parameter_nodes, 0.1), np.ones((10, 2)),
          np.ones((10, 1)), epochs=1, batch_size=5, progress=True, example_unit="img")
    assert "img/s" in capsys.readouterr().err
