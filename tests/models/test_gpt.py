"""The GPT builder: an end-to-end gradient check of a tiny GPT, fused attention against
composed, the whole model against the same computation in PyTorch, names, shapes,
weight tying, float32, model files, and a few steps of learning."""

from __future__ import annotations

import numpy as np
import pytest

from dagnet.gradcheck import check_gradients
from dagnet.io import load, save
from dagnet.models.gpt import GPTConfig, gpt, gpt_parameters
from dagnet.optim import Adam

TINY = GPTConfig(vocabulary_size=11, block_size=6, n_layers=1, n_heads=2, width=8)


def tiny_gpt(rng, dtype=np.float64, **changes):
    """TINY with larger random weights than the initialisation, so every path matters."""
    config = GPTConfig(**{**TINY.config(), **changes})
    graph = gpt(config, rng=np.random.default_rng(1), dtype=dtype)
    for node in graph.parameter_nodes:
        node.w = (node.w + 0.3 * rng.standard_normal(node.w.shape)).astype(dtype)
    return graph


def symbols(rng, B=3, T=4, V=11):
    return rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))


@pytest.mark.parametrize("attention", ["fused", "composed"])
def test_tiny_gpt_passes_an_end_to_end_gradient_check(attention, rng):
    graph = tiny_gpt(rng, attention=attention)
    X, Y = symbols(rng)
    report = check_gradients(graph, X, Y, max_elements=64, check_nodes=attention == "fused")
    assert report.worst < 1e-6, str(report)


def test_tiny_gpt_without_biases_passes_a_gradient_check(rng):
    graph = tiny_gpt(rng, bias=False, gelu="none")
    assert not any(p.name.endswith("/b") or "/b_" in p.name for p in graph.parameter_nodes)
    X, Y = symbols(rng)
    report = check_gradients(graph, X, Y, max_elements=64)
    assert report.worst < 1e-6, str(report)


def test_fused_and_composed_attention_give_the_same_model(rng):
    X, Y = symbols(rng)
    results = []
    for attention in ("fused", "composed"):
        graph = tiny_gpt(np.random.default_rng(5), attention=attention, gelu="none")
        logits = graph.propagate([X])[0].copy()
        cost = graph.backpropagate([Y])
        results.append((logits, cost, [p.get_gradient(0).copy() for p in graph.parameter_nodes]))
    (l1, c1, g1), (l2, c2, g2) = results
    np.testing.assert_allclose(l1, l2, rtol=1e-12, atol=1e-13)
    assert c1 == pytest.approx(c2, rel=1e-13)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_parameter_names_shapes_and_weight_tying(rng):
    config = GPTConfig(vocabulary_size=11, block_size=6, n_layers=2, n_heads=2, width=8)
    graph = gpt(config, rng=rng)
    names = [p.name for p in graph.parameter_nodes]
    assert names[:2] == ["wte", "wpe"] and names[-2:] == ["ln_f/g", "ln_f/b"]
    assert "block2/attn/W_qkv" in names and "block1/mlp/W_proj" in names
    shapes = {p.name: p.w.shape for p in graph.parameter_nodes}
    assert shapes["block1/attn/W_qkv"] == (8, 24) and shapes["block1/mlp/W_fc"] == (8, 32)
    C, V, T, L = 8, 11, 6, 2
    assert sum(p.w.size for p in graph.parameter_nodes) == V * C + T * C + L * (
        12 * C * C + 13 * C) + 2 * C
    # The output layer reads the token embedding matrix itself: one ParameterNode, two uses.
    wte = graph.parameter_nodes[0]
    readers = sorted(child.name for child, _ in wte.children[0])
    assert readers == ["logits", "tokens"]


def test_any_context_up_to_the_block_size_and_no_longer(rng):
    graph = gpt(TINY, rng=rng)
    for T in (1, 3, 6):
        assert graph.propagate([rng.integers(0, 11, (2, T))])[0].shape == (2, T, 11)
    with pytest.raises(Exception, match=r"T ≤ T_max"):
        graph.propagate([rng.integers(0, 11, (2, 7))])


def test_float32_in_float32_out(rng):
    graph = gpt(TINY, rng=rng, dtype=np.float32)
    X, Y = symbols(rng)
    assert graph.propagate([X])[0].dtype == np.float32
    graph.backpropagate([Y])
    assert all(p.get_gradient(0).dtype == np.float32 for p in graph.parameter_nodes)


def test_the_initial_loss_is_that_of_a_uniform_guess(rng):
    """nanoGPT's initialisation: near-zero logits, a loss of about log V per symbol."""
    graph = gpt(GPTConfig(vocabulary_size=65, block_size=8, n_layers=2, n_heads=2, width=16),
                rng=rng)
    X, Y = symbols(rng, B=8, T=8, V=65)
    graph.propagate([X])
    assert graph.backpropagate([Y]) / X.size == pytest.approx(np.log(65), rel=0.01)


def test_a_model_file_gives_back_the_same_model(rng, tmp_path):
    graph = tiny_gpt(rng)
    X, _ = symbols(rng)
    logits = graph.propagate([X])[0].copy()
    loaded = load(save(graph, tmp_path / "gpt.dagnet"))
    np.testing.assert_array_equal(loaded.propagate([X])[0], logits)
    assert [p.name for p in loaded.parameter_nodes] == [p.name for p in graph.parameter_nodes]


def test_shared_parameters_make_graphs_that_learn_together(rng):
    parameters = gpt_parameters(TINY, rng, np.float64)
    first, second = gpt(TINY, parameters), gpt(TINY, parameters)
    assert first.parameter_nodes == second.parameter_nodes
    X, _ = symbols(rng)
    np.testing.assert_array_equal(first.propagate([X])[0], second.propagate([X])[0])


def test_it_learns_to_continue_a_repeating_sequence(rng):
    """A period-5 sequence: after 60 Adam steps the next symbol is predicted (loss < 0.3)."""
    graph = gpt(TINY, rng=rng)
    optimizer = Adam(graph.parameter_nodes, 0.01)
    pattern = np.tile(rng.permutation(11)[:5], 4)
    starts = np.arange(8) % 5
    X = np.stack([pattern[s:s + 6] for s in starts])
    Y = np.stack([pattern[s + 1:s + 7] for s in starts])
    losses = []
    for _ in range(60):
        graph.propagate([X])
        losses.append(graph.backpropagate([Y]) / X.size)
        optimizer.optimize(X.size)
    assert losses[0] > 2 and losses[-1] < 0.3, losses[::10]


@pytest.mark.parametrize("key, value, message", [
    ("width", 9, "does not split into 2 heads"), ("gelu", "erf", "gelu must be one of"),
    ("attention", "flash", "attention must be one of"), ("n_layers", 0, "must be positive")])
def test_the_config_refuses_bad_values(key, value, message):
    with pytest.raises(ValueError, match=message):
        GPTConfig(**{**TINY.config(), key: value})
