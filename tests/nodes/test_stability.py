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
from dagnet.nodes.activations import log_softmax, sigmoid, softmax

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


def tanh_form_sigmoid(x: np.ndarray) -> np.ndarray:
    """The sigmoid dagnet computed before its exp form: (1 + tanh(x/2))/2."""
    return (1 + np.tanh(x / 2)) / 2


def test_the_exp_sigmoid_matches_the_tanh_form_and_the_float64_reference():
    x = np.concatenate([np.linspace(-30, 30, 20001), [-1e4, -200, -89, -88, 88, 200, 1e4],
                        np.geomspace(1e-12, 1e-3, 50) * [[-1], [1]]], axis=None)
    for dtype, rtol in ((np.float32, 2e-7), (np.float64, 5e-16)):
        with np.errstate(all="raise"):  # no overflow, underflow or invalid value escapes
            y = sigmoid(x.astype(dtype))
        assert y.dtype == dtype
        # The exact value at the rounded input; below the normal numbers, absolute.
        reference = 1 / (1 + np.exp(-np.longdouble(x.astype(dtype))))
        np.testing.assert_allclose(y, reference.astype(dtype), rtol=rtol * 4,
                                   atol=np.finfo(dtype).tiny)
        middle = np.abs(x) < 15  # where the tanh form keeps its precision
        np.testing.assert_allclose(y[middle], tanh_form_sigmoid(x[middle].astype(dtype)),
                                   rtol=rtol * 8, atol=rtol)
    # The tanh form rounds to 0 in float32 below x ≈ -17; the exp form keeps e^x.
    assert sigmoid(np.float32([-50]))[0] == np.float32(np.exp(-50.0))
    assert tanh_form_sigmoid(np.float32([-50]))[0] == 0
    np.testing.assert_array_equal(sigmoid(np.array([-np.inf, np.inf, np.nan])), [0, 1, np.nan])
