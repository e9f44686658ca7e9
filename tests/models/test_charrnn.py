"""CharRNN: the sequence-level LSTM layer against the per-step and composed graphs (value
for value, gradient for gradient, float64), gradient checks with embedding, dropout and
carried state, dropout behaviour, float32, model files, and that it learns."""

from __future__ import annotations

import numpy as np
import pytest

import dagnet
from dagnet.data.text import CharStreams
from dagnet.errors import DataError, ModelFileError, NonFiniteError
from dagnet.gradcheck import check_gradients
from dagnet.models.charrnn import CharRNN
from dagnet.models.rnn import RecurrentNetwork
from dagnet.nodes import LSTMLayerNode
from dagnet.optim import RMSProp
from dagnet.training import Batch, StreamBatches

CHARS = "abcdefg"
V = len(CHARS)


def symbols(rng, T, B):
    return rng.integers(0, V, (T, B))


def copy_weights(source, target):
    by_name = {p.name: p for p in source.parameter_nodes}
    for p in target.parameter_nodes:
        assert by_name[p.name].w.shape == p.w.shape
        p.w = by_name[p.name].w.copy()


def run(graph, values, Y, parameters):
    outputs = [np.array(o) for o in graph.propagate(values)]
    cost = graph.backpropagate([Y])
    return outputs, cost, [np.array(p.get_gradient(0)) for p in parameters]


@pytest.mark.parametrize("fused", [True, False], ids=["per-step-fused", "composed"])
def test_lstm_layer_node_equals_the_step_graphs_value_for_value(fused, rng):
    net = CharRNN(CHARS, [5, 4], rng=np.random.default_rng(2), dtype=np.float64)
    reference = RecurrentNetwork("lstm", V, [5, 4], V, rng=np.random.default_rng(9),
                                 inputs="indices" if fused else "dense", fused=fused)
    copy_weights(net, reference)
    assert any(isinstance(n, LSTMLayerNode) for n in net.graph(6).nodes)
    T, B = 6, 3
    X, Y = symbols(rng, T, B), net.one_hot(symbols(rng, T, B))
    state = [0.5 * rng.standard_normal(s.shape) for s in net.initial_state(B)]
    X_ref = X if fused else np.eye(V)[X]
    out, cost, grads = run(net.graph(T), [X] + state, Y, net.parameter_nodes)
    out_ref, cost_ref, grads_ref = run(reference.graph(T), [X_ref] + state, Y,
                                       reference.parameter_nodes)
    assert cost == pytest.approx(cost_ref, rel=1e-13)
    for a, b in zip(out, out_ref):  # logits, then h and c of every layer
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    names = [p.name for p in reference.parameter_nodes]
    for p, g in zip(net.parameter_nodes, grads):
        np.testing.assert_allclose(g, grads_ref[names.index(p.name)], rtol=1e-11, atol=1e-13,
                                   err_msg=p.name)


@pytest.mark.parametrize("cell, embedding, dropout", [
    ("lstm", None, 0.0), ("lstm", 3, 0.5), ("gru", 3, 0.3), ("rnn", None, 0.0)])
def test_gradients_through_embedding_dropout_and_carried_state(cell, embedding, dropout, rng):
    net = CharRNN(CHARS, [4, 3], cell, embedding=embedding, dropout=dropout,
                  rng=np.random.default_rng(1), dtype=np.float64)
    T, B = 5, 2
    graph = net.graph(T, training=True)
    values = [symbols(rng, T, B)] + [0.5 * rng.standard_normal(s.shape)
                                     for s in net.initial_state(B)]
    if dropout:
        values += net.dropout_masks(T, B)
    report = check_gradients(graph, values, [net.one_hot(symbols(rng, T, B))],
                             rng=np.random.default_rng(0))
    assert report.worst < 1e-6, str(report)
    assert len(report.parameters) == len(net.parameter_nodes)


def test_dropout_is_inverted_seeded_and_off_at_evaluation(rng):
    net = CharRNN(CHARS, [64, 32], dropout=0.25, rng=np.random.default_rng(0))
    net.rng = np.random.default_rng(5)
    masks = net.dropout_masks(50, 20)
    assert [m.shape for m in masks] == [(50, 20, 64), (50, 20, 32)]
    values = np.unique(masks[0])
    np.testing.assert_allclose(values, [0, 1 / 0.75])
    assert np.mean(masks[0] == 0) == pytest.approx(0.25, abs=0.01)
    net.rng = np.random.default_rng(5)
    for a, b in zip(masks, net.dropout_masks(50, 20)):
        np.testing.assert_array_equal(a, b)
    # Evaluation and sampling use the graph without masks: the same value every time.
    X, Y = symbols(rng, 8, 3), symbols(rng, 8, 3)
    assert net.evaluate(X, Y) == net.evaluate(X, Y)
    assert net.graph(8) is not net.graph(8, training=True)
    # Training draws masks from the model's generator: one seed, one update, one loss.
    losses = []
    for _ in range(2):
        net2 = CharRNN(CHARS, [16], dropout=0.5, rng=np.random.default_rng(0))
        net2.rng = np.random.default_rng(7)
        optimizer = RMSProp(net2.parameter_nodes, 1e-3)
        losses.append(net2.train_step(Batch(X, Y, X.size, first=True), optimizer))
    assert losses[0] == losses[1]


def test_float32_end_to_end(rng):
    net = CharRNN(CHARS, [8, 8], embedding=4, dropout=0.1, rng=np.random.default_rng(0))
    optimizer = RMSProp(net.parameter_nodes, 1e-3)
    X, Y = symbols(rng, 7, 3), symbols(rng, 7, 3)
    loss = net.train_step(Batch(X, Y, X.size, first=True), optimizer)
    assert np.isfinite(loss)
    assert all(s.dtype == np.float32 for s in net.carried_state)
    assert all(p.w.dtype == np.float32 for p in net.parameter_nodes)
    logits, _ = net.step([0, 1, 2], net.carried_state)
    assert logits.shape == (3, V) and logits.dtype == np.float32


def test_it_learns_a_repeating_text():
    text = "hello world, " * 41
    net = CharRNN(sorted(set(text)), [32], rng=np.random.default_rng(0))
    streams, _ = CharStreams.split(net.vocabulary.encode(text), 4, 13)
    optimizer = RMSProp(net.parameter_nodes, 1e-2, rho=0.95, clip_value=5)
    data = StreamBatches(streams)
    losses = [net.train_step(data.next_batch(), optimizer) for _ in range(60)]
    assert losses[0] > 2.0 and np.mean(losses[-10:]) < 0.2
    assert net.generate(26, 0, np.random.default_rng(0), prime="hello") == (
        " world, hello world, hello")


def test_carried_state_is_reset_at_the_first_batch_of_the_streams(rng):
    net = CharRNN(CHARS, [6], rng=np.random.default_rng(0))
    optimizer = RMSProp(net.parameter_nodes, 1e-30)  # below float32 rounding: only the state moves
    X, Y = symbols(rng, 4, 2), symbols(rng, 4, 2)
    first = net.train_step(Batch(X, Y, X.size, first=True), optimizer)
    carried = net.train_step(Batch(X, Y, X.size), optimizer)
    again = net.train_step(Batch(X, Y, X.size, first=True), optimizer)
    assert first == again != carried


def test_generate_length_zero_and_unknown_prime(rng):
    net = CharRNN(CHARS, [4], rng=np.random.default_rng(0))
    assert net.generate(0, 0.8, rng) == ""
    assert len(net.generate(5, 0.8, rng)) == 5
    with pytest.raises(DataError, match="does not know"):
        net.generate(3, 0.8, rng, prime="xyz")


def test_debug_names_the_node_that_turns_non_finite(rng):
    net = CharRNN(CHARS, [4], debug=True, rng=np.random.default_rng(0))
    net.W_out.w[0, 0] = np.inf
    with pytest.raises(NonFiniteError, match="'output/W'.*NaN or infinite"):
        net.evaluate(symbols(rng, 3, 2), symbols(rng, 3, 2))


def test_save_and_load_give_the_same_model(tmp_path, rng):
    net = CharRNN("xyz\n", [6, 5, 4], "gru", embedding=3, dropout=0.2,
                  rng=np.random.default_rng(0))
    path = net.save(tmp_path / "m.safetensors", metadata={"note": "hi"},
                    extra_tensors={"state/0": np.ones(3)})
    loaded = CharRNN.load(path)
    assert type(dagnet.load(path)) is CharRNN
    assert loaded.config() == net.config() and loaded.metadata == {"note": "hi"}
    np.testing.assert_array_equal(loaded.extra_tensors["state/0"], np.ones(3))
    X = rng.integers(0, 4, (5, 2))
    state = net.initial_state(2)
    np.testing.assert_array_equal(net.graph(5).propagate([X] + state)[0],
                                  loaded.graph(5).propagate([X] + state)[0])


def test_load_refuses_other_files(tmp_path):
    net = RecurrentNetwork("lstm", 3, 4, 3)
    path = net.save(tmp_path / "other.safetensors")
    with pytest.raises(ModelFileError, match="not a dagnet char-rnn model"):
        CharRNN.load(path)
    with pytest.raises(ModelFileError, match="no such model file"):
        CharRNN.load(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("kwargs, message", [
    ({"hidden": [4, 4, 4, 4]}, "1 to 3 layers"), ({"cell": "tree"}, "unknown cell"),
    ({"dropout": 1.0}, "dropout"), ({"embedding": 0}, "positive width")])
def test_bad_configurations_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CharRNN(CHARS, **kwargs)
