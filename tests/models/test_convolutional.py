"""The convolutional builders: shapes, names, modes, gradients, learning, model files."""

from __future__ import annotations

import numpy as np
import pytest

import dagnet.io
from dagnet import check_gradients
from dagnet.data.mnist import one_hot
from dagnet.models import GraphModel
from dagnet.models.convolutional import convnet, lenet5
from dagnet.nodes import BatchNormNode, DropoutNode
from dagnet.optim import Adam
from dagnet.training.iterators import Batch


def digits(rng, n, dtype=np.float32):
    """n random 'images' (n, 1, 28, 28) and one-hot labels (n, 10)."""
    return (rng.standard_normal((n, 1, 28, 28)).astype(dtype),
            one_hot(rng.integers(0, 10, n), dtype=dtype))


def test_lenet5_has_the_classic_layers_and_parameter_count(rng):
    graph = lenet5(rng)
    names = [node.name for node in graph.parameter_nodes]
    assert names == ["conv1/W", "conv1/b", "conv2/W", "conv2/b", "fc1/W", "fc1/b", "fc2/W",
                     "fc2/b", "fc3/W", "fc3/b"]
    assert [node.w.shape for node in graph.parameter_nodes[::2]] == [
        (6, 1, 5, 5), (16, 6, 5, 5), (400, 120), (120, 84), (84, 10)]
    assert sum(node.w.size for node in graph.parameter_nodes) == 61706
    X, _ = digits(rng, 3)
    (p,) = graph.propagate([X])
    assert p.shape == (3, 10) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)


def test_convnet_layers_names_and_modes(rng):
    assert not any(isinstance(n, DropoutNode) for n in convnet(rng).nodes)  # the default
    graph = convnet(rng, dropout=0.25)
    names = [node.name for node in graph.parameter_nodes]
    assert names[:3] == ["conv1/W", "conv1/gamma", "conv1/beta"]
    assert names[-4:] == ["fc1/W", "fc1/b", "fc2/W", "fc2/b"]
    assert graph.parameter_nodes[0].w.shape == (8, 1, 3, 3)
    modal = [n for n in graph.nodes if isinstance(n, (BatchNormNode, DropoutNode))]
    assert len(modal) == 5 and all(n.training for n in modal)
    X, _ = digits(rng, 4)
    train_output = graph.propagate([X])[0].copy()
    graph.eval()
    assert not any(n.training for n in modal)
    (p,) = graph.propagate([X])
    assert p.shape == (4, 10) and p.dtype == np.float32
    assert not np.allclose(p, train_output)  # running statistics, no dropout
    with pytest.raises(ValueError, match="channels"):
        convnet(rng, channels=(8,))


@pytest.mark.parametrize("build", [
    lambda rng: lenet5(rng, np.float64),
    lambda rng: lenet5(rng, np.float64, activation="tanh", pooling="avg"),
    lambda rng: convnet(rng, np.float64, channels=(2, 3), hidden=5, dropout=0.0),
], ids=["lenet5", "lenet5-tanh-avg", "convnet"])
def test_gradients_through_the_whole_network(rng, build):
    graph = build(rng)
    X, Y = digits(rng, 3, np.float64)
    report = check_gradients(graph, X, Y, max_elements=20, check_nodes=False, rng=rng)
    assert report.worst < 1e-5, str(report)


@pytest.mark.parametrize("build", [lenet5, lambda rng: convnet(rng, channels=(4, 4),
                                                               hidden=16)],
                         ids=["lenet5", "convnet"])
def test_a_few_adam_steps_fit_a_small_batch(rng, build):
    graph = build(rng)
    X, Y = digits(rng, 16)
    optimizer = Adam(graph.parameter_nodes, 3e-3)
    costs = []
    for _ in range(25):
        graph.propagate([X])
        costs.append(graph.backpropagate([Y]))
        optimizer.optimize(len(X))
    assert costs[-1] < 0.5 * costs[0], costs
    assert all(node.w.dtype == node.get_gradient(0).dtype == np.float32
               for node in graph.parameter_nodes)  # float32 end to end


def test_models_round_trip_through_model_files(rng, tmp_path):
    """LeNet-5, and convnet with its running statistics (state arrays in the model file),
    give the same outputs after a save and load."""
    X, Y = digits(rng, 8)
    for name, graph in (("lenet5", lenet5(rng)), ("convnet", convnet(rng))):
        if name == "convnet":
            optimizer = Adam(graph.parameter_nodes, 1e-3)
            for _ in range(2):
                graph.propagate([X])
                graph.backpropagate([Y])
                optimizer.optimize(len(X))
        dagnet.io.save(graph, tmp_path / f"{name}.safetensors")
        loaded = dagnet.io.load(tmp_path / f"{name}.safetensors")
        np.testing.assert_allclose(loaded.eval().propagate([X])[0],
                                   graph.eval().propagate([X])[0], rtol=1e-6)


def test_a_graph_model_trains_in_training_mode_and_predicts_in_inference_mode(rng):
    """predict and evaluate use the running statistics and no dropout, leave them (and the
    graph's mode) alone; train_step trains in training mode even after eval()."""
    model = GraphModel.from_graph(convnet(rng, channels=(2, 3), hidden=8, dropout=0.5))
    X, Y = digits(rng, 16)
    norms = [n for n in model.nodes if isinstance(n, BatchNormNode)]
    optimizer = Adam(model.parameter_nodes, 1e-3)
    model.train_step(Batch(X, Y, len(X)), optimizer)
    running = [n.running_mean.copy() for n in norms]
    first = model.predict(X)
    assert model.training  # the mode it found
    np.testing.assert_array_equal(model.predict(X), first)  # no dropout mask drawn
    with model.inference():
        np.testing.assert_array_equal(model.propagate([X])[0], first)  # running statistics
    model.evaluate(X, Y.argmax(axis=1), batch_size=5)
    for n, mean in zip(norms, running):
        np.testing.assert_array_equal(n.running_mean, mean)
    assert not np.allclose(model.propagate([X])[0], first)  # training mode: batch statistics
    model.eval()
    model.train_step(Batch(X, Y, len(X)), optimizer)
    assert model.training
    assert not all(np.array_equal(n.running_mean, m)
                   for n, m in zip(norms, running))


def test_the_dropout_generator_is_the_models_and_goes_into_checkpoints(rng):
    model = GraphModel.from_graph(convnet(rng, channels=(2, 3), hidden=8, dropout=0.25))
    (dropout,) = [n for n in model.nodes if isinstance(n, DropoutNode)]
    assert model.rng is dropout.rng
    model.rng = np.random.default_rng(7)
    assert dropout.rng.bit_generator.state == np.random.default_rng(7).bit_generator.state
    assert GraphModel.from_graph(lenet5(rng)).rng is None
