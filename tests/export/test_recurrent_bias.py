"""RecurrentNetwork(..., recurrent_bias=True): a GRU whose recurrent product has its own
bias b_h (PyTorch's bias_hh), fused and composed alike, gradient-checked, saved in the
model file; other cells refuse it."""

from __future__ import annotations

import numpy as np
import pytest

import dagnet
from dagnet.errors import ModelFileError
from dagnet.gradcheck import check_gradients
from dagnet.io import write_model_file
from dagnet.models.rnn import RecurrentNetwork


def gru(rng, **options) -> RecurrentNetwork:
    net = RecurrentNetwork("gru", 4, [5, 3], 4, recurrent_bias=True, **options)
    for p in net.parameter_nodes:
        p.w[...] = 0.5 * rng.standard_normal(p.w.shape)
    return net


def outputs_and_gradients(net, X, Y, state):
    graph = net.graph(len(X))
    outputs = [np.array(y) for y in graph.propagate([X] + state)]
    graph.backpropagate([Y])
    return outputs, [np.array(p.get_gradient(0)) for p in net.parameter_nodes]


def test_the_fused_and_composed_cells_agree_value_for_value_gradient_for_gradient(rng):
    fused = gru(np.random.default_rng(1))
    composed = RecurrentNetwork("gru", 4, [5, 3], 4, recurrent_bias=True, fused=False)
    for p, q in zip(fused.parameter_nodes, composed.parameter_nodes):
        q.w[...] = p.w
    assert [p.name for p in fused.parameter_nodes][:4] == [
        "layer1/W", "layer1/U", "layer1/b", "layer1/b_h"]
    X, Y = rng.standard_normal((6, 2, 4)), np.eye(4)[rng.integers(0, 4, (6, 2))]
    state = [rng.standard_normal((2, n)) for n in (5, 3)]
    (out_f, grad_f), (out_c, grad_c) = (outputs_and_gradients(net, X, Y, state)
                                        for net in (fused, composed))
    for a, b in zip(out_f + grad_f, out_c + grad_c):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)
    assert np.all(grad_f[3] != 0)  # b_h learns


def test_the_recurrent_bias_changes_the_function_inside_the_reset_gate(rng):
    net = gru(rng)
    X = rng.standard_normal((4, 2, 4))
    before = net.propagate(X)[0]
    net.cells[0].b_h.w[10:] += 1  # only b_hn, which r multiplies
    assert not np.allclose(net.propagate(X)[0], before)


def test_gradient_check_of_the_recurrent_bias(rng):
    net = gru(rng)
    X, Y = rng.standard_normal((5, 2, 4)), np.eye(4)[rng.integers(0, 4, (5, 2))]
    report = check_gradients(net.graph(5), [X] + net.initial_state(2), [Y])
    assert report.worst < 1e-6, str(report)


def test_the_option_is_saved_and_loaded(tmp_path, rng):
    net = gru(rng, dtype=np.float32)
    loaded = dagnet.load(net.save(tmp_path / "gru.safetensors"))
    assert loaded.config()["recurrent_bias"] is True and loaded.config() == net.config()
    X = rng.standard_normal((4, 2, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.propagate(X)[0], net.propagate(X)[0])
    plain = RecurrentNetwork("gru", 4, [5], 4)
    config = plain.config()
    del config["recurrent_bias"]  # a file written before the option: no recurrent bias
    write_model_file(tmp_path / "old.safetensors", plain.file_format, plain.format_version,
                     config, plain.weights(), {}, {})
    assert dagnet.load(tmp_path / "old.safetensors").recurrent_bias is False


def test_other_cells_refuse_it(tmp_path):
    with pytest.raises(ValueError, match="recurrent_bias applies to GRU cells"):
        RecurrentNetwork("lstm", 4, 5, 4, recurrent_bias=True)
    lstm = RecurrentNetwork("lstm", 4, 5, 4)
    write_model_file(tmp_path / "bad.safetensors", lstm.file_format, lstm.format_version,
                     lstm.config() | {"recurrent_bias": True}, lstm.weights(), {}, {})
    with pytest.raises(ModelFileError, match="config.recurrent_bias: applies to GRU cells"):
        dagnet.load(tmp_path / "bad.safetensors")
