"""ONNX export: a dagnet model as a standard ONNX graph that any runtime runs.

``export_onnx(model, path, opset=17)`` writes the file; ``to_onnx`` returns the
``onnx.ModelProto``; ``example_inputs``, ``dagnet_outputs`` and
``onnxruntime_difference`` check an export.  What each kind of model becomes:

- a GraphModel (``fully_connected``, either formulation) or any Graph: its outputs'
  nodes, one by one, through the converters of ``dagnet.export.onnx_nodes``; inputs
  ``X``... (batch, features; other shapes through ``input_shapes``), outputs
  ``prediction`` (the first output), then ``output1``...  A model trained by
  ``dagnet mnist`` (``metadata["task"] == "mnist"``) takes raw pixels instead: input
  ``pixels`` (batch, 784), then (x - mean)⊙scale (·components when whitened), a
  reshape to (batch, 1, 28, 28) for a convolutional net (its metadata's
  ``input_shape``), the net.  The graph is exported in its inference form (batch
  normalisation with its running statistics, dropout as the identity).
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
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dagnet.data.mnist import Preprocessing
from dagnet.errors import ExportError
from dagnet.export.gates import ONNX_BLOCKS, reorder_blocks
from dagnet.export.onnx_nodes import INDEX_INPUTS, OnnxGraph, convert_graph
from dagnet.files import atomic_write_bytes
from dagnet.graph import Graph
from dagnet.models import Model
from dagnet.models.charrnn import CharRNN
from dagnet.models.rnn import Cell, RecurrentNetwork
from dagnet.node import InputNode, Node, ParameterNode, parent_nodes, post_order
from dagnet.nodes import AddBiasNode, LinearNode, MultiplicationNode
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
        X = preprocessing.transform(inputs["pixels"], _graph_dtype(model))
        values = [X.reshape(len(X), *_image_shape(model)) if _image_shape(model) else X]
    else:
        values = [inputs[_input_name(node)] for node in model.input_nodes]
    with model.inference():  # the export is the inference form (running statistics)
        return model.propagate(values)


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
        pixels = _preprocess(g, preprocessing, _image_shape(graph))
        feeds = {node.id: pixels for node in used}
    else:
        feeds = {node.id: g.input(_input_name(node), input_shapes.get(_input_name(node))
                                  or _input_shape(node, _input_name(node)),
                                  indices=_reads_indices(node)) for node in used}
    for name, value in zip(names, convert_graph(g, order, graph.output_nodes, feeds)):
        g.output(name, value)


def _image_shape(graph: Graph) -> list[int] | None:
    """The (channels, height, width) a convolutional MNIST model reads its digits as."""
    return getattr(graph, "metadata", {}).get("input_shape")


def _preprocess(g: OnnxGraph, preprocessing: Preprocessing, shape: list[int] | None) -> str:
    """Raw pixels (batch, 784) in; ((x - mean)⊙scale)(·components) out, in g's dtype,
    reshaped to (batch, *shape) for a model that reads images."""
    x = g.input("pixels", ["batch", len(preprocessing.mean)])
    for op, what in (("Sub", "mean"), ("Mul", "scale"), ("MatMul", "components")):
        value = getattr(preprocessing, what)
        if value is not None:
            x = g.op(op, [x, g.constant(value.astype(g.dtype), f"preprocessing/{what}")],
                     f"preprocessing/{op.lower()}")
    if shape:
        x = g.op("Reshape", [x, g.ints([-1, *shape], "preprocessing/image_shape")],
                 "preprocessing/reshape")
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
    return any(INDEX_INPUTS.get(type(child)) == i_input for child, i_input in node.children[0])


