"""The GPT Model: it learns through the Trainer, saves and loads through dagnet.load, refuses
bad files naming the key, samples (temperature 0, top-k, a context that slides past the
block size) and shows its attention weights."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import dagnet
from dagnet.data.text import Vocabulary, random_windows
from dagnet.errors import DataError, ModelFileError
from dagnet.io import read_model_file, write_model_file
from dagnet.limits import DEFAULT_LIMITS
from dagnet.models import GPT
from dagnet.models.language import pick
from dagnet.optim import Adam
from dagnet.training import Batch, GeneratedBatches, Trainer

CHARS = "abcdefgh \n"


def tiny(**changes) -> GPT:
    options = {"block_size": 8, "n_layers": 1, "n_heads": 2, "width": 8,
               "rng": np.random.default_rng(0), **changes}
    return GPT(CHARS, **options)


def perturbed(model: GPT, scale: float = 0.5) -> GPT:
    """Larger random weights than the initialisation: the logits then differ by position."""
    rng = np.random.default_rng(9)
    for p in model.parameter_nodes:
        p.w = (p.w + scale * rng.standard_normal(p.w.shape)).astype(p.w.dtype)
    return model


def test_the_model_is_nanogpts_baby_gpt_by_default():
    model = GPT(CHARS)
    assert model.config() == {"vocabulary": "".join(sorted(CHARS)), "block_size": 64, "n_layers": 4,
                              "n_heads": 4, "width": 128, "gelu": "tanh",
                              "attention": "fused", "bias": True, "dropout": 0.0,
                              "dtype": "float32"}
    C, V, T, L = 128, len(CHARS), 64, 4
    assert model.n_parameters == V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C
    assert model.parameter_nodes[0].name == "wte"  # tied: the output layer reads it too


def test_a_tiny_gpt_learns_a_repeating_text_through_the_trainer():
    text = np.tile(Vocabulary(CHARS).encode("abc defg\nhab"), 40)
    model = tiny()
    data = GeneratedBatches(functools.partial(random_windows, text, 8), 64, 8,
                            np.random.default_rng(1))
    X, Y = random_windows(text, 8, 32, np.random.default_rng(2))
    before = model.evaluate(X, Y)["loss"]
    history = Trainer(model, Adam(model.parameter_nodes, 0.02), data, max_steps=80,
                      log_every=20).run()
    after = model.evaluate(X, Y)["loss"]
    assert before == pytest.approx(np.log(len(CHARS)), rel=0.05)
    assert after < 0.3 * before and history.entries[-1]["loss"] < history.entries[0]["loss"]


def test_train_step_returns_the_mean_loss_per_character(rng):
    model = tiny(dtype=np.float64)
    X, Y = rng.integers(0, len(CHARS), (3, 5)), rng.integers(0, len(CHARS), (3, 5))
    p = model.predict(X)
    expected = -np.mean(np.log(np.take_along_axis(p, Y[..., None], -1)))
    optimizer = Adam(model.parameter_nodes, 1e-3)
    assert model.train_step(Batch(X, Y, 3), optimizer) == pytest.approx(expected, rel=1e-12)
    cost, count, correct = model.evaluate_batch(X, Y)
    assert count == 15 and correct is None and cost / 15 < expected  # after one update


def test_float32_in_float32_out_and_probabilities(rng):
    model = tiny()
    p = model.predict(rng.integers(0, len(CHARS), (4, 8)), batch_size=3)
    assert p.dtype == np.float32 and p.shape == (4, 8, len(CHARS))
    np.testing.assert_allclose(p.sum(-1), 1, rtol=1e-5)


@pytest.mark.parametrize("X, message", [
    (np.zeros((2, 9), dtype=int), r"1 ≤ T ≤ 8 \(the block size\), got int64 \(2, 9\)"),
    (np.zeros((2, 3)), "symbol indices"), (np.zeros(3, dtype=int), "(B, T)")])
def test_inputs_the_model_cannot_read_are_named(X, message):
    with pytest.raises(DataError, match=message):
        tiny().logits(X)


def test_saved_and_loaded_through_dagnet_load(tmp_path, rng):
    model = perturbed(tiny())
    model.metadata = {"note": "x"}
    path = model.save(tmp_path / "gpt.safetensors")
    loaded = dagnet.load(path)
    assert type(loaded) is GPT and loaded.config() == model.config()
    assert loaded.metadata == {"note": "x"} and GPT.load(path).vocabulary == model.vocabulary
    X = rng.integers(0, len(CHARS), (2, 8))
    np.testing.assert_array_equal(loaded.logits(X), model.logits(X))


def test_a_file_from_before_the_bias_and_dropout_settings_loads_with_biases(tmp_path):
    model = tiny()
    config = {k: v for k, v in model.config().items() if k not in ("bias", "dropout")}
    path = write_model_file(tmp_path / "old.safetensors", GPT.file_format, GPT.format_version,
                            config, model.weights(), {}, {})
    loaded = dagnet.load(path)
    assert loaded.config() == model.config() and loaded.settings.bias


@pytest.mark.parametrize("change, message", [
    (lambda c, w: c.update(width=9), r"config.width: 9 does not split into config.n_heads"),
    (lambda c, w: c.update(n_layers=0), r"config.n_layers: expected an integer in \[1, 64\]"),
    (lambda c, w: c.update(gelu="erf"), "config.gelu: expected one of"),
    (lambda c, w: c.update(dropout=1.5), "config.dropout: expected"),
    (lambda c, w: c.update(bias="no"), "config.bias: expected"),
    (lambda c, w: c.update(bias=False), "tensor 'block1/attn/b_proj' is not a weight"),
    (lambda c, w: c.update(attn=1), "config: unknown key 'attn'"),
    (lambda c, w: c.update(vocabulary="ba"), "config.vocabulary: expected distinct characters"),
    (lambda c, w: c.update(block_size=4), r"tensor 'wpe' is float32\[8, 8\], the config"),
    (lambda c, w: w.pop("ln_f/b"), "tensor 'ln_f/b': the configuration implies it"),
])
def test_a_file_that_contradicts_itself_is_refused_naming_the_key(tmp_path, change, message):
    model = tiny()
    config, weights = model.config(), model.weights()
    change(config, weights)
    path = write_model_file(tmp_path / "bad.safetensors", GPT.file_format, GPT.format_version,
                            config, weights, {}, {})
    with pytest.raises(ModelFileError, match=message):
        dagnet.load(path)
    with pytest.raises(ModelFileError, match=message):
        content = read_model_file(path, None, None)
        GPT.check_file(content.config, content.weights, DEFAULT_LIMITS)


def test_temperature_zero_is_deterministic_and_slides_past_the_block_size():
    model = perturbed(tiny())
    text = model.generate(30, 0, np.random.default_rng(1), prime="abc")
    assert text == model.generate(30, 0, np.random.default_rng(2), prime="abc")
    assert len(text) == 30 > model.block_size
    # Each character is the argmax given the last 8 characters before it, prime included.
    full = "abc" + text
    for i in range(3, len(full)):
        window = model.vocabulary.encode(full[max(0, i - 8):i])[None]
        assert full[i] == model.vocabulary.chars[int(np.argmax(model.logits(window)[0, -1]))]


def test_sampling_is_seeded_and_top_k_keeps_the_k_most_likely():
    model = perturbed(tiny())
    a = model.generate(40, 1.0, np.random.default_rng(5))
    assert a == model.generate(40, 1.0, np.random.default_rng(5)) and len(a) == 40
    assert a != model.generate(40, 1.0, np.random.default_rng(6))
    # top_k=1 leaves the most likely character only: the argmax text
    assert model.generate(20, 1.0, np.random.default_rng(5), "ab", top_k=1) == \
        model.generate(20, 0, np.random.default_rng(0), "ab")
    logits = np.array([0.0, 3.0, 1.0, 2.0])
    drawn = {pick(logits, 5.0, np.random.default_rng(s), top_k=2) for s in range(200)}
    assert drawn == {1, 3}
    with pytest.raises(DataError, match=r"does not know: \['Z'\]"):
        model.generate(5, 1.0, np.random.default_rng(0), prime="aZ")
    with pytest.raises(ValueError, match="top_k"):
        model.generate(5, 1.0, np.random.default_rng(0), top_k=0)


def test_attention_weights_are_causal_rows_of_probabilities_in_both_forms():
    fused = perturbed(tiny(n_layers=2))
    composed = tiny(n_layers=2, attention="composed")
    for a, b in zip(composed.parameter_nodes, fused.parameter_nodes):
        a.w = b.w.copy()
    weights = fused.attention("abc dh\n", layer=2)
    assert weights.shape == (2, 7, 7)
    np.testing.assert_allclose(weights.sum(-1), 1, rtol=1e-5)
    assert np.all(np.triu(weights, 1) == 0) and weights[:, 0, 0].tolist() == [1, 1]
    np.testing.assert_allclose(composed.attention("abc dh\n", layer=2), weights, atol=1e-6)
    assert not np.allclose(weights, fused.attention("abc dh\n", layer=1))
    with pytest.raises(ValueError, match="layer must lie in 1..2"):
        fused.attention("abc", layer=3)


def test_dropout_acts_in_training_only(rng):
    X, Y = rng.integers(0, len(CHARS), (4, 8)), rng.integers(0, len(CHARS), (4, 8))
    plain = perturbed(tiny(n_layers=2, dtype=np.float64))
    dropped = tiny(n_layers=2, dtype=np.float64, dropout=0.5,
                   dropout_rng=np.random.default_rng(3))
    for a, b in zip(plain.parameter_nodes, dropped.parameter_nodes):
        b.w = a.w.copy()
    names = sorted(n.name for n in dropped.graph.nodes if type(n).__name__ == "DropoutNode")
    assert names == ["block1/attn/proj/dropout", "block1/mlp/proj/dropout",
                     "block2/attn/proj/dropout", "block2/mlp/proj/dropout",
                     "positions/dropout"]
    assert not any(type(n).__name__ == "DropoutNode" for n in plain.graph.nodes)
    # Inference (logits, evaluation, sampling): no dropout, the same model as without.
    np.testing.assert_array_equal(dropped.logits(X), plain.logits(X))
    assert dropped.evaluate(X, Y)["loss"] == plain.evaluate(X, Y)["loss"]
    # Training: a fresh mask at every step, the loss of a thinned model.
    sgd = dagnet.optim.GradientDescent(dropped.parameter_nodes, 1e-30)  # weights unchanged
    first, second = (dropped.train_step(Batch(X, Y, 4), sgd) for _ in range(2))
    assert dropped.graph.training and first != second
    assert first != pytest.approx(plain.evaluate(X, Y)["loss"], rel=1e-3)
    assert dropped.generate(5, 0.0, rng, "ab") == plain.generate(5, 0.0, rng, "ab")
    assert dropped.graph.training is False  # sampling switched it back to inference


def test_dropout_is_saved_and_a_loaded_model_runs_in_inference_mode(tmp_path, rng):
    model = tiny(dropout=0.2, bias=False)
    loaded = dagnet.load(model.save(tmp_path / "gpt.safetensors"))
    assert loaded.config() == model.config() and loaded.config()["dropout"] == 0.2
    X = rng.integers(0, len(CHARS), (2, 8))
    np.testing.assert_array_equal(loaded.logits(X), model.logits(X))
