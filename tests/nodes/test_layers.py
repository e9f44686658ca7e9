"""GRULayerNode and RNNLayerNode beyond the table: value for value and gradient for
gradient against the graph unrolled step by step with the fused step nodes, shape
errors that name the node, float32 and skipped gradients.  (Forward references and
gradient checks: cases.py; against PyTorch: test_layers_torch.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from dagnet import GradientNode, InputNode, ParameterNode, ShapeError
from dagnet.models.rnn import CELL_TYPES, unroll_layer
from dagnet.nodes import GRULayerNode, RNNLayerNode

LAYER_NODES = {"gru": GRULayerNode, "rnn": RNNLayerNode}
T, B, N_IN, H = 7, 3, 4, 5


def make_cell(kind: str, rng: np.random.Generator):
    """A cell with a non-zero bias, so that every term of the step is exercised."""
    cell = CELL_TYPES[kind](N_IN, H, np.random.default_rng(0), name=kind)
    cell.b.w = 0.5 * rng.standard_normal(cell.b.w.shape)
    return cell


def layer_graph(kind: str, cell, x: InputNode, h0: InputNode):
    """x·W + b for all steps, then the layer node: (hs, h_T) as (node, i_output) pairs."""
    node = LAYER_NODES[kind]([cell.project(x), h0, cell.U], name=f"{kind}/layer")
    return (node, 0), (node, 1)


def unrolled_graph(kind: str, cell, x: InputNode, h0: InputNode):
    hidden, final = unroll_layer(cell, x, T, [h0])
    return (hidden, 0), final[0]


@pytest.mark.parametrize("kind", sorted(LAYER_NODES))
def test_layer_node_equals_the_unrolled_step_graph(kind, rng):
    """Same weights, inputs and upstream gradients (on every h_t and on h_T): the same
    outputs and the same gradients for W, U, b, x and h0, to float64 rounding."""
    X = rng.standard_normal((T, B, N_IN))
    h0 = 0.5 * rng.standard_normal((B, H))
    g_hs, g_last = rng.standard_normal((T, B, H)), rng.standard_normal((B, H))
    results = []
    for build in (layer_graph, unrolled_graph):
        cell = make_cell(kind, np.random.default_rng(5))
        x, h = ParameterNode(X, name="x"), ParameterNode(h0, name="h0")
        hs, last = build(kind, cell, x, h)
        GradientNode([hs], g_hs)
        GradientNode([last], g_last)
        outputs = [hs[0].get_output(hs[1]), last[0].get_output(last[1])]
        gradients = [p.get_gradient(0) for p in (cell.W, cell.U, cell.b, x, h)]
        results.append((outputs, gradients))
    (outputs, gradients), (outputs_ref, gradients_ref) = results
    for a, b in zip(outputs, outputs_ref):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    for name, a, b in zip(["W", "U", "b", "x", "h0"], gradients, gradients_ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("kind, shapes, message", [
    ("gru", [(4, 3, 15), (3, 5), (5, 10)], r"U:\(H, 3H\)"),
    ("gru", [(4, 3, 12), (3, 5), (5, 15)], r"\(4, 3, 12\)"),
    ("gru", [(3, 15), (3, 5), (5, 15)], r"xz:\(T, B, 3H\)"),
    ("rnn", [(4, 3, 5), (2, 5), (5, 5)], r"h0:\(B, H\).*\(2, 5\)"),
    ("rnn", [(4, 3, 5), (3, 5), (5, 6)], r"U:\(H, H\)"),
])
def test_layer_nodes_name_the_shapes(kind, shapes, message):
    node = LAYER_NODES[kind]([InputNode(np.zeros(s)) for s in shapes], name="layer1/cell")
    with pytest.raises(ShapeError, match=rf"{LAYER_NODES[kind].__name__} 'layer1/cell'.*"
                                         + message):
        node.get_output(0)


@pytest.mark.parametrize("kind", sorted(LAYER_NODES))
def test_float32_stays_float32_and_skipped_gradients_are_none(kind, rng):
    width = 3 * H if kind == "gru" else H
    values = [rng.standard_normal((T, B, width)), rng.standard_normal((B, H)),
              rng.standard_normal((H, width)) / np.sqrt(H)]
    node = LAYER_NODES[kind]([InputNode(a.astype(np.float32)) for a in values])
    outputs = [node.get_output(k) for k in range(2)]
    assert all(y.dtype == np.float32 for y in outputs)
    node.dJdy = [np.ones_like(y) for y in outputs]
    node.needs_gradient = [False, False, True]
    dxz, dh0, du = node.compute_gradient()
    assert dxz is None and dh0 is None and du.dtype == np.float32
    node.needs_gradient = [True, True, False]
    dxz, dh0, du = node.compute_gradient()
    assert du is None and dxz.dtype == dh0.dtype == np.float32


@pytest.mark.parametrize("kind", sorted(LAYER_NODES))
def test_final_state_nobody_reads_sends_back_zeros(kind, rng):
    width = 3 * H if kind == "gru" else H
    values = [rng.standard_normal((T, B, width)), rng.standard_normal((B, H)),
              rng.standard_normal((H, width)) / np.sqrt(H)]
    node = LAYER_NODES[kind]([InputNode(a) for a in values])
    GradientNode([(node, 0)], np.ones((T, B, H)))
    got = [node.get_gradient(i) for i in range(3)]
    node.dJdy = [np.ones((T, B, H)), np.zeros((B, H))]
    for a, b in zip(got, node.compute_gradient()):
        np.testing.assert_array_equal(a, b)
