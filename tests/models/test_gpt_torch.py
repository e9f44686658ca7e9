"""The whole GPT against the same computation written with PyTorch's functions: same
weights and symbols give the same logits, cost and gradients of every parameter.
float64.  Skipped without torch."""

from __future__ import annotations

import numpy as np
import pytest

from dagnet.models.gpt import GPTConfig, gpt
from tests.conftest import require

torch = require("torch")
F = torch.nn.functional


def torch_gpt(w: dict, X, config: GPTConfig, approximate: str):
    """nanoGPT's forward pass with the weights ``w`` (name -> tensor) in dagnet's layout."""
    B, T = X.shape
    C, H = config.width, config.n_heads
    w = {**w} if config.bias else {name: w.get(name) for name in _with_biases(w)}
    x = w["wte"][X] + w["wpe"][:T]
    for k in range(1, config.n_layers + 1):
        p = {name[len(f"block{k}/"):]: t for name, t in w.items()
             if name.startswith(f"block{k}/")}
        h = F.layer_norm(x, (C,), p["ln1/g"], p["ln1/b"])
        q, k_, v = _linear(h, p, "attn/W_qkv", "attn/b_qkv").split(C, dim=2)
        heads = [a.reshape(B, T, H, C // H).transpose(1, 2) for a in (q, k_, v)]
        y = F.scaled_dot_product_attention(*heads, is_causal=True)
        x = x + _linear(y.transpose(1, 2).reshape(B, T, C), p, "attn/W_proj", "attn/b_proj")
        h = F.layer_norm(x, (C,), p["ln2/g"], p["ln2/b"])
        h = F.gelu(_linear(h, p, "mlp/W_fc", "mlp/b_fc"), approximate=approximate)
        x = x + _linear(h, p, "mlp/W_proj", "mlp/b_proj")
    x = F.layer_norm(x, (C,), w["ln_f/g"], w["ln_f/b"])
    return x @ w["wte"].T


def _with_biases(w: dict) -> list[str]:
    """The names of a biased GPT's weights, given those of one without biases (a missing
    bias reads as None: nanoGPT's bias=False)."""
    names = list(w)
    for name in w:
        if name.endswith("/g"):
            names.append(name[:-2] + "/b")
        elif "/W_" in name:
            names.append(name.replace("/W_", "/b_"))
    return names


def _linear(x, p: dict, weight: str, bias: str):
    return x @ p[weight] if p[bias] is None else x @ p[weight] + p[bias]


@pytest.mark.parametrize("approximate, bias", [("tanh", True), ("none", True), ("none", False)])
def test_gpt_matches_the_same_model_in_torch(approximate, bias, rng):
    config = GPTConfig(vocabulary_size=13, block_size=8, n_layers=2, n_heads=2, width=8,
                       gelu=approximate, bias=bias)
    graph = gpt(config, rng=np.random.default_rng(0), dtype=np.float64)
    for node in graph.parameter_nodes:
        node.w = node.w + 0.2 * rng.standard_normal(node.w.shape)
    X, Y = rng.integers(0, 13, (3, 7)), rng.integers(0, 13, (3, 7))
    logits = graph.propagate([X])[0]
    cost = graph.backpropagate([Y])

    w = {node.name: torch.tensor(node.w, requires_grad=True) for node in graph.parameter_nodes}
    expected = torch_gpt(w, torch.from_numpy(X), config, approximate)
    loss = F.cross_entropy(expected.reshape(-1, 13), torch.from_numpy(Y).reshape(-1),
                           reduction="sum")
    loss.backward()
    np.testing.assert_allclose(logits, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert cost == pytest.approx(loss.item(), rel=1e-12)
    for node in graph.parameter_nodes:
        np.testing.assert_allclose(node.get_gradient(0), w[node.name].grad.numpy(),
                                   rtol=1e-9, atol=1e-11, err_msg=node.name)
