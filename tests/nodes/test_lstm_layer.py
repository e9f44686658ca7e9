"""LSTMLayerNode and EmbeddingNode beyond the table: shape errors that name the node,
outputs nobody reads, the loop against LSTMStepNode, and skipped gradients."""

from __future__ import annotations

import numpy as np
import pytest

from dagnet import GradientNode, InputNode, ShapeError
from dagnet.nodes import EmbeddingNode, LSTMLayerNode, LSTMStepNode


def layer_inputs(rng, T=4, B=3, H=5, dtype=np.float64):
    return [rng.standard_normal((T, B, 4 * H)).astype(dtype),
            rng.standard_normal((B, H)).astype(dtype),
            rng.standard_normal((B, H)).astype(dtype),
            (rng.standard_normal((H, 4 * H)) / np.sqrt(H)).astype(dtype)]


def test_the_layer_is_the_step_node_applied_step_by_step(rng):
    xz, h, c, u = layer_inputs(rng)
    node = LSTMLayerNode([InputNode(a) for a in (xz, h, c, u)])
    hs = node.get_output(0)
    for t in range(len(xz)):
        step = LSTMStepNode([InputNode(c), InputNode(xz[t] + h @ u)])
        c, h = step.get_output(0), step.get_output(1)
        np.testing.assert_allclose(hs[t], h, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(node.get_output(1), h, rtol=1e-13)
    np.testing.assert_allclose(node.get_output(2), c, rtol=1e-13)


@pytest.mark.parametrize("shapes, message", [
    ([(4, 3, 20), (3, 5), (3, 5), (5, 16)], r"U:\(H, 4H\)"),
    ([(4, 3, 16), (3, 5), (3, 5), (5, 20)], r"\(4, 3, 16\)"),
    ([(4, 3, 20), (3, 5), (2, 5), (5, 20)], r"c0:\(B, H\)"),
    ([(3, 20), (3, 5), (3, 5), (5, 20)], r"xz:\(T, B, 4H\)"),
])
def test_lstm_layer_names_the_shapes(shapes, message):
    node = LSTMLayerNode([InputNode(np.zeros(s)) for s in shapes], name="layer1/lstm")
    with pytest.raises(ShapeError, match=r"LSTMLayerNode 'layer1/lstm'.*" + message):
        node.get_output(0)


def test_final_states_nobody_reads_send_back_zeros(rng):
    """Only HS read: the same gradients as with zero dJ/dh_T and dJ/dc_T given explicitly."""
    values = layer_inputs(rng)
    inputs = [InputNode(a) for a in values]
    node = LSTMLayerNode(inputs)
    GradientNode([(node, 0)], np.ones((4, 3, 5)))
    got = [node.get_gradient(i) for i in range(4)]
    node.dJdy = [np.ones((4, 3, 5)), np.zeros((3, 5)), np.zeros((3, 5))]
    for a, b in zip(got, node.compute_gradient()):
        np.testing.assert_array_equal(a, b)


def test_float32_stays_float32_and_skipped_gradients_are_none(rng):
    values = layer_inputs(rng, dtype=np.float32)
    node = LSTMLayerNode([InputNode(a) for a in values])
    outputs = [node.get_output(k) for k in range(3)]
    assert all(y.dtype == np.float32 for y in outputs)
    node.dJdy = [np.ones_like(y) for y in outputs]
    node.needs_gradient = [True, False, False, True]
    dxz, dh0, dc0, du = node.compute_gradient()
    assert dh0 is None and dc0 is None
    assert dxz.dtype == du.dtype == np.float32


def test_embedding_refuses_bad_indices_and_matrices():
    node = EmbeddingNode([InputNode(np.array([[0, 9]])), InputNode(np.zeros((4, 3)))],
                         name="embedding")
    with pytest.raises(ShapeError, match=r"'embedding'.*\[0, 4\)"):
        node.get_output(0)
    node = EmbeddingNode([InputNode(np.array([0])), InputNode(np.zeros(4))], name="e")
    with pytest.raises(ShapeError, match=r"E:\(V, D\)"):
        node.get_output(0)


def test_embedding_gradient_adds_the_rows_of_repeated_symbols():
    E = InputNode(np.arange(12.0).reshape(4, 3))
    node = EmbeddingNode([InputNode(np.array([[1, 1], [3, 1]])), E])
    GradientNode([node], np.ones((2, 2, 3)))
    dE = node.get_gradient(1)
    np.testing.assert_array_equal(dE, [[0, 0, 0], [3, 3, 3], [0, 0, 0], [1, 1, 1]])
