"""ONNX export against onnxruntime: every node type of the node table, fully-connected nets
(both formulations, every activation), an MNIST model with its preprocessing on real
digits, Reber-like RNN/LSTM/GRU networks, and char-rnn as one step (greedy text identical
to CharRNN.generate).  Skipped without onnx and onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

import dagnet
from dagnet.data import reber
from dagnet.data.mnist import Preprocessing, load_mnist
from dagnet.data.text import Vocabulary, read_text
from dagnet.errors import ExportError
from dagnet.export import export_onnx, to_onnx
from dagnet.export.onnx import dagnet_outputs, example_inputs, onnxruntime_difference
from dagnet.export.onnx_nodes import CONVERTERS
from dagnet.graph import Graph
from dagnet.models.charrnn import CharRNN
from dagnet.models.gpt import GPTConfig, gpt
from dagnet.models.rnn import RecurrentNetwork
from dagnet.node import NODE_TYPES, GradientNode, InputNode, Node, ParameterNode
from dagnet.nodes import Conv2DNode, TanhNode
from dagnet.optim import make_optimizer
from dagnet.training import ArrayBatches, Trainer
from tests.conftest import SHARED_DATA, require, require_data
from tests.nodes.cases import CASES

onnx = require("onnx")
ort = require("onnxruntime")

TOLERANCE = 1e-5  # float32, every covered model


def session(proto) -> ort.InferenceSession:
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def run(proto, inputs: list[np.ndarray]) -> list[np.ndarray]:
    s = session(proto)
    return s.run(None, dict(zip([i.name for i in s.get_inputs()], inputs)))


def largest_difference(ours, theirs) -> float:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert np.shape(a) == np.shape(b)
    return max(float(np.max(np.abs(np.asarray(a) - b), initial=0)) for a, b in zip(ours, theirs))


# -- every node type ----------------------------------------------------------------------------

def test_every_node_type_a_model_file_can_hold_has_a_converter():
    saved = {cls for cls in NODE_TYPES.values()
             if cls not in (InputNode, ParameterNode, GradientNode)}
    assert saved - set(CONVERTERS) == set()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_every_node_type_runs_in_onnxruntime_as_in_dagnet(case, rng):
    values = [np.asarray(v) for v in case.inputs(rng, 4, 3)]
    indices = [d is False for d in case.differentiable or [True] * len(values)]
    values = [v.astype(np.int64 if index else np.float32) for v, index in zip(values, indices)]
    inputs = [InputNode(name=f"x{k}") for k in range(len(values))]
    node = case.make(inputs)
    graph = Graph(None, inputs, [(node, i) for i in range(node.nb_outputs)])
    graph.eval()  # an export is for inference: dropout off, batch norm on running statistics
    shapes = {f"x{k}": [f"x{k}_axis{j}" for j in range(v.ndim)] for k, v in enumerate(values)}
    if case.cls is Conv2DNode:  # ONNX infers a convolution's output only from a known kernel
        shapes = {f"x{k}": list(v.shape) for k, v in enumerate(values)}
    proto = to_onnx(graph, input_shapes=shapes)
    assert [i.name for i in proto.graph.input] == [f"x{k}" for k in range(len(values))]
    ours = graph.propagate(values)
    scale = max(1.0, max(float(np.max(np.abs(y))) for y in ours))
    assert largest_difference(ours, run(proto, values)) <= TOLERANCE * scale


def test_a_node_without_an_onnx_form_is_an_error_naming_it():
    class CubeNode(Node):
        def compute_output(self):
            return [self.x[0] ** 3]

    class ShiftedTanhNode(TanhNode):  # a subclass may compute something else
        pass

    for cls in (CubeNode, ShiftedTanhNode):
        X = InputNode(name="X")
        graph = Graph(None, [X], [cls([X], name="odd")])
        with pytest.raises(ExportError, match=f"{cls.__name__} 'odd': no ONNX form"):
            to_onnx(graph, input_shapes={"X": ["batch", 3]})


def test_an_input_whose_shape_no_weight_tells_must_be_given():
    X = InputNode(name="X")
    with pytest.raises(ExportError, match="input_shapes=.'X'"):
        to_onnx(Graph(None, [X], [TanhNode([X])]))


# -- fully-connected nets ---------------------------------------------------------------------

@pytest.mark.parametrize("formulation", ["affine", "tutorial"])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "identity", "softmax"])
def test_fully_connected_nets_match_in_float32(activation, formulation, rng):
    net = dagnet.fully_connected([16, 8, 3], 5, activation, "softmax", dtype=np.float32,
                                 formulation=formulation, rng=np.random.default_rng(1))
    for p in net.parameter_nodes:  # nonzero biases too
        p.w += 0.1 * rng.standard_normal(p.w.shape).astype(np.float32)
    proto = to_onnx(net)
    assert [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim])
            for i in proto.graph.input] == [("X", ["batch", 5])]
    assert proto.graph.output[0].name == "prediction"
    X = rng.standard_normal((50, 5)).astype(np.float32)
    (theirs,) = run(proto, [X])
    assert theirs.dtype == np.float32
    assert largest_difference([net.predict(X)], [theirs]) <= TOLERANCE


def test_a_float64_net_stays_float64(rng):
    net = dagnet.fully_connected([4, 2], 3, "relu", "identity", dtype=np.float64)
    X = rng.standard_normal((6, 3))
    (theirs,) = run(to_onnx(net), [X])
    assert theirs.dtype == np.float64
    np.testing.assert_allclose(theirs, net.predict(X), rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def mnist():
    train, labels, test, _ = load_mnist(require_data(SHARED_DATA / "mnist"), download=False)
    return train[:1000], labels[:1000], test[:500]


@pytest.mark.parametrize("method", ["center", "standardize", "whiten"])
def test_an_mnist_model_takes_raw_pixels_with_its_preprocessing_folded_in(method, mnist,
                                                                           tmp_path):
    """As `dagnet mnist` saves it: the exported model reads pixels (N, 784) in [0, 255]."""
    train, labels, test = mnist
    preprocessing = Preprocessing.fit(train, method, n_components=50)
    net = dagnet.fully_connected([32, 10], preprocessing.n_features, "tanh", "softmax",
                                 dtype=np.float32, rng=np.random.default_rng(0))
    net.fit(preprocessing.transform(train, np.float32), labels, epochs=1, batch_size=100,
            optimizer="sgd", learning_rate=0.1, seed=0)
    metadata, tensors = preprocessing.to_model()
    net.metadata, net.extra_tensors = {"task": "mnist", "preprocessing": metadata}, tensors
    loaded = dagnet.load(net.save(tmp_path / "mnist.safetensors"))
    path = export_onnx(loaded, tmp_path / "mnist.onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    pixels = test.reshape(len(test), 784).astype(np.float32)
    (theirs,) = session(onnx.load(str(path))).run(None, {"pixels": pixels})
    ours = loaded.predict(preprocessing.transform(test, np.float32))
    assert largest_difference([ours], [theirs]) <= TOLERANCE
    assert np.mean(theirs.argmax(axis=1) == ours.argmax(axis=1)) == 1
    random = example_inputs(loaded, rng=np.random.default_rng(3), batch=64)
    assert list(random) == ["pixels"]
    assert onnxruntime_difference(loaded, path, random) <= TOLERANCE


# -- a GPT: the transformer's nodes in one graph ---------------------------------------------

@pytest.mark.parametrize("attention, gelu, bias, dropout", [
    ("fused", "tanh", True, 0.0), ("composed", "none", True, 0.0),
    ("fused", "none", False, 0.2)])  # nanoGPT's: no biases; dropout exported for inference
def test_a_gpt_runs_for_any_length_up_to_its_block(attention, gelu, bias, dropout, rng):
    config = GPTConfig(vocabulary_size=11, block_size=8, n_layers=2, n_heads=2, width=8,
                       gelu=gelu, attention=attention, bias=bias, dropout=dropout)
    graph = gpt(config, rng=np.random.default_rng(0)).eval()
    for p in graph.parameter_nodes:  # weights well away from nanoGPT's small initial ones
        p.w[...] = rng.normal(p.w, 0.3)
    proto = to_onnx(graph, input_shapes={"X": ["batch", "time"]})
    s = session(proto)
    for T in (1, 5, 8):
        X = rng.integers(0, 11, (3, T))
        (theirs,) = s.run(None, {"X": X})
        assert largest_difference(graph.propagate([X]), [theirs]) <= TOLERANCE


# -- recurrent networks ------------------------------------------------------------------------

def train(model: RecurrentNetwork, X, Y, epochs: int, batch_size: int) -> None:
    """Adam on time-first sequences (Model.fit casts X to floats, so no symbol indices)."""
    Trainer(model, make_optimizer("adam", model.parameter_nodes, learning_rate=0.01),
            ArrayBatches(X, Y, batch_size, np.random.default_rng(0), axis=1),
            epochs=epochs).run()


def reber_network(cell: str, **options) -> RecurrentNetwork:
    """A small net trained for a moment on Reber strings: weights off their initial values."""
    net = RecurrentNetwork(cell, 7, [8, 6], 7, dtype=np.float32, rng=np.random.default_rng(0),
                           **options)
    X, Y = reber.sample_batch(32, np.random.default_rng(1), dtype=np.float32)
    train(net, X.argmax(axis=-1) if net.inputs == "indices" else X, Y, 3, 8)
    return net


@pytest.mark.parametrize("options", [{}, {"inputs": "indices"},
                                     {"inputs": "indices", "embedding": 5}],
                         ids=["one-hot-rows", "indices", "embedding"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_recurrent_networks_run_as_onnx_rnn_lstm_and_gru(cell, options, rng):
    net = reber_network(cell, **options)
    proto = to_onnx(net)
    op_types = {node.op_type for node in proto.graph.node}
    assert {"RNN": cell == "rnn", "LSTM": cell == "lstm", "GRU": cell == "gru"} == {
        op: op in op_types for op in ("RNN", "LSTM", "GRU")}
    states = [s + "0" for s in net.state_names]
    x_name = "symbols" if net.inputs == "indices" else "X"
    assert [i.name for i in proto.graph.input] == [x_name] + states
    assert [o.name for o in proto.graph.output] == ["logits"] + [
        s + "_final" for s in net.state_names]
    strings = reber.generate(8, np.random.default_rng(5))
    X = reber.encode_batch(strings, np.float32)[0]  # real strings, zero states
    if net.inputs == "indices":
        X = X.argmax(axis=-1)
    zeros = net.initial_state(X.shape[1])
    logits, final = net.propagate(X, zeros)
    assert largest_difference([logits, *final], run(proto, [X, *zeros])) <= TOLERANCE
    inputs = example_inputs(net, rng, batch=5, steps=11)  # random inputs and states
    assert largest_difference(dagnet_outputs(net, inputs), run(proto, list(inputs.values()))
                              ) <= TOLERANCE


def test_a_gru_with_a_recurrent_bias_exports_it_as_onnx_recurrent_bias(rng):
    net = reber_network("gru", recurrent_bias=True)
    assert np.any(net.cells[0].b_h.w != 0)
    proto = to_onnx(net)
    inputs = example_inputs(net, rng)
    assert largest_difference(dagnet_outputs(net, inputs), run(proto, list(inputs.values()))
                              ) <= TOLERANCE


def test_one_step_or_whole_sequences_is_a_choice(rng, tmp_path):
    cases = [(reber_network("lstm", inputs="indices"), True, [1, "batch", 7]),
             (CharRNN("abcdefg", [5], "gru"), False, ["time", "batch", 7])]
    for model, one_step, logits_shape in cases:
        proto = to_onnx(model, one_step=one_step)
        dims = proto.graph.output[0].type.tensor_type.shape.dim
        assert [d.dim_param or d.dim_value for d in dims] == logits_shape[1 if one_step else 0:]
        path = export_onnx(model, tmp_path / "m.onnx", one_step=one_step)
        inputs = example_inputs(model, rng, one_step=one_step)
        assert onnxruntime_difference(model, path, inputs, one_step=one_step) <= TOLERANCE


@pytest.mark.parametrize("opset", [13, 17, 18, "newest"])
def test_every_supported_opset_gives_the_same_outputs(opset, rng, tmp_path):
    opset = onnx.defs.onnx_opset_version() if opset == "newest" else opset
    model = CharRNN("abcdefg", [6, 5], "gru", rng=np.random.default_rng(0))
    graph = model.graph(3)  # the unrolled graph: Split, Unstack and Stack
    unrolled = Graph(None, graph.input_nodes, graph.output_nodes)
    shapes = {f"{cell.name}/h0": ["batch", cell.n_hidden] for cell in model.cells}
    shapes["X"] = [3, "batch"]
    proto = to_onnx(unrolled, opset, input_shapes=shapes)
    assert proto.opset_import[0].version == opset
    inputs = [rng.integers(0, 7, (3, 2))] + [s + 1 for s in model.initial_state(2)]
    assert largest_difference(unrolled.propagate(inputs), run(proto, inputs)) <= TOLERANCE
    path = export_onnx(model, tmp_path / "m.onnx", opset)
    assert onnxruntime_difference(model, path, example_inputs(model, rng)) <= TOLERANCE


def test_an_opset_out_of_range_is_refused():
    net = dagnet.fully_connected([2], 2)
    for opset in (12, onnx.defs.onnx_opset_version() + 1):
        with pytest.raises(ExportError, match=f"opset {opset}: dagnet exports opsets 13 to"):
            to_onnx(net, opset)


def test_without_onnx_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    with pytest.raises(ExportError, match=r"pip install 'dagnet\[onnx\]'"):
        to_onnx(dagnet.fully_connected([2], 2))


# -- char-rnn: one step, its states in and out -------------------------------------------------

@pytest.fixture(scope="module")
def shakespeare() -> str:
    return read_text(require_data(SHARED_DATA / "tinyshakespeare" / "input.txt"))[:20000]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_charrnn_one_step_samples_the_same_text_greedily(cell, shakespeare, tmp_path):
    model = CharRNN(Vocabulary.from_text(shakespeare), [32, 32], cell,
                    rng=np.random.default_rng(0))
    path = export_onnx(model, tmp_path / "charrnn.onnx")
    proto = onnx.load(str(path))
    metadata = {p.key: p.value for p in proto.metadata_props}
    assert metadata["vocabulary"] == model.vocabulary.chars
    s = session(proto)
    names = [i.name for i in s.get_inputs()]
    assert names == ["symbols"] + [n + "0" for n in model.state_names]
    # Real text, one character at a time, both given dagnet's state: every step's outputs.
    state, worst = model.initial_state(1), 0.0
    for x in model.vocabulary.encode(shakespeare[:100]):
        theirs = s.run(None, dict(zip(names, [np.array([[x]], np.int64)] + state)))
        logits, state = model.step([x], state)
        worst = max(worst, largest_difference([logits, *state], theirs))
    assert worst <= TOLERANCE
    expected = model.generate(200, 0, np.random.default_rng(7))
    x = model.vocabulary.encode(expected[0])[0]
    state, text = model.initial_state(1), [x]
    while len(text) < 200:
        logits, *state = s.run(None, dict(zip(names, [np.array([[x]], np.int64)] + state)))
        x = int(np.argmax(logits[0]))
        text.append(x)
    assert model.vocabulary.decode(text) == expected
    assert len(set(expected)) > 4  # the text is more than one character repeated
