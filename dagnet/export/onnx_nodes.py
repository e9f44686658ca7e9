"""ONNX graphs built node by node: ``OnnxGraph`` (nodes, initializers, inputs and
outputs of one dtype) and one converter per dagnet node type, registered by
``@converts`` at its definition: every node type a model file can hold (dagnet.nodes)
maps to standard ONNX operators, in any opset from 13 on.

A converter reads the ONNX values of a node's inputs and returns those of its outputs,
in the node's order.  Shapes stay dynamic: sizes that the weights do not fix (batch,
time, heads' width) are read from the values' shapes inside the graph.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from dagnet.errors import ExportError
from dagnet.node import InputNode, Node, ParameterNode
from dagnet.nodes import (
    AddBiasNode,
    AdditionNode,
    AvgPool2DNode,
    AxisMeanNode,
    AxisSoftmaxNode,
    AxisSplitNode,
    AxisSumNode,
    BatchMatMulNode,
    BatchNormNode,
    BinaryCrossEntropyNode,
    BroadcastAddNode,
    BroadcastMultiplyNode,
    CategoricalCrossEntropyNode,
    CausalMaskNode,
    ConcatenationNode,
    Conv2DNode,
    DropoutNode,
    EmbeddingNode,
    EWMultiplicationNode,
    FlattenNode,
    GELUNode,
    GlobalAveragePoolNode,
    GRULayerNode,
    GRUStepNode,
    IdentityNode,
    LayerNormNode,
    LinearNode,
    LSTMLayerNode,
    LSTMStepNode,
    MaxPool2DNode,
    MultiHeadAttentionNode,
    MultiplicationNode,
    MultiplyAddNode,
    Norm2Node,
    OneHotLinearNode,
    PositionEmbeddingNode,
    ReluNode,
    ReshapeNode,
    RNNLayerNode,
    ScalarMultiplicationNode,
    SelectionNode,
    SequenceLinearNode,
    SigmoidBinaryCrossEntropyNode,
    SigmoidNode,
    SoftmaxCrossEntropyNode,
    SoftmaxNode,
    SparseSoftmaxCrossEntropyNode,
    SplitNode,
    SquaredErrorNode,
    StackNode,
    SubtractionNode,
    SumNode,
    TanhNode,
    TransposeNode,
    UnstackNode,
)
from dagnet.version import __version__

# Which input of a node reads symbol indices (int64 in ONNX).
INDEX_INPUTS = {OneHotLinearNode: 0, EmbeddingNode: 0, SparseSoftmaxCrossEntropyNode: 0}


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
        """An int64 constant: a list of sizes or axes, or a scalar."""
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

    def reduce(self, op_type: str, x: str, axes: Sequence[int], hint: str,
               keepdims: bool = False) -> str:
        """A reduction over ``axes``: its axes are an input from opset 18 on (from 13 on
        for ReduceSum), an attribute before."""
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, [x, self.ints(list(axes), "axes")], hint,
                           keepdims=int(keepdims))
        return self.op(op_type, [x], hint, axes=list(axes), keepdims=int(keepdims))

    def size(self, x: str, axis: int, hint: str) -> str:
        """The size of ``x`` along ``axis``, as a 1-D int64 tensor of one entry."""
        end = axis + 1 if axis != -1 else np.iinfo(np.int64).max
        return self.op("Slice", [self.op("Shape", [x], f"{hint}/shape"), self.ints([axis]),
                                 self.ints([end])], f"{hint}/size")

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



def convert_graph(g: OnnxGraph, order: list[Node], output_nodes: list[tuple[Node, int]],
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
    return [_gru_gates(g, *x, _hint(node))]


def _gru_gates(g: OnnxGraph, h_prev: str, xz: str, hz: str, hint: str) -> str:
    """h of a GRU step (reset gate after the product), gate columns [r | u | n]."""
    xr, xu, xn = g.split(xz, 3, f"{hint}/x_gates")
    hr, hu, hn = g.split(hz, 3, f"{hint}/h_gates")
    r = g.op("Sigmoid", [g.op("Add", [xr, hr], f"{hint}/zr")], f"{hint}/r")
    u = g.op("Sigmoid", [g.op("Add", [xu, hu], f"{hint}/zu")], f"{hint}/u")
    reset = g.op("Mul", [r, hn], f"{hint}/rh")
    n = g.op("Tanh", [g.op("Add", [xn, reset], f"{hint}/zn")], f"{hint}/n")
    keep = g.op("Mul", [u, g.op("Sub", [h_prev, n], f"{hint}/h_minus_n")], f"{hint}/keep")
    return g.op("Add", [n, keep], hint)


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


@converts(GRULayerNode, RNNLayerNode)
def _one_state_layer(g, node, x):
    """A Scan over time whose body is one GRU or plain RNN step from hz = h·U."""
    hint = _hint(node)
    xz, h0, u = x
    body = g.subgraph()
    h = body.input(f"{hint}/h_prev", ["batch", "hidden"])
    xz_t = body.input(f"{hint}/xz_t", ["batch", "gates"])
    hz = body.op("MatMul", [h, u], f"{hint}/hU")
    if isinstance(node, GRULayerNode):
        h_next = _gru_gates(body, h, xz_t, hz, f"{hint}/step")
    else:
        h_next = body.op("Tanh", [body.op("Add", [xz_t, hz], f"{hint}/z")], f"{hint}/h")
    for name in ("h_next", "h_t"):
        body.output(body.fresh(f"{hint}/{name}"), h_next, rank=2)
    h_last, hs = g.ops("Scan", [h0, xz], hint, 2, num_scan_inputs=1,
                       body=body.graph(f"{hint}/step"))
    return [hs, h_last]


# -- images (B, C, H, W); mode-dependent nodes export their inference form -----------------------

@converts(Conv2DNode)
def _conv(g, node, x):
    (ph, pw) = node.padding
    return [g.op("Conv", x, _hint(node), strides=list(node.stride), pads=[ph, pw, ph, pw])]


@converts(MaxPool2DNode, AvgPool2DNode)
def _pool(g, node, x):
    op = "MaxPool" if isinstance(node, MaxPool2DNode) else "AveragePool"
    return [g.op(op, x, _hint(node), kernel_shape=list(node.kernel), strides=list(node.stride))]


@converts(GlobalAveragePoolNode, FlattenNode)
def _flatten(g, node, x):
    hint = _hint(node)
    flat = x[0] if isinstance(node, FlattenNode) else g.op("GlobalAveragePool", x,
                                                           f"{hint}/pool")
    return [g.op("Flatten", [flat], hint, axis=1)]


@converts(BatchNormNode)
def _batch_norm(g, node, x):
    """Inference: the running statistics, kept in the file as constants."""
    hint = _hint(node)
    mean = g.constant(node.running_mean.astype(g.dtype), f"{hint}/running_mean")
    var = g.constant(node.running_var.astype(g.dtype), f"{hint}/running_var")
    return [g.op("BatchNormalization", [*x, mean, var], hint, epsilon=node.eps)]


@converts(DropoutNode)
def _dropout(g, node, x):
    return [g.op("Identity", x, _hint(node))]


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


@converts(SparseSoftmaxCrossEntropyNode)
def _sparse_softmax_cross_entropy(g, node, x):
    hint = _hint(node)
    log_p = g.op("LogSoftmax", [x[1]], f"{hint}/log_softmax", axis=-1)
    index = g.op("Unsqueeze", [g.as_indices(x[0], hint), g.ints([-1], "last_axis")],
                 f"{hint}/index")
    picked = g.op("GatherElements", [log_p, index], f"{hint}/log_p", axis=-1)
    return [_total(g, picked, hint, negate=True)]


# -- tensors of any rank -------------------------------------------------------------------------

@converts(ReshapeNode)
def _reshape(g, node, x):
    # dagnet's rule is ONNX's: 0 keeps the input's size on that axis, one -1 is inferred.
    return [g.op("Reshape", [x[0], g.ints(node.shape, "shape")], _hint(node))]


@converts(TransposeNode)
def _transpose(g, node, x):
    return [g.op("Transpose", x, _hint(node), perm=list(node.axes))]


@converts(BatchMatMulNode)
def _batch_matmul(g, node, x):
    # Einsum swaps the last two axes whatever the rank; MatMul then shares a 2-D b.
    hint = _hint(node)
    a, b = (g.op("Einsum", [v], f"{hint}/{s}_t", equation="...ij->...ji") if swap else v
            for v, s, swap in zip(x, "ab", (node.transpose_a, node.transpose_b)))
    return [g.op("MatMul", [a, b], hint)]


@converts(AxisSumNode, AxisMeanNode)
def _axis_reduction(g, node, x):
    op_type = "ReduceMean" if type(node) is AxisMeanNode else "ReduceSum"
    return [g.reduce(op_type, x[0], [node.axis], _hint(node), node.keepdims)]


@converts(AxisSoftmaxNode)
def _axis_softmax(g, node, x):
    return [g.op("Softmax", x, _hint(node), axis=node.axis)]


@converts(AxisSplitNode)
def _axis_split(g, node, x):
    return g.ops("Split", [x[0], g.ints(node.sizes, "sizes")], _hint(node), len(node.sizes),
                 axis=node.axis)


@converts(BroadcastAddNode, BroadcastMultiplyNode)
def _broadcast(g, node, x):
    # dagnet's explicit broadcasting is NumPy's, which ONNX's Add and Mul follow.
    return [g.op("Add" if type(node) is BroadcastAddNode else "Mul", x, _hint(node))]


def _future(g: OnnxGraph, scores: str, hint: str) -> str:
    """(T, T) booleans, True where key j > query i, for the scores (…, T, T)."""
    size = g.op("Squeeze", [g.size(scores, -1, hint), g.ints([0], "axis0")], f"{hint}/T")
    steps = g.op("Range", [g.ints(0, "zero"), size, g.ints(1, "one")], f"{hint}/steps")
    rows = g.op("Unsqueeze", [steps, g.ints([1], "axis1")], f"{hint}/queries")
    return g.op("Greater", [steps, rows], f"{hint}/future")


@converts(CausalMaskNode)
def _causal_mask(g, node, x):
    hint = _hint(node)
    return [g.op("Where", [_future(g, x[0], hint), g.scalar(node.fill, "fill"), x[0]], hint)]


# -- the transformer's nodes ---------------------------------------------------------------------

@converts(LayerNormNode)
def _layer_norm(g, node, x):
    # Composed (LayerNormalization is opset 17's): (x - μ)/√(σ² + eps) ⊙ g (+ b if given).
    hint = _hint(node)
    centred = g.op("Sub", [x[0], g.reduce("ReduceMean", x[0], [-1], f"{hint}/mean", True)],
                   f"{hint}/centred")
    variance = g.reduce("ReduceMean", g.op("Mul", [centred, centred], f"{hint}/squares"), [-1],
                        f"{hint}/variance", True)
    std = g.op("Sqrt", [g.op("Add", [variance, g.scalar(node.eps, "eps")], f"{hint}/var_eps")],
               f"{hint}/std")
    if len(x) == 2:
        return [g.op("Mul", [g.op("Div", [centred, std], f"{hint}/normalized"), x[1]], hint)]
    scaled = g.op("Mul", [g.op("Div", [centred, std], f"{hint}/normalized"), x[1]],
                  f"{hint}/scaled")
    return [g.op("Add", [scaled, x[2]], hint)]


@converts(GELUNode)
def _gelu(g, node, x):
    # Composed (Gelu is opset 20's): x·Φ(x) = ½x(1 + erf(x/√2)), or GPT-2's tanh form.
    hint, x = _hint(node), x[0]
    if node.approximate == "none":
        inner = g.op("Erf", [g.op("Mul", [x, g.scalar(1 / math.sqrt(2))], f"{hint}/scaled")],
                     f"{hint}/erf")
    else:
        cube = g.op("Mul", [g.op("Mul", [x, x], f"{hint}/x2"), x], f"{hint}/x3")
        u = g.op("Add", [x, g.op("Mul", [cube, g.scalar(0.044715)], f"{hint}/cubic")],
                 f"{hint}/u0")
        inner = g.op("Tanh", [g.op("Mul", [u, g.scalar(math.sqrt(2 / math.pi))], f"{hint}/u")],
                     f"{hint}/tanh")
    half = g.op("Mul", [x, g.scalar(0.5, "half")], f"{hint}/half_x")
    return [g.op("Mul", [half, g.op("Add", [inner, g.scalar(1, "one")], f"{hint}/1+")], hint)]


@converts(PositionEmbeddingNode)
def _position_embedding(g, node, x):
    hint = _hint(node)
    rows = g.op("Slice", [x[1], g.ints([0]), g.size(x[0], 1, hint), g.ints([0])],
                f"{hint}/positions")
    return [g.op("Add", [x[0], rows], hint)]


@converts(MultiHeadAttentionNode)
def _attention(g, node, x):
    """Heads (B, H, T, D) from (B, T, C); softmax(Q·Kᵀ/√D, future masked)·V; joined back."""
    hint, shape = _hint(node), g.ints([0, 0, node.n_heads, -1], "heads_shape")
    q, k, v = (g.op("Transpose", [g.op("Reshape", [a, shape], f"{hint}/{s}_split")],
                    f"{hint}/{s}_heads", perm=[0, 2, 1, 3])
               for a, s in zip(x, "qkv"))
    scores = g.op("MatMul", [q, g.op("Transpose", [k], f"{hint}/k_t", perm=[0, 1, 3, 2])],
                  f"{hint}/scores")
    width = g.op("Cast", [g.size(q, -1, hint)], f"{hint}/D", to=g.float_type)
    scale = g.op("Reciprocal", [g.op("Sqrt", [width], f"{hint}/sqrt_D")], f"{hint}/scale")
    scores = g.op("Mul", [scores, scale], f"{hint}/scaled")
    if node.causal:
        scores = g.op("Where", [_future(g, scores, hint), g.scalar(-np.inf, "minus_inf"),
                                scores], f"{hint}/masked")
    weights = g.op("Softmax", [scores], f"{hint}/weights", axis=-1)
    mixed = g.op("MatMul", [weights, v], f"{hint}/mixed")
    joined = g.op("Transpose", [mixed], f"{hint}/joined", perm=[0, 2, 1, 3])
    return [g.op("Reshape", [joined, g.ints([0, 0, -1], "joined_shape")], hint)]
