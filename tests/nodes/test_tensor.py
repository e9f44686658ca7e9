"""Tensors of any rank beyond the table: element-wise nodes on rank-3 and rank-4 arrays,
views rather than copies, the -inf causal mask, outputs nobody reads, and errors that
name the node and the shapes."""

from __future__ import annotations

import numpy as np
import pytest

from dagnet import GradientNode, GraphError, InputNode, ShapeError
from dagnet.gradcheck import check_node_gradients
from dagnet.nodes import (
    AdditionNode,
    AxisSoftmaxNode,
    AxisSplitNode,
    BatchMatMulNode,
    BroadcastAddNode,
    BroadcastMultiplyNode,
    CausalMaskNode,
    EWMultiplicationNode,
    IdentityNode,
    MultiplicationNode,
    Norm2Node,
    ReluNode,
    ReshapeNode,
    ScalarMultiplicationNode,
    SigmoidNode,
    SubtractionNode,
    SumNode,
    TanhNode,
    TransposeNode,
)
from dagnet.nodes.tensor import unbroadcast

ELEMENT_WISE = [
    (IdentityNode, 1), (SigmoidNode, 1), (TanhNode, 1), (ReluNode, 1), (AdditionNode, 2),
    (SubtractionNode, 2), (EWMultiplicationNode, 2), (SumNode, 3), (Norm2Node, 1),
    (lambda p: ScalarMultiplicationNode(p, 0.5), 1),
]


@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 2, 3, 3)], ids=["rank3", "rank4"])
@pytest.mark.parametrize("make, arity", ELEMENT_WISE,
                         ids=[getattr(m, "__name__", "ScalarMultiplicationNode")
                              for m, _ in ELEMENT_WISE])
def test_element_wise_nodes_take_any_shape(make, arity, shape, rng):
    inputs = [rng.standard_normal(shape) for _ in range(arity)]
    inputs = [np.sign(x) * (np.abs(x) + 0.1) for x in inputs]  # ReLU: no kink in reach
    node = make([InputNode(x) for x in inputs])
    assert node.get_output().shape == (() if make is Norm2Node else shape)
    result = check_node_gradients(make, inputs)
    assert result.worst < 1e-7, result.errors


def test_element_wise_nodes_still_refuse_mismatched_shapes():
    node = AdditionNode([InputNode(np.ones((2, 3, 4))), InputNode(np.ones((3, 4)))], name="res")
    with pytest.raises(ShapeError, match=r"AdditionNode 'res'.*\(2, 3, 4\) and \(3, 4\)"):
        node.get_output()


def test_batch_matmul_transposes_are_views_and_plain_matrices_match_multiplication(rng):
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((5, 4))
    node = BatchMatMulNode([InputNode(a), InputNode(b)], transpose_a=True, transpose_b=True)
    node.get_output()
    A, B = node.operands()
    assert np.shares_memory(A, a) and np.shares_memory(B, b)
    reference = MultiplicationNode([InputNode(a.T.copy()), InputNode(b.T.copy())])
    np.testing.assert_allclose(node.get_output(), reference.get_output(), rtol=1e-14)
    GradientNode([node], np.ones((3, 5)))
    GradientNode([reference], np.ones((3, 5)))
    np.testing.assert_allclose(node.get_gradient(0), reference.get_gradient(0).T, rtol=1e-14)
    np.testing.assert_allclose(node.get_gradient(1), reference.get_gradient(1).T, rtol=1e-14)


@pytest.mark.parametrize("shapes, flags", [
    ([(2, 3, 4), (3, 4, 5)], {}),
    ([(2, 3, 4), (2, 5, 4)], {}),
    ([(2, 3, 4), (2, 5, 4)], {"transpose_a": True}),
    ([(4,), (4, 5)], {}),
])
def test_batch_matmul_names_the_shapes_and_flags(shapes, flags):
    node = BatchMatMulNode([InputNode(np.ones(s)) for s in shapes], **flags, name="scores")
    with pytest.raises(ShapeError, match=r"BatchMatMulNode 'scores': cannot multiply "
                                         + r"\(" + ", ".join(map(str, shapes[0]))):
        node.get_output()


def test_reshape_keeps_axes_with_zero_and_infers_minus_one(rng):
    x = rng.standard_normal((2, 3, 8))
    node = ReshapeNode([InputNode(x)], (0, 0, 4, -1))
    assert node.get_output().shape == (2, 3, 4, 2)
    assert np.shares_memory(node.get_output(), x)
    with pytest.raises(ShapeError, match=r"ReshapeNode 'r': cannot reshape \(2, 3, 8\)"):
        ReshapeNode([InputNode(x)], (0, 5, -1), name="r").get_output()
    with pytest.raises(ShapeError, match="does not have"):
        ReshapeNode([InputNode(x)], (0, 0, 0, 0), name="r").get_output()
    with pytest.raises(GraphError, match="one -1"):
        ReshapeNode([InputNode(x)], (-1, -1))


def test_transpose_refuses_bad_permutations_and_shapes():
    with pytest.raises(GraphError, match=r"not a permutation"):
        TransposeNode([InputNode(np.ones((2, 3)))], (0, 0))
    node = TransposeNode([InputNode(np.ones((2, 3)))], (0, 2, 1), name="heads")
    with pytest.raises(ShapeError, match=r"TransposeNode 'heads'.*\(2, 3\)"):
        node.get_output()


def test_causal_mask_then_softmax_gives_the_future_no_weight(rng):
    scores = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    weights = AxisSoftmaxNode([CausalMaskNode([InputNode(scores)])]).get_output()
    assert weights.dtype == np.float32
    assert np.all(weights[..., np.triu_indices(5, 1)[0], np.triu_indices(5, 1)[1]] == 0)
    np.testing.assert_allclose(weights.sum(axis=-1), 1, rtol=1e-6)
    np.testing.assert_array_equal(weights[..., 0, 0], 1)
    with pytest.raises(ShapeError, match=r"CausalMaskNode 'm'.*\(2, 3, 5, 4\)"):
        CausalMaskNode([InputNode(scores[..., :4])], name="m").get_output()


def test_split_outputs_are_views_and_an_unread_block_gets_zeros(rng):
    x = rng.standard_normal((2, 3, 6))
    split = AxisSplitNode([InputNode(x)], [2, 4])
    assert all(np.shares_memory(split.get_output(k), x) for k in range(2))
    GradientNode([(split, 1)], np.ones((2, 3, 4)))
    dx = split.get_gradient(0)
    np.testing.assert_array_equal(dx[..., :2], 0)
    np.testing.assert_array_equal(dx[..., 2:], 1)
    with pytest.raises(ShapeError, match=r"AxisSplitNode 's'.*\(2, 3, 5\)"):
        AxisSplitNode([InputNode(x[..., :5])], [2, 4], name="s").get_output(0)


@pytest.mark.parametrize("cls", [BroadcastAddNode, BroadcastMultiplyNode])
@pytest.mark.parametrize("second", [(5,), (3, 4, 4), (2, 3, 2, 4)])
def test_broadcast_nodes_stretch_only_the_second_input_to_the_first(cls, second):
    node = cls([InputNode(np.ones((3, 1, 4))), InputNode(np.ones(second))], name="bias")
    with pytest.raises(ShapeError, match=rf"{cls.__name__} 'bias'.*does not broadcast to "
                                         r"the first's shape \(3, 1, 4\)"):
        node.get_output()


def test_unbroadcast_sums_added_and_stretched_axes(rng):
    g = rng.standard_normal((2, 3, 4))
    np.testing.assert_allclose(unbroadcast(g, (4,)), g.sum(axis=(0, 1)))
    np.testing.assert_allclose(unbroadcast(g, (3, 1)), g.sum(axis=(0, 2))[:, None])
    np.testing.assert_allclose(unbroadcast(g, (2, 1, 4)), g.sum(axis=1, keepdims=True))
    assert unbroadcast(g, g.shape) is g
