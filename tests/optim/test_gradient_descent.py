"""The OptimizationAlgorithm strategy and plain gradient descent."""

from __future__ import annotations

import numpy as np
import pytest

from dagnet import (
    GradientDescent,
    Graph,
    InputNode,
    OptimizationAlgorithm,
    ParameterNode,
    SquaredErrorNode,
)


def test_one_step_is_w_minus_lr_times_mean_gradient():
    w = ParameterNode(np.array([1.0, -2.0]))
    target = InputNode(name="Y")
    cost = SquaredErrorNode([target, w])
    graph = Graph(None, [], [w], [target], cost)
    graph.propagate([])
    graph.backpropagate([np.zeros(2)])  # J = Σ w², dJ/dw = 2w
    GradientDescent([w], 0.1).optimize(batch_size=4)
    np.testing.assert_allclose(w.w, [1.0 - 0.1 * 2 / 4, -2.0 + 0.1 * 4 / 4])


def test_strategy_hook_receives_the_index_and_the_averaged_gradient():
    seen = []

    class Recorder(OptimizationAlgorithm):
        def compute_direction(self, i, grad):
            seen.append((i, grad.copy()))
            return np.zeros_like(grad)

    a, b = ParameterNode(np.ones(2)), ParameterNode(np.ones(3))
    a.dJdx, b.dJdx = [np.full(2, 4.0)], [np.full(3, 8.0)]
    a.dirty_dJdx = b.dirty_dJdx = False
    optimizer = Recorder([a, b], 0.5)
    optimizer.optimize(batch_size=2)
    assert [i for i, _ in seen] == [0, 1]
    np.testing.assert_array_equal(seen[1][1], np.full(3, 4.0))
    assert optimizer.t == 1 and optimizer.state == [{}, {}]


@pytest.mark.parametrize("lr", [0, -1, float("nan"), float("inf")])
def test_learning_rate_is_validated(lr):
    with pytest.raises(ValueError, match="learning_rate must be in"):
        GradientDescent([], lr)
