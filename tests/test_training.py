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
