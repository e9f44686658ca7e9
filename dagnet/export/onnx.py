"""ONNX export: a dagnet model as a standard ONNX graph that any runtime runs.

``export_onnx(model, path, opset=17)`` writes the file; ``to_onnx`` returns the
``onnx.ModelProto``.  What each kind of model becomes:

- a GraphModel (``fully_connected``, either formulation, or any saved graph): its
  prediction path node by node, every node type through the converter registered
  for it below (``@converts``); input ``X`` (batch, features), outputs ``prediction``
  (the first output), then ``output1``...  A model trained by ``dagnet mnist``
  (``metadata["task"] == "mnist"``) takes raw pixels instead: input ``pixels``
  (batch, 784), then (x - mean)⊙scale (·components when whitened), then the net.
- a RecurrentNetwork: ONNX's own RNN, LSTM and GRU operators, one per layer, with
  the gate blocks reordered (``dagnet.export.gates``) and the bias as ONNX's input
  bias (a GRU with ``recurrent_bias`` has ONNX's recurrent bias too; GRUs run with
  linear_before_reset=1, dagnet's form); inputs ``X`` (time, batch, features), or
  ``symbols`` (time, batch) int64 for symbol indices (one-hot rows through OneHot,
  or an embedding through Gather), then the initial states ``layer1/h0``,
  ``layer1/c0``...; outputs ``logits`` (time, batch, classes), then the final states
  ``layer1/h_final``...
- a CharRNN: the same, as a ONE-STEP model (``one_step=True``): ``symbols`` (1, batch)
  int64 and the states in, ``logits`` (batch, vocabulary) and the new states out, so a
  sampling loop runs in any runtime; the vocabulary is in the model's metadata.

Batch and time dimensions are dynamic.  The onnx package is optional
(``pip install 'dagnet[onnx]'``): it is imported when a model is exported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from dagnet.data.mnist import Preprocessing
from dagnet.errors import ExportError
from dagnet.export.gates import ONNX_BLOCKS, reorder_blocks
from dagnet.files import atomic_write_bytes
from dagnet.graph import Graph
from dagnet.models import Model
from dagnet.models.charrnn import CharRNN
from dagnet.models.rnn import Cell, RecurrentNetwork
from dagnet.node import InputNode, Node, ParameterNode, parent_nodes, post_order
from dagnet.nodes import (
    AddBiasNode,
    AdditionNode,
    BinaryCrossEntropyNode,
    CategoricalCrossEntropyNode,
    ConcatenationNode,
    EmbeddingNode,
    EWMultiplicationNode,
    GRUStepNode,
    IdentityNode,
    LinearNode,
    LSTMLayerNode,
    LSTMStepNode,
    MultiplicationNode,
    MultiplyAddNode,
    Norm2Node,
    OneHotLinearNode,
    ReluNode,
    ScalarMultiplicationNode,
    SelectionNode,
    SequenceLinearNode,
    SigmoidBinaryCrossEntropyNode,
    SigmoidNode,
    SoftmaxCrossEntropyNode,
    SoftmaxNode,
    SplitNode,
    SquaredErrorNode,
    StackNode,
    SubtractionNode,
    SumNode,
    TanhNode,
    UnstackNode,
)
from dagnet.version import __version__

DEFAULT_OPSET = 17
# From opset 13 on, the operators used here take the same inputs (Split, Squeeze and
# Unsqueeze read their sizes and axes as inputs); Split needs num_outputs from 18 on.
MIN_OPSET = 13
RECURRENT_OPS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def _import_onnx():
    try:
        import onnx
        import onnx.checker
        import onnx.numpy_helper
        import onnx.shape_inference
    except ImportError:
        raise ExportError("ONNX export needs the onnx package: pip install 'dagnet[onnx]' "
                          "(or pip install onnx)") from None
    return onnx


def newest_opset() -> int | None:
    """The newest opset the installed onnx package knows; None without onnx."""
    try:
        import onnx.defs
    except ImportError:
        return None
    return onnx.defs.onnx_opset_version()


class OnnxGraph:
    """An ONNX graph being built: nodes, initializers, inputs and outputs of one dtype.

    Value names are unique across the model (a subgraph shares its parent's names);
    ``indices`` holds the values that are int64 symbol indices.
    """

    def __init__(self, onnx, dtype, opset: int, names: set[str] | None = None):
        self.onnx, self.dtype, self.opset = onnx, np.dtype(dtype), opset
        self.float_type = onnx.helper.np_dtype_to_tensor_dtype(self.dtype)
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self.names: set[str] = set() if names is None else names
        self.indices: set[str] = set()

    def subgraph(self) -> OnnxGraph:
        return OnnxGraph(self.onnx, self.dtype, self.opset, self.names)

    def fresh(self, hint: str) -> str:
        """``hint``, or ``hint_2``, ``hint_3``... if it is taken."""
        name, k = hint, 1
        while name in self.names:
            k += 1
            name = f"{hint}_{k}"
        self.names.add(name)
        return name

    def constant(self, value, hint: str) -> str:
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(value), name))
        return name

    def scalar(self, value, hint: str = "scalar") -> str:
        return self.constant(np.array(value, dtype=self.dtype), hint)

    def ints(self, values, hint: str = "ints") -> str:
        return self.constant(np.array(values, dtype=np.int64), hint)

    def ops(self, op_type: str, inputs: Sequence[str], hint: str, n_outputs: int = 1,
            **attributes) -> list[str]:
        """Add one ONNX node; its outputs' names."""
        outputs = [self.fresh(hint if n_outputs == 1 else f"{hint}:{i}")
                   for i in range(n_outputs)]
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), outputs,
                                                     name=outputs[0], **attributes))
        return outputs

    def op(self, op_type: str, inputs: Sequence[str], hint: str, **attributes) -> str:
        return self.ops(op_type, inputs, hint, 1, **attributes)[0]

    def split(self, x: str, parts: int, hint: str, axis: int = -1) -> list[str]:
        """x cut into ``parts`` equal blocks along ``axis``."""
        extra = {"num_outputs": parts} if self.opset >= 18 else {}
        return self.ops("Split", [x], hint, parts, axis=axis, **extra)

    def as_indices(self, x: str, hint: str) -> str:
        return x if x in self.indices else self.op("Cast", [x], f"{hint}/indices",
                                                   to=self.onnx.TensorProto.INT64)

    def input(self, name: str, shape: Sequence, indices: bool = False) -> str:
        name = self.fresh(name)
        elem = self.onnx.TensorProto.INT64 if indices else self.float_type
        self.inputs.append(self.onnx.helper.make_tensor_value_info(name, elem, list(shape)))
        if indices:
            self.indices.add(name)
        return name

    def output(self, name: str, value: str, rank: int | None = None) -> None:
        """``value`` as the output ``name`` (a name kept free by ``fresh``); its shape is
        inferred when the model is made, or given as ``rank`` unknown dimensions."""
        self.nodes.append(self.onnx.helper.make_node("Identity", [value], [name], name=name))
        elem = self.onnx.TensorProto.INT64 if value in self.indices else self.float_type
        shape = None if rank is None else [None] * rank
        self.outputs.append(self.onnx.helper.make_tensor_value_info(name, elem, shape))

    def graph(self, name: str, doc: str = ""):
        return self.onnx.helper.make_graph(self.nodes, name, self.inputs, self.outputs,
                                           self.initializers, doc_string=doc)

    def model(self, name: str, doc: str, metadata: dict[str, str]):
        """The checked ModelProto, its output shapes inferred."""
        helper = self.onnx.helper
        opsets = [helper.make_opsetid("", self.opset)]
        model = helper.make_model(self.graph(name, doc), opset_imports=opsets,
                                  producer_name="dagnet", producer_version=__version__,
                                  doc_string=doc)
        model.ir_version = helper.find_min_ir_version_for(opsets)
        helper.set_model_props(model, metadata)
        inferred = self.onnx.shape_inference.infer_shapes(model)
        for declared, found in zip(model.graph.output, inferred.graph.output):
            if not found.type.tensor_type.HasField("shape"):
                raise ExportError(f"the shape of the output {declared.name!r} is unknown: "
                                  "give the inputs' shapes (input_shapes=...)")
            declared.CopyFrom(found)
        self.onnx.checker.check_model(model, full_check=True)
        return model


# -- the entry points ---------------------------------------------------------------------------

def to_onnx(model: Model | Graph, opset: int = DEFAULT_OPSET, *, one_step: bool | None = None,
            input_shapes: dict[str, Sequence] | None = None):
    """``model`` as a checked ``onnx.ModelProto`` (see the module docstring).

    ``one_step`` (recurrent models; default: True for a CharRNN) makes a model of one
    time step.  ``input_shapes`` gives the shape of a graph's inputs by name (ints for
    fixed sizes, strings for dynamic ones) where it cannot be read from the weights.
    ExportError names the node or option that has no ONNX form.
    """
    onnx = _import_onnx()
    if not MIN_OPSET <= opset <= newest_opset():
        raise ExportError(f"opset {opset}: dagnet exports opsets {MIN_OPSET} to "
                          f"{newest_opset()} (onnx {onnx.__version__})")
    metadata = {"dagnet_version": __version__, "dagnet_model": type(model).__name__}
    if isinstance(model, RecurrentNetwork):
        one_step = _one_step(model, one_step)
        g = OnnxGraph(onnx, model.dtype, opset)
        _recurrent_network(g, model, one_step)
        metadata |= {"dagnet_config": json.dumps(model.config()),
                     "state_names": json.dumps(model.state_names)}
        if isinstance(model, CharRNN):
            metadata["vocabulary"] = model.vocabulary.chars
        doc = (f"dagnet {model.description}, {'one step' if one_step else 'sequences'}: "
               "symbols or X and the initial states in; logits and the final states out")
    elif isinstance(model, Graph):
        g = OnnxGraph(onnx, _graph_dtype(model), opset)
        _graph_model(g, model, dict(input_shapes or {}))
        doc = f"dagnet {getattr(model, 'description', 'graph')}: X (or pixels) in; prediction out"
    else:
        raise ExportError(f"a {type(model).__name__} has no ONNX export: GraphModels, "
                          "RecurrentNetworks and CharRNNs do")
    return g.model(type(model).__name__, doc, metadata)


def export_onnx(model: Model | Graph, path: str | os.PathLike, opset: int = DEFAULT_OPSET,
                *, one_step: bool | None = None,
                input_shapes: dict[str, Sequence] | None = None) -> Path:
    """Write ``model`` to ``path`` as an ONNX file (atomically); see ``to_onnx``.

    >>> import dagnet, dagnet.export
    >>> net = dagnet.fully_connected([4, 1], 2)
    >>> dagnet.export.export_onnx(net, "xor.onnx")  # doctest: +SKIP
    PosixPath('xor.onnx')
    """
    proto = to_onnx(model, opset, one_step=one_step, input_shapes=input_shapes)
    return atomic_write_bytes(path, proto.SerializeToString())


# -- checking an export in onnxruntime ----------------------------------------------------------

def example_inputs(model: Model | Graph, rng: np.random.Generator, batch: int = 3,
                   steps: int = 5, one_step: bool | None = None) -> dict[str, np.ndarray]:
    """Random inputs of ``model``'s ONNX export, by name, in its order: raw pixels in
    [0, 255], symbols in range, features and states from N(0, 1)."""
    if isinstance(model, RecurrentNetwork):
        shape = (1 if _one_step(model, one_step) else steps, batch)
        inputs = ({"symbols": rng.integers(0, model.n_inputs, shape)}
                  if model.inputs == "indices"
                  else {"X": rng.standard_normal(shape + (model.n_inputs,))})
        inputs |= {f"{cell.name}/{s}0": rng.standard_normal((batch, cell.n_hidden))
                   for cell in model.cells for s in cell.state_names}
    elif _mnist_preprocessing(model) is not None:
        inputs = {"pixels": rng.integers(0, 256, (batch, 784))}
    else:
        inputs = {_input_name(node): rng.standard_normal(
            (batch, _input_shape(node, _input_name(node))[1])) for node in model.input_nodes}
    dtype = model.dtype if isinstance(model, RecurrentNetwork) else _graph_dtype(model)
    return {k: v if k == "symbols" else v.astype(dtype) for k, v in inputs.items()}


def dagnet_outputs(model: Model | Graph, inputs: dict[str, np.ndarray],
                   one_step: bool | None = None) -> list[np.ndarray]:
    """What ``model``'s ONNX export should output for ``inputs`` (named as its inputs),
    computed by dagnet."""
    if isinstance(model, RecurrentNetwork):
        x, *state = inputs.values()
        logits, final = model.propagate(x, state)
        return [logits[0] if _one_step(model, one_step) else logits, *final]
    preprocessing = _mnist_preprocessing(model)
    if preprocessing is not None:
        return model.propagate([preprocessing.transform(inputs["pixels"], _graph_dtype(model))])
    return model.propagate([inputs[_input_name(node)] for node in model.input_nodes])


def onnxruntime_difference(model: Model | Graph, path: str | os.PathLike,
                           inputs: dict[str, np.ndarray], one_step: bool | None = None
                           ) -> float:
    """The largest |difference| between onnxruntime's outputs of the ONNX file ``path``
    and dagnet's (``dagnet_outputs``) for ``inputs``."""
    try:
        import onnxruntime
    except ImportError:
        raise ExportError("checking an export needs onnxruntime: pip install "
                          "'dagnet[onnx]' (or pip install onnxruntime)") from None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    theirs = session.run(None, inputs)
    ours = [np.asarray(value) for value in dagnet_outputs(model, inputs, one_step)]
    for out, a, b in zip(session.get_outputs(), ours, theirs):
        if a.shape != b.shape:
            raise ExportError(f"output {out.name!r}: onnxruntime gives shape {b.shape}, "
                              f"dagnet {a.shape}")
    return max(float(np.max(np.abs(a - b), initial=0.0)) for a, b in zip(ours, theirs))


# -- recurrent networks: ONNX's RNN, LSTM and GRU operators ------------------------------------

def _one_step(model: RecurrentNetwork, one_step: bool | None) -> bool:
    """One time step by default for a CharRNN (a sampling loop), sequences otherwise."""
    return isinstance(model, CharRNN) if one_step is None else one_step


def _recurrent_network(g: OnnxGraph, net: RecurrentNetwork, one_step: bool) -> None:
    time = 1 if one_step else "time"
    if net.inputs == "indices":
        x = g.input("symbols", [time, "batch"], indices=True)
    else:
        x = g.input("X", [time, "batch", net.n_inputs])
    g.fresh("logits")
    finals = [g.fresh(f"{name}_final") for name in net.state_names]
    states = [g.input(f"{cell.name}/{s}0", ["batch", cell.n_hidden])
              for cell in net.cells for s in cell.state_names]
    if net.E is not None:
        x = g.op("Gather", [g.constant(net.E.w, net.E.name), x], "embedding")
    elif net.inputs == "indices":
        values = g.constant(np.array([0, 1], dtype=net.dtype), "one_hot/values")
        x = g.op("OneHot", [x, g.ints([net.n_inputs], "one_hot/depth"), values], "one_hot")
    new_states = []
    for cell in net.cells:
        n = len(cell.state_names)
        x, final = _recurrent_layer(g, cell, x, states[:n])
        states, new_states = states[n:], new_states + final
    logits = g.op("Add", [g.op("MatMul", [x, g.constant(net.W_out.w, "output/W")],
                               "output/xW"), g.constant(net.b_out.w, "output/b")],
                  "output/logits")
    if one_step:
        logits = g.op("Squeeze", [logits, g.ints([0], "axis0")], "output/step_logits")
    g.output("logits", logits)
    for name, value in zip(finals, new_states):
        g.output(name, value)


def _recurrent_layer(g: OnnxGraph, cell: Cell, x: str, initial: list[str]
                     ) -> tuple[str, list[str]]:
    """One ONNX RNN/LSTM/GRU node: x (T, B, I) -> hidden states (T, B, H), final states."""
    order, name = ONNX_BLOCKS[cell.kind], cell.name
    b_h = getattr(cell, "b_h", None)
    recurrent_bias = np.zeros_like(cell.b.w) if b_h is None else b_h.w
    W = g.constant(reorder_blocks(cell.W.w, order).T[None], f"{name}/onnx_W")
    R = g.constant(reorder_blocks(cell.U.w, order).T[None], f"{name}/onnx_R")
    B = g.constant(np.concatenate([reorder_blocks(cell.b.w, order),
                                   reorder_blocks(recurrent_bias, order)])[None],
                   f"{name}/onnx_B")
    axis0 = g.ints([0], "axis0")
    states = [g.op("Unsqueeze", [s, axis0], f"{name}/initial_{k}") for k, s in enumerate(initial)]
    extra = {"linear_before_reset": 1} if cell.kind == "gru" else {}
    outputs = g.ops(RECURRENT_OPS[cell.kind], [x, W, R, B, "", *states], name,
                    1 + len(states), hidden_size=cell.n_hidden, **extra)
    hidden = g.op("Squeeze", [outputs[0], g.ints([1], "axis1")], f"{name}/hidden")
    return hidden, [g.op("Squeeze", [s, axis0], f"{name}/final_{k}")
                    for k, s in enumerate(outputs[1:])]


# -- graphs, node by node ------------------------------------------------------------------------

def _graph_dtype(graph: Graph) -> np.dtype:
    """The graph's weights' dtype; float32 (dagnet's default) for a graph without any."""
    return graph.parameter_nodes[0].w.dtype if graph.parameter_nodes else np.dtype(np.float32)


def _mnist_preprocessing(graph: Graph) -> Preprocessing | None:
    """The preprocessing saved with a model trained by ``dagnet mnist``."""
    if getattr(graph, "metadata", {}).get("task") != "mnist":
        return None
    return Preprocessing.from_model(graph.metadata.get("preprocessing") or {},
                                    graph.extra_tensors)


def _graph_model(g: OnnxGraph, graph: Graph, input_shapes: dict[str, Sequence]) -> None:
    preprocessing = _mnist_preprocessing(graph)
    names = ["prediction"] + [f"output{k}" for k in range(1, len(graph.output_nodes))]
    for name in names:
        g.fresh(name)
    order = post_order([node for node, _ in graph.output_nodes], parent_nodes)
    used = [node for node in graph.input_nodes if node in set(order)]  # in the graph's order
    if preprocessing is not None:
        pixels = _preprocess(g, preprocessing)
        feeds = {node.id: pixels for node in used}
    else:
        feeds = {node.id: g.input(_input_name(node), input_shapes.get(_input_name(node))
                                  or _input_shape(node, _input_name(node)),
                                  indices=_reads_indices(node)) for node in used}
    for name, value in zip(names, _convert_graph(g, order, graph.output_nodes, feeds)):
        g.output(name, value)


def _preprocess(g: OnnxGraph, preprocessing: Preprocessing) -> str:
    """Raw pixels (batch, 784) in; ((x - mean)⊙scale)(·components) out, in g's dtype."""
    x = g.input("pixels", ["batch", len(preprocessing.mean)])
    for op, what in (("Sub", "mean"), ("Mul", "scale"), ("MatMul", "components")):
        value = getattr(preprocessing, what)
        if value is not None:
            x = g.op(op, [x, g.constant(value.astype(g.dtype), f"preprocessing/{what}")],
                     f"preprocessing/{op.lower()}")
    return x


def _input_name(node: InputNode) -> str:
    return node.name or f"input{node.id}"


def _input_shape(node: InputNode, name: str) -> list:
    """(batch, width) of an input that a product with weights reads."""
    widths = [w.shape[0] for w in _product_weights(node)]
    for child, _ in node.children[0]:
        if type(child) is AddBiasNode:
            widths += [w.shape[0] - 1 for w in _product_weights(child)]
    if widths:
        return ["batch", widths[0]]
    raise ExportError(f"cannot tell the shape of the input {node.describe()}: give it as "
                      f"input_shapes={{{name!r}: ('batch', ...)}}")


def _product_weights(node: Node) -> list[np.ndarray]:
    """The weights W of the products x·W (+ b) that read ``node``'s output as x."""
    return [child.parents[1][0].w for child, i_input in node.children[0]
            if type(child) in (LinearNode, MultiplicationNode) and i_input == 0
            and isinstance(child.parents[1][0], ParameterNode)]


def _reads_indices(node: InputNode) -> bool:
    return any(type(child) in (OneHotLinearNode, EmbeddingNode) and i_input == 0
               for child, i_input in node.children[0])


def _convert_graph(g: OnnxGraph, order: list[Node], output_nodes: list[tuple[Node, int]],
                   feeds: dict[int, str]) -> list[str]:
    """The ONNX values of ``output_nodes``, the nodes converted in topological ``order``;
    ``feeds`` gives the value of every InputNode by its id."""
    values: dict[tuple[int, int], str] = {}
    for node in order:
        if isinstance(node, InputNode):
            if node.id not in feeds:
                raise ExportError(f"{node.describe()} is not one of the graph's inputs")
            outputs = [feeds[node.id]]
        elif isinstance(node, ParameterNode):
            outputs = [g.constant(node.w, node.name or f"parameter{node.id}")]
        else:
            convert = CONVERTERS.get(type(node))
            if convert is None:
                known = ", ".join(sorted(cls.__name__ for cls in CONVERTERS))
                raise ExportError(f"{node.describe()}: no ONNX form for a "
                                  f"{type(node).__name__} (the nodes exported: {known})")
            outputs = convert(g, node, [values[(p.id, i)] for p, i in node.parents])
        values.update(((node.id, i), value) for i, value in enumerate(outputs))
    return [values[(node.id, i)] for node, i in output_nodes]


# -- one converter per node type: (graph, node, its inputs' values) -> its outputs' values -------

Converter = Callable[[OnnxGraph, Node, list[str]], list[str]]
CONVERTERS: dict[type[Node], Converter] = {}


def converts(*classes: type[Node]) -> Callable[[Converter], Converter]:
    """Decorator: the function converts nodes of ``classes`` (exactly these types)."""
    def register(convert: Converter) -> Converter:
        CONVERTERS.update(dict.fromkeys(classes, convert))
        return convert
    return register


def _hint(node: Node) -> str:
    return node.name or f"{type(node).__name__}{node.id}"


ONE_OPERATOR = {IdentityNode: "Identity", SigmoidNode: "Sigmoid", TanhNode: "Tanh",
               ReluNode: "Relu", AdditionNode: "Add", SubtractionNode: "Sub",
               EWMultiplicationNode: "Mul", SumNode: "Sum", MultiplicationNode: "MatMul",
               LinearNode: "Gemm"}


@converts(*ONE_OPERATOR)
def _one_operator(g, node, x):
    return [g.op(ONE_OPERATOR[type(node)], x, _hint(node))]


@converts(SoftmaxNode)
def _softmax(g, node, x):
    return [g.op("Softmax", x, _hint(node), axis=-1)]


@converts(ScalarMultiplicationNode)
def _scale(g, node, x):
    return [g.op("Mul", [x[0], g.scalar(node.scalar)], _hint(node))]


@converts(Norm2Node)
def _norm2(g, node, x):
    return [g.op("ReduceSumSquare", x, _hint(node), keepdims=0)]


@converts(AddBiasNode)
def _add_bias(g, node, x):
    # (1 | x): one column of ones padded in front of x's columns.
    return [g.op("Pad", [x[0], g.ints([0, 1, 0, 0], "pads"), g.scalar(1, "one")],
                 _hint(node))]


@converts(SelectionNode)
def _select(g, node, x):
    return [g.op("Slice", [x[0], g.ints([node.start]), g.ints([node.end]), g.ints([1])],
                 _hint(node))]


@converts(ConcatenationNode)
def _concatenate(g, node, x):
    return [g.op("Concat", x, _hint(node), axis=1)]


@converts(SplitNode)
def _split_columns(g, node, x):
    return g.ops("Split", [x[0], g.ints(node.sizes, "sizes")], _hint(node), len(node.sizes),
                 axis=1)


@converts(UnstackNode)
def _unstack(g, node, x):
    hint, axis0 = _hint(node), g.ints([0], "axis0")
    steps = g.ops("Split", [x[0], g.ints([1] * node.length, "ones")], f"{hint}/split",
                  node.length, axis=0)
    return [g.op("Squeeze", [step, axis0], hint) for step in steps]


@converts(StackNode)
def _stack(g, node, x):
    hint, axis0 = _hint(node), g.ints([0], "axis0")
    return [g.op("Concat", [g.op("Unsqueeze", [step, axis0], f"{hint}/step") for step in x],
                 hint, axis=0)]


@converts(SequenceLinearNode)
def _sequence_linear(g, node, x):
    xs, w, b = x
    return [g.op("Add", [g.op("MatMul", [xs, w], f"{_hint(node)}/xW"), b], _hint(node))]


@converts(MultiplyAddNode)
def _multiply_add(g, node, x):
    a, xs, w = x
    return [g.op("Add", [a, g.op("MatMul", [xs, w], f"{_hint(node)}/xW")], _hint(node))]


@converts(OneHotLinearNode, EmbeddingNode)
def _gather_rows(g, node, x):
    hint = _hint(node)
    rows = g.op("Gather", [x[1], g.as_indices(x[0], hint)], f"{hint}/rows", axis=0)
    return [g.op("Add", [rows, x[2]], hint) if len(x) == 3 else rows]


@converts(LSTMStepNode)
def _lstm_step(g, node, x):
    return list(_lstm_gates(g, x[0], x[1], _hint(node)))


def _lstm_gates(g: OnnxGraph, c_prev: str, z: str, hint: str) -> tuple[str, str]:
    """c, h of an LSTM step from c_prev and z, gate columns [i | f | o | g]."""
    i, f, o, cand = g.split(z, 4, f"{hint}/gates")
    i, f, o = (g.op("Sigmoid", [v], f"{hint}/{k}") for v, k in ((i, "i"), (f, "f"), (o, "o")))
    cand = g.op("Tanh", [cand], f"{hint}/g")
    c = g.op("Add", [g.op("Mul", [f, c_prev], f"{hint}/fc"), g.op("Mul", [i, cand], f"{hint}/ig")],
             f"{hint}/c")
    return c, g.op("Mul", [o, g.op("Tanh", [c], f"{hint}/tanh_c")], f"{hint}/h")


@converts(GRUStepNode)
def _gru_step(g, node, x):
    hint = _hint(node)
    h_prev, xz, hz = x
    xr, xu, xn = g.split(xz, 3, f"{hint}/x_gates")
    hr, hu, hn = g.split(hz, 3, f"{hint}/h_gates")
    r = g.op("Sigmoid", [g.op("Add", [xr, hr], f"{hint}/zr")], f"{hint}/r")
    u = g.op("Sigmoid", [g.op("Add", [xu, hu], f"{hint}/zu")], f"{hint}/u")
    reset = g.op("Mul", [r, hn], f"{hint}/rh")
    n = g.op("Tanh", [g.op("Add", [xn, reset], f"{hint}/zn")], f"{hint}/n")
    keep = g.op("Mul", [u, g.op("Sub", [h_prev, n], f"{hint}/h_minus_n")], f"{hint}/keep")
    return [g.op("Add", [n, keep], hint)]


@converts(LSTMLayerNode)
def _lstm_layer(g, node, x):
    """A Scan over time whose body is one LSTM step: z_t = xz_t + h·U."""
    hint = _hint(node)
    xz, h0, c0, u = x
    body = g.subgraph()
    h = body.input(f"{hint}/h_prev", ["batch", "hidden"])
    c = body.input(f"{hint}/c_prev", ["batch", "hidden"])
    xz_t = body.input(f"{hint}/xz_t", ["batch", "gates"])
    z = body.op("Add", [xz_t, body.op("MatMul", [h, u], f"{hint}/hU")], f"{hint}/z")
    c, h = _lstm_gates(body, c, z, f"{hint}/step")
    for name, value in (("h_next", h), ("c_next", c), ("h_t", h)):
        body.output(body.fresh(f"{hint}/{name}"), value, rank=2)
    h_last, c_last, hs = g.ops("Scan", [h0, c0, xz], hint, 3, num_scan_inputs=1,
                               body=body.graph(f"{hint}/step"))
    return [hs, h_last, c_last]


# -- costs: inputs (expected y, predicted), a scalar summed over everything ----------------------

def _total(g: OnnxGraph, x: str, hint: str, negate: bool = False) -> str:
    total = g.op("ReduceSum", [x], f"{hint}/sum" if negate else hint, keepdims=0)
    return g.op("Neg", [total], hint) if negate else total


def _clipped(g: OnnxGraph, p: str, hint: str) -> str:
    """p inside [eps, 1 - eps] of the dtype, as dagnet's probability costs clip it."""
    eps = np.finfo(g.dtype).eps
    return g.op("Clip", [p, g.scalar(eps, "eps"), g.scalar(1 - eps, "one_minus_eps")],
                f"{hint}/clipped")


@converts(SquaredErrorNode)
def _squared_error(g, node, x):
    y, p = x
    return [g.op("ReduceSumSquare", [g.op("Sub", [p, y], f"{_hint(node)}/error")], _hint(node),
                 keepdims=0)]


@converts(CategoricalCrossEntropyNode)
def _categorical_cross_entropy(g, node, x):
    hint = _hint(node)
    log_p = g.op("Log", [_clipped(g, x[1], hint)], f"{hint}/log_p")
    return [_total(g, g.op("Mul", [x[0], log_p], f"{hint}/y_log_p"), hint, negate=True)]


@converts(BinaryCrossEntropyNode)
def _binary_cross_entropy(g, node, x):
    hint = _hint(node)
    y, p = x[0], _clipped(g, x[1], hint)
    one = g.scalar(1, "one")
    log_p = g.op("Log", [p], f"{hint}/log_p")
    log_q = g.op("Log", [g.op("Sub", [one, p], f"{hint}/q")], f"{hint}/log_q")
    both = g.op("Add", [g.op("Mul", [y, log_p], f"{hint}/y_log_p"),
                        g.op("Mul", [g.op("Sub", [one, y], f"{hint}/not_y"), log_q],
                             f"{hint}/not_y_log_q")], f"{hint}/log_likelihood")
    return [_total(g, both, hint, negate=True)]


@converts(SoftmaxCrossEntropyNode)
def _softmax_cross_entropy(g, node, x):
    hint = _hint(node)
    log_p = g.op("LogSoftmax", [x[1]], f"{hint}/log_softmax", axis=-1)
    return [_total(g, g.op("Mul", [x[0], log_p], f"{hint}/y_log_p"), hint, negate=True)]


@converts(SigmoidBinaryCrossEntropyNode)
def _sigmoid_cross_entropy(g, node, x):
    # max(z, 0) - z·y + log(1 + e^-|z|): never overflows, as dagnet computes it.
    hint = _hint(node)
    y, z = x
    tail = g.op("Softplus", [g.op("Neg", [g.op("Abs", [z], f"{hint}/abs")], f"{hint}/minus_abs")],
                f"{hint}/softplus")
    terms = g.op("Add", [g.op("Sub", [g.op("Relu", [z], f"{hint}/relu"),
                                      g.op("Mul", [z, y], f"{hint}/zy")], f"{hint}/linear"),
                         tail], f"{hint}/terms")
    return [_total(g, terms, hint)]
