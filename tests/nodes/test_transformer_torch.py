"""The tensor and transformer nodes against PyTorch, an independent reference: the same
inputs give the same values, and J = Σ R ⊙ y (R random) the same gradients.  float64.
Skipped without torch."""

from __future__ import annotations

import numpy as np
import pytest

from dagnet import GradientNode, InputNode
from dagnet.nodes import (
    AxisSoftmaxNode,
    BatchMatMulNode,
    EmbeddingNode,
    GELUNode,
    LayerNormNode,
    MultiHeadAttentionNode,
    SparseSoftmaxCrossEntropyNode,
)
from tests.conftest import require

torch = require("torch")
F = torch.nn.functional


def compare(make, torch_function, values, differentiable, rng, rtol=1e-11):
    """Values and gradients of ``make`` (a dagnet node on InputNodes) and ``torch_function``."""
    node = make([InputNode(v) for v in values])
    y = node.get_output()
    R = rng.standard_normal(np.shape(y))
    GradientNode([node], R)
    tensors = [torch.tensor(v, requires_grad=d) for v, d in zip(values, differentiable)]
    expected = torch_function(*tensors)
    (expected * torch.from_numpy(R)).sum().backward()
    np.testing.assert_allclose(y, expected.detach().numpy(), rtol=rtol, atol=1e-12)
    for i, (tensor, d) in enumerate(zip(tensors, differentiable)):
        if d:
            np.testing.assert_allclose(node.get_gradient(i), tensor.grad.numpy(), rtol=rtol,
                                       atol=1e-12, err_msg=f"input {i}")


def test_layer_norm_matches_torch(rng):
    values = [3 * rng.standard_normal((2, 5, 8)) + 1, rng.standard_normal(8),
              rng.standard_normal(8)]
    compare(lambda p: LayerNormNode(p, eps=1e-5),
            lambda x, g, b: F.layer_norm(x, (8,), g, b, eps=1e-5), values, [True] * 3, rng)


def test_layer_norm_without_bias_matches_torch(rng):
    values = [3 * rng.standard_normal((2, 5, 8)) + 1, rng.standard_normal(8)]
    compare(lambda p: LayerNormNode(p), lambda x, g: F.layer_norm(x, (8,), g, None, eps=1e-5),
            values, [True] * 2, rng)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(approximate, rng):
    compare(lambda p: GELUNode(p, approximate=approximate),
            lambda x: F.gelu(x, approximate=approximate),
            [4 * rng.standard_normal((2, 5, 8))], [True], rng)


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
def test_attention_matches_scaled_dot_product_attention(causal, rng):
    B, T, C, H = 2, 6, 12, 3

    def torch_attention(q, k, v):
        heads = [a.reshape(B, T, H, C // H).transpose(1, 2) for a in (q, k, v)]
        y = F.scaled_dot_product_attention(*heads, is_causal=causal)
        return y.transpose(1, 2).reshape(B, T, C)

    compare(lambda p: MultiHeadAttentionNode(p, H, causal=causal), torch_attention,
            [rng.standard_normal((B, T, C)) for _ in range(3)], [True] * 3, rng)


def test_embedding_of_batch_time_indices_matches_nn_embedding(rng):
    E = rng.standard_normal((7, 4))
    index = rng.integers(0, 7, (3, 5))
    module = torch.nn.Embedding(7, 4, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(E))
    node = EmbeddingNode([InputNode(index), InputNode(E)])
    y = node.get_output()
    assert y.shape == (3, 5, 4)
    R = rng.standard_normal(y.shape)
    GradientNode([node], R)
    expected = module(torch.from_numpy(index))
    (expected * torch.from_numpy(R)).sum().backward()
    np.testing.assert_allclose(y, expected.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(node.get_gradient(1), module.weight.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("transpose_a, transpose_b", [(False, False), (True, False),
                                                       (False, True), (True, True)])
def test_batch_matmul_matches_torch_matmul(transpose_a, transpose_b, rng):
    a = rng.standard_normal((2, 3, 4, 5) if transpose_a else (2, 3, 5, 4))
    b = rng.standard_normal((2, 3, 6, 4) if transpose_b else (2, 3, 4, 6))

    def op(x, flag):
        return x.transpose(-1, -2) if flag else x

    compare(lambda p: BatchMatMulNode(p, transpose_a, transpose_b),
            lambda x, y: op(x, transpose_a) @ op(y, transpose_b), [a, b], [True, True], rng)


def test_softmax_along_an_inner_axis_matches_torch(rng):
    compare(lambda p: AxisSoftmaxNode(p, axis=1), lambda x: torch.softmax(x, dim=1),
            [3 * rng.standard_normal((2, 5, 4))], [True], rng)


def test_sparse_cross_entropy_matches_torch_cross_entropy(rng):
    z, index = 3 * rng.standard_normal((2, 5, 7)), rng.integers(0, 7, (2, 5))
    node = SparseSoftmaxCrossEntropyNode([InputNode(index), InputNode(z)])
    GradientNode([node])
    logits = torch.tensor(z, requires_grad=True)
    expected = F.cross_entropy(logits.reshape(-1, 7), torch.from_numpy(index).reshape(-1),
                               reduction="sum")
    expected.backward()
    np.testing.assert_allclose(node.get_output(), expected.item(), rtol=1e-13)
    np.testing.assert_allclose(node.get_gradient(1), logits.grad.numpy(), rtol=1e-12)
