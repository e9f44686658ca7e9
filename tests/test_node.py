"""Node: parents and children, memoization, gradients summed over fan-out, deep chains."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from dagnet import (
    EWMultiplicationNode,
    GradientNode,
    Graph,
    GraphError,
    InputNode,
    Norm2Node,
    ParameterNode,
    SplitNode,
    SumNode,
    TanhNode,
)
from dagnet.node import NODE_TYPES


def test_parents_and_children_are_kept_in_step():
    a = InputNode(np.ones((2, 3)))
    split = SplitNode([a], [1, 2])
    t = TanhNode([(split, 1)])
    s = SumNode([(split, 0), (split, 0)])
    assert t.parents == [(split, 1)]
    assert split.children == [[(s, 0), (s, 1)], [(t, 0)]]
    assert a.children == [[(split, 0)]]
    t.set_parents([(split, 0)])  # rewiring drops the old link
    assert split.children == [[(s, 0), (s, 1), (t, 0)], []]


def test_bare_node_means_output_zero():
    a = InputNode(np.ones(2))
    assert TanhNode([a]).parents == [(a, 0)]


def test_parent_output_index_out_of_range_names_the_nodes():
    a = InputNode(np.ones((2, 4)), name="data")
    split = SplitNode([a], [2, 2], name="halves")
    with pytest.raises(GraphError, match=r"output 2 of SplitNode 'halves'.*2 output"):
        TanhNode([(split, 2)], name="t")
    with pytest.raises(GraphError, match="must be a node or a"):
        TanhNode(["not a node"])


def test_outputs_are_memoized_until_reset():
    calls = []

    class CountingTanh(TanhNode):
        def compute_output(self):
            calls.append(1)
            return super().compute_output()

    x = InputNode(np.array([[0.5]]))
    t = CountingTanh([x])
    assert t.get_output() == pytest.approx(np.tanh(0.5))
    t.get_output()
    assert len(calls) == 1
    x.set_value(np.array([[1.0]]))  # invalidates the nodes that read it
    assert t.get_output() == pytest.approx(np.tanh(1.0))
    assert len(calls) == 2
    assert not t.dirty_y


def test_input_without_value_is_a_clear_error():
    x = InputNode(name="X")
    with pytest.raises(GraphError, match="InputNode 'X' has no value"):
        TanhNode([x]).get_output()


def test_gradient_of_a_node_used_twice_is_the_sum():
    w = ParameterNode(np.array([[1.5, -2.0]]))
    square = EWMultiplicationNode([w, w])  # w ⊙ w: dJ/dw = 2w
    cost = Norm2Node([square])  # Σ w⁴: dJ/dw = 4w³
    GradientNode([cost])
    np.testing.assert_allclose(w.get_gradient(0), 4 * w.w ** 3)


def test_unused_output_contributes_zero():
    w = ParameterNode(np.arange(6.0).reshape(2, 3))
    split = SplitNode([w], [1, 2])
    cost = Norm2Node([(split, 1)])
    GradientNode([cost])
    grad = w.get_gradient(0)
    np.testing.assert_array_equal(grad[:, 0], 0)
    np.testing.assert_allclose(grad[:, 1:], 2 * w.w[:, 1:])


def test_gradient_node_sends_its_value():
    w = ParameterNode(np.array([2.0]))
    cost = Norm2Node([w])
    GradientNode([cost], value=3.0)
    assert w.get_gradient(0) == pytest.approx([12.0])


def test_cycle_is_detected():
    a = InputNode(np.ones(1))
    t1 = TanhNode([a], name="t1")
    t2 = TanhNode([t1], name="t2")
    t1.set_parents([t2])
    with pytest.raises(GraphError, match="cycle: .*t1.*t2"):
        t2.get_output()
    with pytest.raises(GraphError, match="cycle"):
        Graph(None, [], [t2])


@pytest.mark.parametrize("depth", [10_000])
def test_deep_chain_runs_under_the_default_recursion_limit(depth):
    limit = sys.getrecursionlimit()
    assert limit <= 10_000  # dagnet never raises it; a recursive scheduler would fail here
    x0 = 0.3
    w = ParameterNode(np.array([[x0]]))
    node = w
    nodes = [w]
    for _ in range(depth):
        node = TanhNode([node])
        nodes.append(node)
    cost = Norm2Node([node])
    graph = Graph(nodes + [cost], [], [node], [], cost, [w])
    (out,) = graph.propagate([])
    values = [x0]
    for _ in range(depth):
        values.append(np.tanh(values[-1]))
    assert out[0, 0] == pytest.approx(values[-1])
    graph.backpropagate([])
    # d tanh^n(x)/dx = Π (1 - tanh²) along the chain, times dJ/dy = 2y.
    expected = 2 * values[-1] * np.prod([1 - v * v for v in values[1:]])
    assert w.get_gradient(0)[0, 0] == pytest.approx(expected, rel=1e-9)
    # The standalone (graph-less) path is iterative too; a second GradientNode on the
    # cost doubles the gradient that flows back.
    node.reset_memoization()
    GradientNode([cost])
    assert w.get_gradient(0)[0, 0] == pytest.approx(2 * expected, rel=1e-9)
    assert sys.getrecursionlimit() == limit


def test_register_node_makes_a_user_node_savable_and_loadable(tmp_path):
    import dagnet

    @dagnet.register_node
    class CubeForRegistryTestNode(dagnet.Node):
        def compute_output(self):
            return [self.x[0] ** 3]

        def compute_gradient(self):
            return [3 * self.x[0] ** 2 * self.dJdy[0]]

    try:
        X = InputNode(name="X")
        graph = dagnet.Graph(None, [X], [CubeForRegistryTestNode([X], name="cube")])
        dagnet.save(graph, tmp_path / "cube.safetensors")
        loaded = dagnet.load(tmp_path / "cube.safetensors")
        np.testing.assert_array_equal(loaded.propagate([np.array([[2.0]])])[0], [[8.0]])
        assert type(loaded.output_nodes[0][0]) is CubeForRegistryTestNode
    finally:
        # The registry is the process's: the tests that list every saved node type (the
        # ONNX converters') must not meet this one when a worker runs them afterwards.
        NODE_TYPES.pop("CubeForRegistryTestNode", None)


def test_register_node_refuses_a_second_class_of_the_same_name():
    import dagnet
    from dagnet.errors import GraphError

    class TanhNode(dagnet.Node):  # noqa: N801 - the clash is the point
        pass

    with pytest.raises(GraphError, match="already registered"):
        dagnet.register_node(TanhNode)
