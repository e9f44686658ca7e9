"""Recurrent networks unfolded in time: fused against composed cells, gradient checks
through 20 steps with carried state, masking, truncated BPTT, caching, model files."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import dagnet
from dagnet import InputNode, ModelFileError, ParameterNode
from dagnet.gradcheck import check_gradients
from dagnet.graph import Graph
from dagnet.models.rnn import (
    CELL_TYPES,
    RecurrentNetwork,
    count_parameters,
    hidden_for_parameters,
    unroll_layer,
)
from dagnet.nodes import SequenceLinearNode, SoftmaxCrossEntropyNode
from dagnet.optim import Adam, GradientDescent
from dagnet.training import Batch

CELLS = list(CELL_TYPES)


def one_hot_targets(rng, T, B, C):
    return np.eye(C)[rng.integers(0, C, (T, B))]


def random_state(net, B, rng):
    return [rng.standard_normal(s.shape) * 0.5 for s in net.initial_state(B)]


def gradients(net):
    return [np.array(p.get_gradient(0)) for p in net.parameter_nodes]


def run(net, X, Y, state):
    graph = net.graph(len(X))
    outputs = graph.propagate([X] + state)
    cost = graph.backpropagate([Y])
    return [np.array(o) for o in outputs], cost, gradients(net)


@pytest.mark.parametrize("cell", CELLS)
def test_fused_cell_matches_composed_value_for_value_gradient_for_gradient(cell, rng):
    fused = RecurrentNetwork(cell, 5, [4, 3], 6, rng=np.random.default_rng(3))
    composed = RecurrentNetwork(cell, 5, [4, 3], 6, fused=False,
                                rng=np.random.default_rng(3))
    T, B = 7, 3
    X = rng.standard_normal((T, B, 5))
    Y = one_hot_targets(rng, T, B, 6)
    state = random_state(fused, B, rng)
    out_f, cost_f, grad_f = run(fused, X, Y, state)
    out_c, cost_c, grad_c = run(composed, X, Y, state)
    assert len(fused.graph(T).nodes) < len(composed.graph(T).nodes)
    assert cost_f == pytest.approx(cost_c, rel=1e-13)
    for a, b in zip(out_f, out_c):  # logits, then every final state
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    for p, a, b in zip(fused.parameter_nodes, grad_f, grad_c):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13, err_msg=p.name)


@pytest.mark.parametrize("cell", CELLS)
def test_float32_fused_matches_composed_and_stays_float32(cell, rng):
    nets = [RecurrentNetwork(cell, 4, 5, 3, fused=f, rng=np.random.default_rng(1),
                             dtype=np.float32) for f in (True, False)]
    X = rng.standard_normal((6, 2, 4)).astype(np.float32)
    Y = one_hot_targets(rng, 6, 2, 3).astype(np.float32)
    results = [run(net, X, Y, net.initial_state(2)) for net in nets]
    for (out_f, _, grad_f), (out_c, _, grad_c) in [results]:
        for a, b in zip(out_f + grad_f, out_c + grad_c):
            assert a.dtype == np.float32 and b.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "composed"])
@pytest.mark.parametrize("cell", CELLS)
def test_gradient_check_through_20_steps_with_carried_state(cell, fused, rng):
    net = RecurrentNetwork(cell, 3, 3, 4, fused=fused, rng=np.random.default_rng(5))
    T, B = 20, 2
    X = rng.standard_normal((T, B, 3))
    Y = one_hot_targets(rng, T, B, 4)
    Y[15:, 1] = 0  # a shorter second sequence: masked steps
    state = random_state(net, B, rng)  # carried from a previous chunk: not zero
    # Composed graphs have ~10 nodes a step, each checked by its own case in the node
    # table; here their parameters (and every node of the fused graphs) are checked.
    report = check_gradients(net.graph(T), [X] + state, [Y], check_nodes=fused)
    assert report.worst < 1e-6, str(report)
    assert len(report.parameters) == len(net.parameter_nodes)


@pytest.mark.parametrize("cell", CELLS)
def test_gradient_reaches_a_learned_initial_state_through_20_steps(cell, rng):
    layer = CELL_TYPES[cell](3, 3, np.random.default_rng(2), name="layer")
    initial = [ParameterNode(rng.standard_normal((2, 3)), name=f"{s}0")
               for s in layer.state_names]
    X = InputNode(name="X")
    hidden, final = unroll_layer(layer, X, 20, initial)
    W = ParameterNode(rng.standard_normal((3, 4)), name="W")
    b = ParameterNode(np.zeros(4), name="b")
    Y = InputNode(name="Y")
    cost = SoftmaxCrossEntropyNode([Y, SequenceLinearNode([hidden, W, b])])
    graph = Graph(None, [X], [(n, i) for n, i in final], [Y], cost)
    report = check_gradients(graph, [rng.standard_normal((20, 2, 3))],
                             [one_hot_targets(rng, 20, 2, 4)], check_nodes=False)
    assert {c.name for c in report.parameters} >= {f"ParameterNode '{s}0'"
                                                   for s in layer.state_names}
    assert report.worst < 1e-6, str(report)


def test_every_step_shares_one_parameter_node_per_weight(rng):
    net = RecurrentNetwork("lstm", 4, [3, 3], 2)
    graph = net.graph(12)
    assert graph.parameter_nodes == net.parameter_nodes
    assert len(net.parameter_nodes) == 3 * 2 + 2
    for cell in net.cells:
        assert len(cell.U.children[0]) == 12  # h_{t-1}·U at every step
        assert len(cell.W.children[0]) == 1  # all the steps' inputs in one product
    # A second length reuses the same weights: the graphs share ParameterNodes.
    net.graph(5)
    assert len(net.cells[0].U.children[0]) == 12 + 5
    optimizer = Adam(net.parameter_nodes, 0.01)
    assert len(optimizer.state) == len(net.parameter_nodes)


def test_unrolled_graphs_are_cached_by_length(rng):
    net = RecurrentNetwork("gru", 3, 4, 3)
    optimizer = GradientDescent(net.parameter_nodes, 0.1)
    for T in [5, 9, 5, 9, 5]:
        net.train_step(Batch(rng.standard_normal((T, 2, 3)), one_hot_targets(rng, T, 2, 3), 2),
                       optimizer)
    assert sorted(net._graphs) == [(5, False), (9, False)]
    assert net.graph(5) is net.graph(5)


@pytest.mark.parametrize("cell", CELLS)
def test_masked_batch_gives_the_gradients_of_the_strings_one_by_one(cell, rng):
    net = RecurrentNetwork(cell, 4, 5, 4, rng=np.random.default_rng(8))
    lengths = [6, 3, 9, 1]
    sequences = [rng.integers(0, 4, n + 1) for n in lengths]
    eye = np.eye(4)
    T = max(lengths)
    X = np.zeros((T, len(lengths), 4))
    Y = np.zeros_like(X)
    for b, s in enumerate(sequences):
        X[:len(s) - 1, b] = eye[s[:-1]]
        Y[:len(s) - 1, b] = eye[s[1:]]
    _, batch_cost, batch_gradients = run(net, X, Y, net.initial_state(len(lengths)))
    total_cost = 0.0
    total = [np.zeros_like(g) for g in batch_gradients]
    for s in sequences:
        _, cost, grads = run(net, eye[s[:-1]][:, None], eye[s[1:]][:, None],
                             net.initial_state(1))
        total_cost += cost
        for acc, g in zip(total, grads):
            acc += g
    assert batch_cost == pytest.approx(total_cost, rel=1e-12)
    for p, a, b in zip(net.parameter_nodes, batch_gradients, total):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=p.name)


@pytest.mark.parametrize("cell", CELLS)
def test_carried_state_continues_a_sequence_chunk_by_chunk(cell, rng):
    net = RecurrentNetwork(cell, 3, [4, 2], 3, rng=np.random.default_rng(4))
    X = rng.standard_normal((12, 2, 3))
    whole, final = net.propagate(X)
    first, state = net.propagate(X[:5])
    second, state = net.propagate(X[5:], state)
    np.testing.assert_allclose(np.concatenate([first, second]), whole, rtol=1e-12)
    for a, b in zip(state, final):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_truncated_backpropagation_keeps_the_carried_state_off_the_gradient_path(rng):
    net = RecurrentNetwork("lstm", 3, 4, 3)
    graph = net.graph(6)
    planned = {node for node, _ in graph._backward_plan}
    assert not planned & set(graph.input_nodes)
    # The step reading the carried c0 does not compute dJ/dc0.
    c0 = graph.input_nodes[2]
    (step, i_input), = c0.children[0]
    assert step.needs_gradient[i_input] is False


@pytest.mark.parametrize("cell", CELLS)
def test_symbol_indices_match_one_hot_rows(cell, rng):
    dense = RecurrentNetwork(cell, 6, 4, 6, rng=np.random.default_rng(9))
    indexed = RecurrentNetwork(cell, 6, 4, 6, inputs="indices", rng=np.random.default_rng(9))
    symbols = rng.integers(0, 6, (8, 3))
    Y = one_hot_targets(rng, 8, 3, 6)
    out_d, cost_d, grad_d = run(dense, np.eye(6)[symbols], Y, dense.initial_state(3))
    out_i, cost_i, grad_i = run(indexed, symbols, Y, indexed.initial_state(3))
    assert cost_d == pytest.approx(cost_i, rel=1e-12)
    for a, b in zip(out_d + grad_d, out_i + grad_i):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_a_2000_step_unrolled_graph_trains_under_the_default_recursion_limit(cell, rng):
    limit = sys.getrecursionlimit()
    T = 2000
    assert limit < T  # a recursive walk over the steps would fail
    net = RecurrentNetwork(cell, 3, 4, 3, rng=np.random.default_rng(0))
    symbols = np.arange(T + 1) % 3  # a cycle the net can learn: 0 1 2 0 1 2 ...
    X = np.eye(3)[symbols[:-1]][:, None]
    Y = np.eye(3)[symbols[1:]][:, None]
    optimizer = Adam(net.parameter_nodes, 0.05)
    costs = [net.train_step(Batch(X, Y, 1), optimizer) for _ in range(5)]
    assert np.all(np.isfinite(costs)) and costs[-1] < costs[0]
    assert sys.getrecursionlimit() == limit


def test_hidden_states_and_probabilities(rng):
    net = RecurrentNetwork("lstm", 3, [5, 4], 3)
    X = rng.standard_normal((7, 2, 3))
    states = net.hidden_states(X)
    assert [s.shape for s in states] == [(7, 2, 5), (7, 2, 4)]
    p = net.probabilities(X)
    np.testing.assert_allclose(p.sum(axis=-1), 1, rtol=1e-12)
    _, final = net.propagate(X)
    np.testing.assert_array_equal(states[1][-1], final[2])  # layer2/h


@pytest.mark.parametrize("cell", CELLS)
def test_model_file_round_trip(cell, tmp_path, rng):
    net = RecurrentNetwork(cell, 7, [6, 5], 7, rng=rng, dtype=np.float32)
    path = net.save(tmp_path / "net.safetensors", metadata={"symbols": "BTSXPVE"},
                    extra_tensors={"mean": np.arange(3.0)})
    loaded = RecurrentNetwork.load(path)
    X = rng.standard_normal((5, 2, 7)).astype(np.float32)
    np.testing.assert_array_equal(net.probabilities(X), loaded.probabilities(X))
    assert loaded.config() == net.config()
    assert loaded.metadata == {"symbols": "BTSXPVE"}
    np.testing.assert_array_equal(loaded.extra_tensors["mean"], np.arange(3.0))


def test_model_file_errors_name_the_file(tmp_path, rng):
    graph_file = dagnet.save(dagnet.fully_connected([3], 2), tmp_path / "mlp.safetensors")
    with pytest.raises(ModelFileError, match="mlp.safetensors: not a dagnet recurrent"):
        RecurrentNetwork.load(graph_file)
    net = RecurrentNetwork("gru", 3, 4, 3)
    path = net.save(tmp_path / "gru.safetensors")
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:len(data) // 2])
    with pytest.raises(ModelFileError, match="cut.safetensors"):
        RecurrentNetwork.load(tmp_path / "cut.safetensors")
    other = RecurrentNetwork("gru", 3, 5, 3)
    other.cells[0].U.w = np.zeros((4, 12))  # wrong shape for a 5-unit GRU
    bad = other.save(tmp_path / "bad.safetensors")
    with pytest.raises(ModelFileError, match="layer1/U"):
        RecurrentNetwork.load(bad)


def test_an_unrolled_graph_is_a_dagnet_model_file_too(tmp_path, rng):
    net = RecurrentNetwork("lstm", 3, 4, 3, inputs="indices")
    graph = net.graph(4)
    X = [rng.integers(0, 3, (4, 2))] + net.initial_state(2)
    before = [np.array(o) for o in graph.propagate(X)]
    loaded = dagnet.load(dagnet.save(graph, tmp_path / "unrolled.safetensors"))
    for a, b in zip(before, loaded.propagate(X)):
        np.testing.assert_array_equal(a, b)


def test_parameter_counts(rng):
    for cell in CELLS:
        net = RecurrentNetwork(cell, 7, [16, 8], 7)
        assert net.n_parameters == count_parameters(cell, 7, [16, 8], 7)
    lstm = count_parameters("lstm", 7, 16, 7)
    for cell in CELLS:
        h = hidden_for_parameters(cell, 7, 7, lstm)
        assert abs(count_parameters(cell, 7, h, 7) - lstm) < 0.1 * lstm
    assert hidden_for_parameters("lstm", 7, 7, lstm) == 16


def test_lstm_forget_gate_bias_starts_at_one():
    b = RecurrentNetwork("lstm", 3, 4, 3).cells[0].b.w
    np.testing.assert_array_equal(b[4:8], 1)
    np.testing.assert_array_equal(np.delete(b, range(4, 8)), 0)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown cell"):
        RecurrentNetwork("transformer", 3, 4, 3)
    with pytest.raises(ValueError, match="dense inputs"):
        RecurrentNetwork("lstm", 3, 4, 3, inputs="indices", fused=False)
    with pytest.raises(ValueError, match="positive"):
        RecurrentNetwork("lstm", 3, [4, 0], 3)
    net = RecurrentNetwork("rnn", 3, 4, 3)
    with pytest.raises(dagnet.ShapeError, match="layer1/input_projection"):
        net.propagate(np.zeros((5, 2, 4)))  # 4 features, the net reads 3
