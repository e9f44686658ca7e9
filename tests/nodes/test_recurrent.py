"""Sequence and recurrent-step nodes beyond the table: shape errors, indices, views,
and the gradients they skip.  (Forward references and gradient checks: cases.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from dagnet import GradientNode, InputNode, ShapeError
from dagnet.nodes import (
    GRUStepNode,
    LSTMStepNode,
    MultiplyAddNode,
    OneHotLinearNode,
    SequenceLinearNode,
    StackNode,
    UnstackNode,
    sequence,
)


def test_unstack_gives_views_and_checks_the_length(rng):
    x = rng.standard_normal((4, 2, 3))
    node = UnstackNode([InputNode(x)], 4)
    assert all(np.shares_memory(node.get_output(t), x) for t in range(4))
    with pytest.raises(ShapeError, match="sequence of 3 steps"):
        UnstackNode([InputNode(x)], 3, name="steps").get_output(0)


def test_unstack_sends_zeros_for_steps_nobody_reads(rng):
    x = InputNode(rng.standard_normal((3, 2, 2)))
    steps = UnstackNode([x], 3)
    GradientNode([MultiplyAddNode([(steps, 1), (steps, 1), InputNode(np.eye(2))])])
    dx = steps.get_gradient(0)
    assert np.all(dx[0] == 0) and np.all(dx[2] == 0) and np.any(dx[1] != 0)


def test_stack_refuses_steps_of_different_shapes():
    node = StackNode([InputNode(np.zeros((2, 3))), InputNode(np.zeros((2, 4)))], name="hs")
    with pytest.raises(ShapeError, match="'hs'.*same shape"):
        node.get_output(0)


def test_sequence_linear_names_the_shapes():
    node = SequenceLinearNode([InputNode(np.zeros((5, 2, 3))), InputNode(np.zeros((4, 6))),
                               InputNode(np.zeros(6))], name="proj")
    with pytest.raises(ShapeError, match=r"'proj'.*\(5, 2, 3\).*\(4, 6\)"):
        node.get_output(0)


@pytest.mark.parametrize("indices, message", [
    (np.array([[0, 7]]), r"\[0, 7\).*from 0 to 7"),
    (np.array([[0, -1]]), r"\[0, 7\)"),
    (np.array([[0.5, 1.0]]), "must be integers"),
])
def test_one_hot_linear_refuses_bad_indices(indices, message):
    node = OneHotLinearNode([InputNode(indices), InputNode(np.zeros((7, 3))),
                             InputNode(np.zeros(3))], name="embed")
    with pytest.raises(ShapeError, match=message):
        node.get_output(0)


def test_one_hot_linear_adds_up_repeated_indices(rng):
    w = InputNode(rng.standard_normal((4, 3)))
    node = OneHotLinearNode([InputNode(np.array([[2, 2], [2, 0]])), w,
                             InputNode(np.zeros(3))])
    GradientNode([node])  # dJ/dy = 1 everywhere
    np.testing.assert_array_equal(node.get_output(0)[0, 0], w.value[2])
    dw = node.get_gradient(1)
    np.testing.assert_allclose(dw[2], 3 * np.ones(3))
    np.testing.assert_allclose(dw[[1, 3]], 0)


@pytest.mark.parametrize("limit", [sequence._ONE_HOT_LIMIT, 0], ids=["one-hot", "sorted"])
def test_one_hot_linear_gradient_for_small_and_large_vocabularies(monkeypatch, rng, limit):
    monkeypatch.setattr(sequence, "_ONE_HOT_LIMIT", limit)
    index = rng.integers(0, 9, (6, 5))
    index[0, 0] = 8
    g = rng.standard_normal((6, 5, 4))
    node = OneHotLinearNode([InputNode(index), InputNode(np.zeros((11, 4))),
                             InputNode(np.zeros(4))])
    node.get_output(0)
    node.dJdy = [g]
    dw = node.compute_gradient()[1]
    np.testing.assert_allclose(dw, np.eye(11)[index.ravel()].T @ g.reshape(-1, 4))
    assert not dw[9:].any()


@pytest.mark.parametrize("make, inputs, message", [
    (LSTMStepNode, [np.zeros((2, 3)), np.zeros((2, 10))], r"z:\(B, 4H\)"),
    (GRUStepNode, [np.zeros((2, 3)), np.zeros((2, 9)), np.zeros((2, 6))], r"hz:\(B, 3H\)"),
    (MultiplyAddNode, [np.zeros((2, 4)), np.zeros((2, 3)), np.zeros((3, 5))], r"a \+ x·W"),
])
def test_step_nodes_name_the_shapes_they_need(make, inputs, message):
    node = make([InputNode(a) for a in inputs], name="step")
    with pytest.raises(ShapeError, match=message):
        node.get_output(0)


def test_lstm_step_skips_the_carried_cell_gradient_nobody_needs(rng):
    node = LSTMStepNode([InputNode(rng.standard_normal((2, 3))),
                         InputNode(rng.standard_normal((2, 12)))])
    node.get_output(0)
    node.dJdy = [np.ones((2, 3)), np.ones((2, 3))]
    node.needs_gradient = [False, True]  # c_prev is a carried input
    dc_prev, dz = node.compute_gradient()
    assert dc_prev is None and dz.shape == (2, 12)


def test_lstm_step_saturates_without_overflow():
    z = np.full((1, 8), 1e4, dtype=np.float32)
    z[0, :2] = -1e4
    node = LSTMStepNode([InputNode(np.ones((1, 2), dtype=np.float32)), InputNode(z)])
    with np.errstate(all="raise"):
        c, h = node.get_output(0), node.get_output(1)
    np.testing.assert_allclose(c, [[1.0, 1.0]])  # i = 0, f = 1: c keeps c_prev
    assert np.all(np.isfinite(h))
