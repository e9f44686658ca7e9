"""Batch normalisation and dropout: training and inference modes, the graph's mode switch,
running statistics in model files, and PyTorch cross-checks."""

from __future__ import annotations

import numpy as np
import pytest

import dagnet.io
from dagnet import Graph, InputNode, ParameterNode
from dagnet.errors import GraphError, ShapeError
from dagnet.nodes import BatchNormNode, DropoutNode, ReluNode, SquaredErrorNode
from tests.conftest import require


def bn_node(x, gamma, beta, **kwargs):
    return BatchNormNode([InputNode(x), InputNode(gamma), InputNode(beta)], len(gamma),
                         **kwargs)


def run_node(node, upstream):
    y = node.get_output()
    node.dJdy = [upstream]
    return y, node.compute_gradient()


def test_running_statistics_follow_momentum_with_unbiased_variance(rng):
    x = rng.standard_normal((4, 3, 2, 5)) * 2 + 1
    node = bn_node(x, np.ones(3), np.zeros(3), momentum=0.25)
    node.get_output()
    m = 4 * 2 * 5
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)) * m / (m - 1)
    np.testing.assert_allclose(node.running_mean, 0.25 * mean)
    np.testing.assert_allclose(node.running_var, 0.75 + 0.25 * var)


def test_batch_norm_errors_name_the_node_and_the_shapes():
    with pytest.raises(ShapeError, match=r"BatchNormNode 'bn'.*3 features.*\(2, 4\)"):
        BatchNormNode([InputNode(np.zeros((2, 4))), InputNode(np.ones(3)),
                       InputNode(np.zeros(3))], 3, name="bn").get_output()
    with pytest.raises(ShapeError, match="more than one value"):
        bn_node(np.zeros((1, 3)), np.ones(3), np.zeros(3)).get_output()
    with pytest.raises(GraphError, match="inputs"):
        BatchNormNode([InputNode(np.zeros((2, 3)))], 3)
    node = bn_node(np.zeros((2, 3)), np.ones(3), np.zeros(3))
    with pytest.raises(ShapeError, match="running_var"):
        node.load_state_arrays({"running_mean": np.zeros(3), "running_var": np.ones(4)})


def test_float32_batch_norm_in_both_modes_stays_float32(rng):
    x = rng.standard_normal((5, 3, 2, 2)).astype(np.float32)
    for training in (True, False):
        node = BatchNormNode([ParameterNode(x), ParameterNode(np.ones(3, np.float32)),
                              ParameterNode(np.zeros(3, np.float32))], 3)
        node.training = training
        y, grads = run_node(node, np.ones_like(x))
        assert y.dtype == np.float32
        assert all(g.dtype == np.float32 for g in grads)


def test_folded_inference_equals_the_composed_formula(rng):
    # inference folds the running statistics into one scale and shift per channel
    x = rng.standard_normal((6, 3, 4, 5)) * 3 + 2
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    mean, var = rng.standard_normal(3) + 2, rng.uniform(0.5, 9, 3)
    composed = ((x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
                * gamma[None, :, None, None] + beta[None, :, None, None])
    for dtype, rtol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        node = bn_node(x.astype(dtype), gamma.astype(dtype), beta.astype(dtype))
        node.load_state_arrays({"running_mean": mean, "running_var": var})
        node.training = False
        y = node.get_output()
        assert y.dtype == dtype
        np.testing.assert_allclose(y, composed, rtol=rtol, atol=rtol * np.abs(composed).max())


def test_dropout_keeps_a_fraction_and_rescales(rng):
    x = np.ones((200, 50))
    node = DropoutNode([InputNode(x)], 0.3, rng=rng)
    y = node.get_output()
    assert set(np.unique(y)) == {0.0, 1 / 0.7}
    assert abs(np.mean(y > 0) - 0.7) < 0.02
    _, (dx,) = run_node(node, np.full_like(x, 2.0))
    np.testing.assert_array_equal(dx, 2 * y)  # the forward pass's mask


def test_dropout_draws_a_new_mask_each_forward_pass_and_none_in_eval(rng):
    x = InputNode(np.ones((20, 30)))
    node = DropoutNode([x], 0.5, rng=rng)
    first = node.get_output().copy()
    x.set_value(np.ones((20, 30)))
    assert not np.array_equal(first, node.get_output())
    node.training = False
    x.set_value(np.ones((20, 30)))
    np.testing.assert_array_equal(node.get_output(), np.ones((20, 30)))
    with pytest.raises(GraphError, match="rate"):
        DropoutNode([x], 1.0)


def small_graph(rng):
    """X -> batch norm -> ReLU -> dropout -> squared error against Y."""
    X, Y = InputNode(name="X"), InputNode(name="Y")
    gamma, beta = ParameterNode(np.ones(3), name="bn/gamma"), ParameterNode(np.zeros(3),
                                                                            name="bn/beta")
    bn = BatchNormNode([X, gamma, beta], 3, name="bn")
    h = DropoutNode([ReluNode([bn])], 0.5, rng=rng, name="dropout")
    cost = SquaredErrorNode([Y, h])
    return Graph(None, [X], [h], [Y], cost, [gamma, beta]), bn, h


def test_graph_train_and_eval_set_every_mode_dependent_node(rng):
    graph, bn, dropout = small_graph(rng)
    assert graph.training and bn.training and dropout.training
    X = rng.standard_normal((8, 3)) + 2
    graph.propagate(X)
    assert graph.eval() is graph
    assert not graph.training and not bn.training and not dropout.training
    first = graph.propagate(X)[0].copy()
    np.testing.assert_array_equal(first, graph.propagate(X)[0])  # deterministic
    np.testing.assert_allclose(first, np.maximum(
        (X - bn.running_mean) / np.sqrt(bn.running_var + 1e-5), 0))
    graph.train()
    assert graph.training and bn.training and dropout.training
    assert not np.array_equal(first, graph.propagate(X)[0])


def test_switching_mode_recomputes_the_outputs(rng):
    graph, _, _ = small_graph(rng)
    X = rng.standard_normal((8, 3)) * 3 + 5
    in_training = graph.propagate(X)[0].copy()
    graph.eval()
    assert graph.nodes[0].dirty_y  # the next propagate starts afresh
    assert not np.allclose(in_training, graph.propagate(X)[0])


# -- running statistics in model files ---------------------------------------------------------

def test_running_statistics_survive_save_and_load(rng, tmp_path):
    graph, bn, _ = small_graph(rng)
    X = rng.standard_normal((16, 3)) * 2 - 1
    for _ in range(3):
        graph.propagate(X)
    dagnet.io.save(graph, tmp_path / "bn.safetensors")
    loaded = dagnet.io.load(tmp_path / "bn.safetensors")
    (twin,) = [n for n in loaded.nodes if isinstance(n, BatchNormNode)]
    np.testing.assert_array_equal(twin.running_mean, bn.running_mean)
    np.testing.assert_array_equal(twin.running_var, bn.running_var)
    assert twin.config() == bn.config()
    np.testing.assert_allclose(loaded.eval().propagate(X)[0], graph.eval().propagate(X)[0])


# -- against PyTorch -----------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(6, 3, 4, 5), (7, 3)], ids=["images", "rows"])
def test_batch_norm_matches_torch_in_training(rng, shape):
    torch = require("torch")
    x, gamma, beta = rng.standard_normal(shape) * 3 + 1, rng.standard_normal(3), \
        rng.standard_normal(3)
    node = bn_node(x, gamma, beta)
    upstream = rng.standard_normal(shape)
    y, grads = run_node(node, upstream)
    running_mean, running_var = torch.zeros(3, dtype=torch.float64), torch.ones(
        3, dtype=torch.float64)
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    ty = torch.nn.functional.batch_norm(tensors[0], running_mean, running_var, tensors[1],
                                        tensors[2], training=True, momentum=0.1, eps=1e-5)
    ty.backward(torch.tensor(upstream))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    for g, t in zip(grads, tensors):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(node.running_mean, running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(node.running_var, running_var.numpy(), rtol=1e-12)


def test_batch_norm_matches_torch_in_eval(rng):
    torch = require("torch")
    x, gamma, beta = rng.standard_normal((5, 3, 2, 4)), rng.standard_normal(3), \
        rng.standard_normal(3)
    mean, var = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    node = bn_node(x, gamma, beta)
    node.load_state_arrays({"running_mean": mean, "running_var": var})
    node.training = False
    upstream = rng.standard_normal(x.shape)
    y, grads = run_node(node, upstream)
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    ty = torch.nn.functional.batch_norm(tensors[0], torch.tensor(mean), torch.tensor(var),
                                        tensors[1], tensors[2], training=False)
    ty.backward(torch.tensor(upstream))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    for g, t in zip(grads, tensors):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_dropout_in_eval_matches_torch(rng):
    torch = require("torch")
    x = rng.standard_normal((4, 3, 2, 2))
    node = DropoutNode([InputNode(x)], 0.4, rng=rng)
    node.training = False
    upstream = rng.standard_normal(x.shape)
    y, (dx,) = run_node(node, upstream)
    t = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.dropout(t, 0.4, training=False)
    ty.backward(torch.tensor(upstream))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(dx, t.grad.numpy())
