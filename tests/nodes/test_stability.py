"""Property tests: the stable nodes stay finite and exact for any finite input."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dagnet import (
    InputNode,
    SigmoidBinaryCrossEntropyNode,
    SigmoidNode,
    SoftmaxCrossEntropyNode,
    SoftmaxNode,
)
from dagnet.nodes.activations import log_softmax, softmax

finite = st.floats(-1e4, 1e4, allow_nan=False, width=32)
logit_matrices = arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 7)),
                        elements=finite)


@settings(max_examples=60, deadline=None)
@given(logit_matrices)
def test_softmax_rows_are_distributions_and_shift_invariant(z):
    p = SoftmaxNode([InputNode(z)]).get_output()
    assert p.dtype == np.float32
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    z64 = z.astype(np.float64)
    reference = np.exp(z64 - z64.max(axis=1, keepdims=True))
    np.testing.assert_allclose(p, reference / reference.sum(axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(softmax(z - np.float32(512)), p, atol=1e-4)
    assert np.all(np.isfinite(log_softmax(z)))


@settings(max_examples=60, deadline=None)
@given(logit_matrices, st.data())
def test_fused_cross_entropies_are_finite_with_finite_gradients(z, data):
    rows, classes = z.shape
    labels = data.draw(arrays(np.int64, rows, elements=st.integers(0, classes - 1)))
    one_hot = np.eye(classes, dtype=np.float32)[labels]
    for node in (SoftmaxCrossEntropyNode([InputNode(one_hot), InputNode(z)]),
                 SigmoidBinaryCrossEntropyNode([InputNode(one_hot), InputNode(z)])):
        cost = node.get_output()
        assert np.isfinite(cost) and cost >= -1e-3
        node.dJdy = [np.float32(1)]
        gradient = node.compute_gradient()[1]
        assert np.all(np.isfinite(gradient))
        assert np.all(np.abs(gradient) <= 1 + 1e-6)  # prediction − target, both in [0, 1]


HUGE = float(np.finfo(np.float32).max)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.integers(1, 20),
              elements=st.floats(-HUGE, HUGE, allow_nan=False, width=32)))
def test_sigmoid_never_overflows(x):
    with np.errstate(over="raise"):
        y = SigmoidNode([InputNode(x)]).get_output()
    assert np.all((y >= 0) & (y <= 1))
