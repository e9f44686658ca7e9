"""Convolution and pooling: im2col/col2im, errors, and values and gradients against PyTorch.

The table (tests/nodes/cases.py) checks every node against a NumPy reference and
central differences; here the same nodes are compared with torch.nn.functional.
"""

from __future__ import annotations

import numpy as np
import pytest

import dagnet.threads
from dagnet import InputNode, ParameterNode
from dagnet.errors import GraphError, ShapeError
from dagnet.nodes import (
    AvgPool2DNode,
    Conv2DNode,
    FlattenNode,
    GlobalAveragePoolNode,
    MaxPool2DNode,
    convolution,
)
from dagnet.nodes.convolution import col2im, im2col, output_size
from tests.conftest import require
from tests.test_docs import sections


def run_node(node, upstream):
    """Outputs of ``node`` and the gradients of its inputs for dJ/dy = upstream."""
    y = node.get_output()
    node.dJdy = [upstream]
    return y, node.compute_gradient()


@pytest.mark.parametrize("kernel, stride, padding", [((3, 3), (1, 1), (1, 1)),
                                                     ((3, 2), (2, 1), (0, 2)),
                                                     ((2, 2), (3, 3), (1, 0))])
def test_col2im_is_the_adjoint_of_im2col(rng, kernel, stride, padding):
    """<im2col(x), c> = <x, col2im(c)> for all x and c: col2im is im2col transposed."""
    x = rng.standard_normal((2, 3, 7, 6))
    cols = im2col(x, kernel, stride, padding)
    c = rng.standard_normal(cols.shape)
    back = col2im(c, x.shape, kernel, stride, padding)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.vdot(cols, c), np.vdot(x, back), rtol=1e-12)


def test_im2col_columns_are_the_receptive_fields():
    x = np.arange(2 * 1 * 3 * 3, dtype=float).reshape(2, 1, 3, 3)
    cols = im2col(x, (2, 2))
    assert cols.shape == (4, 2 * 2 * 2)
    np.testing.assert_array_equal(cols[:, 0], [0, 1, 3, 4])      # image 0, position (0, 0)
    np.testing.assert_array_equal(cols[:, 7], [13, 14, 16, 17])  # image 1, position (1, 1)


def test_output_size_is_floor_mode():
    assert output_size(28, 5, 1, 2) == 28
    assert output_size(7, 2, 2) == 3
    assert output_size(7, 3, 2, 1) == 4


def test_conv_errors_name_the_node_and_the_shapes():
    x, w = InputNode(np.zeros((2, 3, 5, 5))), InputNode(np.zeros((4, 2, 3, 3)))
    with pytest.raises(ShapeError, match=r"Conv2DNode 'c'.*\(4, 2, 3, 3\).*\(2, 3, 5, 5\)"):
        Conv2DNode([x, w], name="c").get_output()
    with pytest.raises(ShapeError, match="must be images"):
        Conv2DNode([InputNode(np.zeros((2, 75))), w]).get_output()
    with pytest.raises(ShapeError, match="b must have shape"):
        Conv2DNode([x, InputNode(np.zeros((4, 3, 3, 3))), InputNode(np.zeros(3))]).get_output()
    with pytest.raises(ShapeError, match="does not fit"):
        MaxPool2DNode([InputNode(np.zeros((1, 1, 2, 5)))], 3).get_output()
    with pytest.raises(GraphError, match="stride"):
        Conv2DNode([x, w], stride=0)
    with pytest.raises(GraphError, match="inputs"):
        Conv2DNode([x])


def test_config_round_trips_through_the_constructor():
    x, w = InputNode(np.zeros((1, 1, 6, 6))), InputNode(np.zeros((2, 1, 3, 3)))
    conv = Conv2DNode([x, w], stride=(2, 1), padding=1)
    again = Conv2DNode([x, w], **conv.config())
    assert (again.stride, again.padding) == ((2, 1), (1, 1))
    pool = MaxPool2DNode([x], 3, stride=2)
    assert MaxPool2DNode([x], **pool.config()).config() == {"kernel": [3, 3], "stride": [2, 2]}


def test_float32_conv_stays_float32_without_copies_of_the_weights(rng):
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    node = Conv2DNode([ParameterNode(x), ParameterNode(w), ParameterNode(np.zeros(4, np.float32))],
                      padding=1)
    y, grads = run_node(node, np.ones((2, 4, 6, 5), np.float32))
    assert y.dtype == np.float32 and y.flags.c_contiguous
    assert [g.dtype for g in grads] == [np.float32] * 3


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("stride, padding, bias", [(1, 1, False), (2, 0, True)])
def test_blocks_and_modes_give_one_convolution(rng, monkeypatch, stride, padding, bias,
                                               threads):
    """Blocks of 3 images with a last block of 1, in training and inference mode, on one
    thread or shared out between two, give the whole batch's im2col product: the same y
    and the same gradients."""
    if threads > dagnet.threads.available_cores():
        pytest.skip(f"{threads} threads need as many cores")
    for module in (convolution, dagnet.threads):  # parallel_map follows the same count
        monkeypatch.setattr(module, "worker_count", lambda: threads)
    monkeypatch.setattr(convolution, "MIN_COLUMNS_PER_RUN", 8)  # dJ/dW split as well
    x, w, b = rng.standard_normal((7, 2, 6, 5)), rng.standard_normal((3, 2, 3, 2)), \
        rng.standard_normal(3)
    upstream_shape = (7, 3, output_size(6, 3, stride, padding), output_size(5, 2, stride, padding))
    upstream = rng.standard_normal(upstream_shape)
    wm = w.reshape(3, -1)
    expected = np.einsum("ok,kbij->boij", wm, im2col(x, (3, 2), (stride,) * 2, (padding,) * 2)
                         .reshape(-1, *upstream_shape[:1], *upstream_shape[2:]))
    if bias:
        expected += b[None, :, None, None]
    image_bytes = w[0].size * upstream_shape[2] * upstream_shape[3] * x.itemsize
    monkeypatch.setattr(convolution, "BLOCK_BYTES", 3 * image_bytes)
    results = []
    for training in (True, False):
        inputs = [ParameterNode(x), ParameterNode(w)] + ([ParameterNode(b)] if bias else [])
        node = Conv2DNode(inputs, stride=stride, padding=padding)
        node.training = training
        y = node.get_output()
        assert (node.cols is not None) == training  # inference mode keeps no columns
        node.dJdy = [upstream]
        results.append((y, node.compute_gradient()))
    (y, grads), (y_eval, grads_eval) = results
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(y_eval, y)
    for g, g_eval in zip(grads, grads_eval):
        np.testing.assert_allclose(g_eval, g, rtol=1e-12, atol=1e-12)


def test_max_pool_shares_the_gradient_of_tied_maxima():
    x = np.array([[[[1.0, 1.0], [0.0, 1.0]]]])
    node = MaxPool2DNode([InputNode(x)], 2)
    y, (dx,) = run_node(node, np.array([[[[3.0]]]]))
    assert y.item() == 1.0
    np.testing.assert_allclose(dx, [[[[1.0, 1.0], [0.0, 1.0]]]])


def test_pooling_sends_no_gradient_to_pixels_no_window_covers(rng):
    x = rng.standard_normal((1, 1, 5, 5))
    # Windows at rows 0-1 and 2-3 leave row 4 out; at rows 0-1 and 3-4, row 2.
    # Max pooling reaches one pixel per window, average pooling all 16 covered ones.
    for node, uncovered, reached in ((MaxPool2DNode([InputNode(x)], 2), 4, 4),
                                     (AvgPool2DNode([InputNode(x)], 2, stride=3), 2, 16)):
        _, (dx,) = run_node(node, np.ones_like(node.get_output()))
        assert np.all(dx[:, :, uncovered, :] == 0) and np.all(dx[:, :, :, uncovered] == 0)
        assert np.count_nonzero(dx) == reached


# -- against PyTorch --------------------------------------------------------------------------

def torch_run(function, arrays, upstream):
    """function(*tensors) in float64, and the gradients of every input for dJ/dy = upstream."""
    torch = require("torch")
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = function(*tensors)
    y.backward(torch.tensor(upstream))
    return y.detach().numpy(), [t.grad.numpy() for t in tensors]


def assert_same(ours, theirs):
    (y, grads), (ty, tgrads) = ours, theirs
    np.testing.assert_allclose(y, ty, rtol=1e-10, atol=1e-12)
    assert len(grads) == len(tgrads)
    for g, tg in zip(grads, tgrads):
        np.testing.assert_allclose(g, tg, rtol=1e-10, atol=1e-12)


# dJ/dx by col2im for the first three, as a convolution of dJ/dy for the last two.
@pytest.mark.parametrize("w_shape, stride, padding, bias", [
    ((4, 2, 3, 2), 1, 0, True), ((4, 2, 3, 2), 2, 1, True), ((4, 2, 3, 2), (2, 1), (0, 1), True),
    ((2, 2, 3, 3), 1, 1, True), ((3, 2, 3, 3), 1, (2, 1), False)])
def test_conv2d_matches_torch(rng, w_shape, stride, padding, bias):
    F = require("torch").nn.functional
    x, w, b = rng.standard_normal((3, 2, 9, 8)), rng.standard_normal(w_shape), \
        rng.standard_normal(w_shape[0])
    arrays = [x, w, b] if bias else [x, w]
    node = Conv2DNode([InputNode(a) for a in arrays], stride=stride, padding=padding)
    upstream = rng.standard_normal(node.get_output().shape)
    theirs = torch_run(lambda *t: F.conv2d(*t, stride=stride, padding=padding), arrays,
                       upstream)
    assert_same(run_node(node, upstream), theirs)


@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 2), (2, 3), (3, 1)])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_torch(rng, kind, kernel, stride):
    F = require("torch").nn.functional
    x = rng.permutation(3 * 2 * 9 * 7).reshape(3, 2, 9, 7) / 10.0  # no ties
    node_class, function = ((MaxPool2DNode, F.max_pool2d) if kind == "max"
                            else (AvgPool2DNode, F.avg_pool2d))
    node = node_class([InputNode(x)], kernel, stride=stride)
    upstream = rng.standard_normal(node.get_output().shape)
    theirs = torch_run(lambda t: function(t, kernel, stride=stride), [x], upstream)
    assert_same(run_node(node, upstream), theirs)


def test_global_average_pool_and_flatten_match_torch(rng):
    torch = require("torch")
    x = rng.standard_normal((3, 4, 5, 6))
    upstream = rng.standard_normal((3, 4))
    theirs = torch_run(lambda t: torch.nn.functional.adaptive_avg_pool2d(t, 1).flatten(1),
                       [x], upstream)
    assert_same(run_node(GlobalAveragePoolNode([InputNode(x)]), upstream), theirs)
    upstream = rng.standard_normal((3, 120))
    theirs = torch_run(lambda t: torch.flatten(t, 1), [x], upstream)
    assert_same(run_node(FlattenNode([InputNode(x)]), upstream), theirs)


def test_every_image_node_has_a_derivation():
    """tests/test_docs.py checks the modules it lists; these are the image nodes'."""
    found = sections()
    for name in ("Conv2DNode", "MaxPool2DNode", "AvgPool2DNode", "GlobalAveragePoolNode",
                 "FlattenNode", "BatchNormNode", "DropoutNode"):
        assert name in found, f"docs/matrix-derivations.md has no '### {name}' section"
        assert f"test_gradient_check[{name}-" in found[name] and "dJ/d" in found[name]
