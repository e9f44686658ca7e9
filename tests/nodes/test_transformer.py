"""The transformer's nodes beyond the table: the fused attention against the composed
one, the normal distribution function behind the exact GELU, the integer-target loss
against the one-hot one, positions, errors, and model files with these nodes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dagnet import GradientNode, Graph, GraphError, InputNode, ParameterNode, ShapeError
from dagnet.gradcheck import check_gradients
from dagnet.io import load, save
from dagnet.nodes import (
    CausalMaskNode,
    EWMultiplicationNode,
    GELUNode,
    LayerNormNode,
    MultiHeadAttentionNode,
    Norm2Node,
    PositionEmbeddingNode,
    SoftmaxCrossEntropyNode,
    SparseSoftmaxCrossEntropyNode,
    composed_attention,
)
from dagnet.nodes.transformer import normal_cdf


def attention_graph(fused: bool, n_heads: int, width: int, causal: bool = True):
    """J = ‖R ⊙ attention(q, k, v)‖² with q, k, v as parameters (R a random input)."""
    q, k, v = (ParameterNode(np.zeros(1), name=s) for s in "qkv")
    if fused:
        y = MultiHeadAttentionNode([q, k, v], n_heads, causal=causal)
    else:
        y = composed_attention(q, k, v, n_heads, width, causal=causal)
    R = InputNode(name="R")
    cost = Norm2Node([EWMultiplicationNode([y, R])])
    return Graph(None, [R], [y], [], cost, [q, k, v]), (q, k, v)


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
def test_fused_attention_equals_the_composed_one_value_and_gradient(causal, rng):
    B, T, C, H = 2, 5, 12, 3
    values = [rng.standard_normal((B, T, C)) for _ in range(3)]
    R = rng.standard_normal((B, T, C))
    results = []
    for fused in (True, False):
        graph, params = attention_graph(fused, H, C, causal)
        for node, value in zip(params, values):
            node.w = value.copy()
        y = graph.propagate([R])[0].copy()
        graph.backpropagate([])
        results.append((y, [node.get_gradient(0).copy() for node in params]))
    (y_fused, g_fused), (y_composed, g_composed) = results
    np.testing.assert_allclose(y_fused, y_composed, rtol=1e-12, atol=1e-14)
    for a, b in zip(g_fused, g_composed):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def test_the_composed_attention_passes_a_gradient_check(rng):
    graph, params = attention_graph(False, 2, 4)
    for node in params:
        node.w = rng.standard_normal((2, 3, 4))
    report = check_gradients(graph, [rng.standard_normal((2, 3, 4))], [])
    assert report.worst < 1e-6, str(report)


def test_attention_in_float32_stays_float32_and_close_to_float64(rng):
    values = [rng.standard_normal((2, 7, 8)) for _ in range(3)]
    y64 = MultiHeadAttentionNode([InputNode(a) for a in values], 2)
    y32 = MultiHeadAttentionNode([InputNode(a.astype(np.float32)) for a in values], 2)
    assert y32.get_output().dtype == np.float32
    np.testing.assert_allclose(y32.get_output(), y64.get_output(), rtol=1e-4, atol=1e-5)
    GradientNode([y32], np.ones((2, 7, 8), dtype=np.float32))
    assert all(y32.get_gradient(i).dtype == np.float32 for i in range(3))


def test_the_first_position_attends_only_to_itself(rng):
    q, k, v = (rng.standard_normal((3, 4, 6)) for _ in range(3))
    y = MultiHeadAttentionNode([InputNode(a) for a in (q, k, v)], 3).get_output()
    np.testing.assert_allclose(y[:, 0], v[:, 0], rtol=1e-14)


def test_attention_names_its_shape_errors():
    ones = InputNode(np.ones((2, 3, 6)))
    with pytest.raises(ShapeError, match=r"'attn'.*C = 6 features do not split into 4 heads"):
        MultiHeadAttentionNode([ones, ones, ones], 4, name="attn").get_output()
    with pytest.raises(ShapeError, match=r"'attn'.*\(2, 3, 6\), \(3, 6\)"):
        MultiHeadAttentionNode([ones, InputNode(np.ones((3, 6))), ones], 2,
                               name="attn").get_output()
    with pytest.raises(GraphError, match="n_heads must be positive"):
        MultiHeadAttentionNode([ones, ones, ones], 0)
    with pytest.raises(GraphError, match="width 6 does not split into 4 heads"):
        composed_attention(ones, ones, ones, 4, 6)


def test_normal_cdf_is_accurate_in_both_tails():
    x = np.concatenate([np.linspace(-37, 38, 4001), [0.0, 1e-300, -1e-8]])
    reference = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    got = normal_cdf(x)
    # Relative, down to Φ(-37) = 6e-300; the rounding of x² in e^(-x²/2) grows with x².
    central = np.abs(x) < 8
    np.testing.assert_allclose(got[central], reference[central], rtol=2e-14, atol=0)
    np.testing.assert_allclose(got, reference, rtol=5e-13, atol=0)
    x32 = x[np.abs(x) < 12].astype(np.float32)
    got32 = normal_cdf(x32)
    assert got32.dtype == np.float32
    reference32 = np.array([0.5 * math.erfc(-float(v) / math.sqrt(2)) for v in x32])
    np.testing.assert_allclose(got32, reference32, rtol=3e-5, atol=0)


def test_gelu_forms_differ_by_the_known_approximation_error(rng):
    x = np.linspace(-6, 6, 1001)
    exact = GELUNode([InputNode(x)]).get_output()
    tanh = GELUNode([InputNode(x)], approximate="tanh").get_output()
    # The tanh form is within 1e-3 of x·Φ(x) everywhere, and differs from it.
    assert 1e-5 < np.max(np.abs(exact - tanh)) < 1e-3
    with pytest.raises(GraphError, match="approximate must be 'none' or 'tanh'"):
        GELUNode([InputNode(x)], approximate="erf")


def test_layer_norm_names_the_shapes():
    node = LayerNormNode([InputNode(np.ones((2, 3, 4))), InputNode(np.ones(4)),
                          InputNode(np.ones(3))], name="ln1")
    with pytest.raises(ShapeError, match=r"LayerNormNode 'ln1'.*b \(3,\)"):
        node.get_output()


def test_layer_norm_output_has_zero_mean_unit_variance_before_gain(rng):
    x = 5 * rng.standard_normal((3, 4, 16)) + 2
    y = LayerNormNode([InputNode(x), InputNode(np.ones(16)), InputNode(np.zeros(16))],
                      eps=0.0).get_output()
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-14)
    np.testing.assert_allclose(y.var(axis=-1), 1, rtol=1e-12)


def test_sparse_cross_entropy_equals_the_one_hot_one(rng):
    z = rng.standard_normal((2, 5, 7))
    index = rng.integers(0, 7, (2, 5))
    sparse = SparseSoftmaxCrossEntropyNode([InputNode(index), InputNode(z)])
    dense = SoftmaxCrossEntropyNode([InputNode(np.eye(7)[index]), InputNode(z)])
    np.testing.assert_allclose(sparse.get_output(), dense.get_output(), rtol=1e-13)
    GradientNode([sparse])
    GradientNode([dense])
    np.testing.assert_allclose(sparse.get_gradient(1), dense.get_gradient(1), rtol=1e-13)
    assert sparse.get_gradient(0) is None
    bad = SparseSoftmaxCrossEntropyNode([InputNode(index[:, :4]), InputNode(z)], name="cost")
    with pytest.raises(ShapeError, match=r"'cost'.*\(2, 4\) and \(2, 5, 7\)"):
        bad.get_output()


def test_positions_shorter_than_the_table_leave_the_other_rows_without_gradient(rng):
    x, P = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4))
    node = PositionEmbeddingNode([InputNode(x), InputNode(P)])
    np.testing.assert_allclose(node.get_output(), x + P[:3])
    GradientNode([node], np.ones((2, 3, 4)))
    np.testing.assert_array_equal(node.get_gradient(1), [[2] * 4] * 3 + [[0] * 4] * 2)
    too_long = PositionEmbeddingNode([InputNode(np.ones((2, 6, 4))), InputNode(P)], name="pos")
    with pytest.raises(ShapeError, match=r"'pos'.*T ≤ T_max.*\(2, 6, 4\)"):
        too_long.get_output()


def test_a_graph_with_the_new_nodes_survives_a_model_file(rng, tmp_path):
    """Configs round-trip, the -inf fill of the causal mask included."""
    graph, params = attention_graph(False, 2, 4)
    for node in params:
        node.w = rng.standard_normal((2, 3, 4))
    R = rng.standard_normal((2, 3, 4))
    before = graph.propagate([R])[0].copy()
    loaded = load(save(graph, tmp_path / "attention.dagnet"))
    np.testing.assert_allclose(loaded.propagate([R])[0], before, rtol=1e-15)
    masks = [n for n in loaded.nodes if isinstance(n, CausalMaskNode)]
    assert len(masks) == 1 and masks[0].fill == -np.inf


def test_attention_skips_the_gradients_nobody_needs(rng):
    values = [rng.standard_normal((2, 4, 6)) for _ in range(3)]
    node = MultiHeadAttentionNode([InputNode(a) for a in values], 2)
    node.get_output()
    node.dJdy = [rng.standard_normal((2, 4, 6))]
    full = node.compute_gradient()
    node.needs_gradient = [False, True, False]
    dq, dk, dv = node.compute_gradient()
    assert dq is None and dv is None
    np.testing.assert_array_equal(dk, full[1])
