"""The Model API on a user's own arrays: fit, evaluate, predict, save, load, at the boundary."""

from __future__ import annotations

import numpy as np
import pytest

import dagnet
from dagnet.errors import DataError, GraphError, ModelFileError
from dagnet.models import GraphModel, Model
from dagnet.models.charrnn import CharRNN
from dagnet.models.rnn import RecurrentNetwork
from dagnet.optim import GradientDescent
from dagnet.training import Extension


def three_classes(rng, n=600):
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
    return X, y


def test_fit_evaluate_save_load_predict_with_integer_labels(rng, tmp_path):
    X, y = three_classes(rng)
    model = dagnet.fully_connected([16, 3], 5, output_activation="softmax", dtype=np.float32)
    history = model.fit(X[:500], y[:500], epochs=15, batch_size=32, learning_rate=0.01,
                        validation_data=(X[500:], y[500:]), seed=0)
    assert history.stop_reason == "done" and len(history) == 15
    assert history[-1]["val_accuracy"] > 0.85 and history[-1]["loss"] < history[0]["loss"]
    metrics = model.evaluate(X[500:], y[500:])
    assert metrics == {"loss": pytest.approx(history[-1]["val_loss"]),
                       "accuracy": history[-1]["val_accuracy"]}
    path = model.save(tmp_path / "m.safetensors")
    loaded = dagnet.load(path)
    assert type(loaded) is GraphModel and isinstance(loaded, Model)
    np.testing.assert_array_equal(loaded.predict(X[:7]), model.predict(X[:7]))
    assert loaded.evaluate(X[500:], y[500:]) == metrics


def test_class_indices_and_one_hot_targets_give_the_same_loss(rng):
    X, y = three_classes(rng, 50)
    model = dagnet.fully_connected([4, 3], 5, output_activation="softmax")
    assert model.evaluate(X, y) == model.evaluate(X, np.eye(3)[y])


def test_reported_losses_are_means_per_example_while_the_graph_sums(rng):
    X, y = three_classes(rng, 64)
    model = dagnet.fully_connected([3], 5, output_activation="softmax")
    model.propagate([X])
    summed = model.backpropagate([np.eye(3)[y]])  # the tutorial's node: a sum
    assert model.evaluate(X, y)["loss"] == pytest.approx(summed / 64)


def test_float64_data_into_a_float32_model_stays_float32(rng):
    X, y = three_classes(rng, 40)
    model = dagnet.fully_connected([4, 3], 5, output_activation="softmax", dtype=np.float32)
    model.fit(X, y, epochs=1, batch_size=8, seed=0)
    assert model.predict(X).dtype == np.float32
    assert all(p.w.dtype == np.float32 for p in model.parameter_nodes)


def test_bad_inputs_are_clear_errors(rng):
    X, y = three_classes(rng, 20)
    model = dagnet.fully_connected([3], 5, output_activation="softmax")
    with pytest.raises(DataError, match="must hold numbers"):
        model.predict(np.array([["a"] * 5]))
    with pytest.raises(DataError, match="class indices from 0 to 7"):
        model.evaluate(X, np.arange(20) % 8)
    with pytest.raises(DataError, match="X has 20 rows but Y has 19"):
        model.fit(X, y[:19], epochs=1)
    with pytest.raises(ValueError, match="unknown optimizer 'adamw2'"):
        model.fit(X, y, epochs=1, optimizer="adamw2")


def test_binary_and_regression_graphs(rng):
    X = rng.normal(size=(200, 2))
    labels = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    binary = dagnet.fully_connected([8, 1], 2, rng=np.random.default_rng(0))
    assert binary.task == "binary"
    binary.fit(X, labels, epochs=60, batch_size=20, learning_rate=0.03, seed=0)
    assert binary.evaluate(X, labels)["accuracy"] > 0.85
    regression = dagnet.fully_connected([8, 1], 2, output_activation="identity")
    assert regression.task == "regression"
    assert set(regression.evaluate(X, X[:, :1] * 2)) == {"loss"}


def test_a_users_own_graph_becomes_a_model_in_one_call(rng, tmp_path):
    from dagnet import InputNode, LinearNode, ParameterNode, SoftmaxCrossEntropyNode, SoftmaxNode

    X, Y = InputNode(name="X"), InputNode(name="Y")
    W, b = ParameterNode(rng.normal(0, 0.1, (5, 3)), name="W"), ParameterNode(np.zeros(3),
                                                                               name="b")
    logits = LinearNode([X, W, b])
    graph = dagnet.Graph(None, [X], [SoftmaxNode([logits])], [Y],
                         SoftmaxCrossEntropyNode([Y, logits]))
    model = GraphModel.from_graph(graph)
    data, labels = three_classes(rng, 100)
    model.fit(data, labels, epochs=5, optimizer=GradientDescent(model.parameter_nodes, 0.5),
              seed=0)
    assert model.evaluate(data, labels)["accuracy"] > 0.7
    loaded = dagnet.load(model.save(tmp_path / "own.safetensors"))
    np.testing.assert_allclose(loaded.predict(data), model.predict(data))


def test_the_model_api_needs_one_input_one_target_and_a_cost(rng):
    X = dagnet.InputNode(name="X")
    graph = dagnet.Graph(None, [X], [dagnet.TanhNode([X])])
    with pytest.raises(GraphError, match="one input, one expected output and a cost"):
        GraphModel.from_graph(graph).evaluate(np.ones((2, 1)), np.ones((2, 1)))


def test_callbacks_are_trainer_extensions(rng):
    X, y = three_classes(rng, 64)
    seen = []

    class Watch(Extension):
        def on_log(self, trainer, entry):
            seen.append(entry["epoch"])

    dagnet.fully_connected([3], 5, output_activation="softmax").fit(
        X, y, epochs=3, batch_size=16, callbacks=[Watch()], seed=0)
    assert seen == [1, 2, 3]


def test_load_returns_the_class_that_wrote_the_file(tmp_path):
    paths = {
        GraphModel: dagnet.fully_connected([2], 3).save(tmp_path / "g.safetensors"),
        RecurrentNetwork: RecurrentNetwork("gru", 3, 4, 3).save(tmp_path / "r.safetensors"),
        CharRNN: CharRNN("abc", [4]).save(tmp_path / "c.safetensors",
                                          metadata={"note": 1}),
    }
    for cls, path in paths.items():
        model = dagnet.load(path)
        assert type(model) is cls and isinstance(model.metadata, dict)
    assert dagnet.load(paths[CharRNN]).metadata == {"note": 1}
    with pytest.raises(ModelFileError, match="not a dagnet char-rnn model"):
        CharRNN.load(paths[RecurrentNetwork])


def test_recurrent_network_fit_on_sequences_with_class_indices(rng):
    # Predict the previous symbol: a one-step memory task, time first (T, B).
    symbols = rng.integers(0, 3, (6, 64))
    X = np.eye(3)[symbols]
    targets = np.vstack([np.full((1, 64), -1), symbols[:-1]])  # -1: no target at step 0
    net = RecurrentNetwork("gru", 3, 8, 3, rng=np.random.default_rng(0), dtype=np.float32)
    history = net.fit(X, targets, epochs=40, batch_size=16, learning_rate=0.05, seed=0)
    assert history[-1]["loss"] < 0.2 * history[0]["loss"]
    predicted = net.predict(X).argmax(axis=-1)
    assert np.mean(predicted[1:] == symbols[:-1]) > 0.95


def test_fit_keeps_symbol_indices_integers(rng):
    symbols = rng.integers(0, 3, (5, 32))
    net = RecurrentNetwork("lstm", 3, 6, 3, inputs="indices", rng=np.random.default_rng(0))
    history = net.fit(symbols, np.vstack([np.full((1, 32), -1), symbols[:-1]]), epochs=3,
                      batch_size=8, learning_rate=0.05, seed=0)
    assert history[-1]["loss"] < history[0]["loss"]


def test_a_fresh_process_loads_every_model_format(tmp_path):
    import subprocess
    import sys

    path = CharRNN("abc", [4]).save(tmp_path / "c.safetensors")
    code = f"import dagnet; print(type(dagnet.load({str(path)!r})).__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "CharRNN"
