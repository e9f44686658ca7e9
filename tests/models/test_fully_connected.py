"""fully_connected: structure, formulations, initialization, dtypes, and XOR."""

from __future__ import annotations

import numpy as np
import pytest

from dagnet import GradientDescent, fully_connected

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=float)


def test_layers_follow_the_tutorial_convention(rng):
    graph = fully_connected([128, 64, 10], 784, output_activation="softmax", rng=rng)
    shapes = [p.w.shape for p in graph.parameter_nodes]
    assert shapes == [(784, 128), (128,), (128, 64), (64,), (64, 10), (10,)]
    (out,) = graph.propagate([rng.standard_normal((3, 784))])
    assert out.shape == (3, 10)
    np.testing.assert_allclose(out.sum(axis=1), 1)


def test_both_formulations_compute_the_same_function(rng):
    affine = fully_connected([5, 2], 3, rng=np.random.default_rng(1))
    tutorial = fully_connected([5, 2], 3, rng=np.random.default_rng(1), formulation="tutorial")
    for k, w in enumerate(tutorial.parameter_nodes):
        W, b = affine.parameter_nodes[2 * k].w, affine.parameter_nodes[2 * k + 1].w
        np.testing.assert_array_equal(w.w[1:], W)  # same draws; bias row first
        w.w[0] = b + 0.1 * (k + 1)
        affine.parameter_nodes[2 * k + 1].w = w.w[0].copy()
    X = rng.standard_normal((4, 3))
    np.testing.assert_allclose(affine.propagate([X])[0], tutorial.propagate([X])[0])


def test_initialization_is_seeded_and_scaled():
    a = fully_connected([300], 200, rng=np.random.default_rng(3)).parameter_nodes[0].w
    b = fully_connected([300], 200, rng=np.random.default_rng(3)).parameter_nodes[0].w
    np.testing.assert_array_equal(a, b)
    assert np.abs(a).max() <= np.sqrt(6 / 500)
    assert a.std() == pytest.approx(np.sqrt(2 / 500), rel=0.05)  # Glorot variance
    relu = fully_connected([300, 1], 200, hidden_activation="relu",
                           rng=np.random.default_rng(3)).parameter_nodes[0].w
    assert relu.std() == pytest.approx(np.sqrt(2 / 200), rel=0.05)  # He variance


def test_float32_end_to_end(rng):
    graph = fully_connected([8, 3], 4, output_activation="softmax", rng=rng, dtype=np.float32)
    X = rng.standard_normal((6, 4)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]
    (out,) = graph.propagate([X])
    assert out.dtype == np.float32
    graph.backpropagate([Y])
    for node in graph.nodes:
        for y in node.y or []:
            assert y.dtype == np.float32, node.describe()
    for p in graph.parameter_nodes:
        assert p.get_gradient(0).dtype == np.float32, p.describe()
    GradientDescent(graph.parameter_nodes, 0.1).optimize(6)
    assert all(p.w.dtype == np.float32 for p in graph.parameter_nodes)


@pytest.mark.parametrize("bad,message", [
    (dict(layers=[]), "positive"), (dict(hidden_activation="swish"), "unknown activation"),
    (dict(cost="hinge"), "unknown cost"), (dict(formulation="fast"), "formulation"),
    (dict(cost="softmax_cross_entropy"), "must follow a softmax output"),
])
def test_bad_arguments(bad, message):
    kwargs = dict(layers=[2], n_inputs=2) | bad
    with pytest.raises(ValueError, match=message):
        fully_connected(**kwargs)


def test_xor_is_learned_by_the_tutorial_network():
    graph = fully_connected([4, 4, 1], 2, rng=np.random.default_rng(0))
    optimizer = GradientDescent(graph.parameter_nodes, 1.0)
    for _ in range(2000):
        graph.propagate([XOR_X])
        graph.backpropagate([XOR_Y])
        optimizer.optimize(4)
    (out,) = graph.propagate([XOR_X])
    np.testing.assert_array_equal(out > 0.5, XOR_Y > 0.5)
