"""Recurrent networks unfolded through time: RNN, LSTM and GRU cells, ``unroll_layer``
and ``RecurrentNetwork``.

A cell holds the weights of one layer, one ParameterNode each: W:(I, G·H) for the
inputs, U:(H, G·H) for the previous hidden state and b:(G·H,), the G gate blocks
side by side (LSTM [i | f | o | g], GRU [r | u | n]).  Unrolling a layer over T steps
adds the nodes of every step and connects them all to those same ParameterNodes,
so the gradients of the T steps add up in one place (dJ/dU = Σ_t h_{t-1}ᵀ·dJ/dz_t)
and an optimizer keeps one state per weight.

Fused unrolling (the default) projects the inputs of all steps with one product
(or a row gather for symbol indices), then adds h_{t-1}·U for all the gates at once
and runs one fused step node per step.  ``fused=False`` composes every step from
the tutorial's elementary nodes (LinearNode, SplitNode, SigmoidNode, TanhNode,
EWMultiplicationNode...): the reference the fused path is tested against.

The initial states are graph inputs and the final states graph outputs, so state
can be carried from one chunk of a sequence to the next (truncated
backpropagation: the carried state is a value, not a path for gradients).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dagnet.errors import DataError, ModelFileError
from dagnet.graph import Graph
from dagnet.io import WEIGHT_DTYPES, ModelFile, assign_weights
from dagnet.limits import Limits
from dagnet.models.base import Model, as_array, class_targets, register_model
from dagnet.models.initializers import glorot_uniform
from dagnet.node import InputNode, Node, ParameterNode
from dagnet.nodes import (
    AdditionNode,
    EmbeddingNode,
    EWMultiplicationNode,
    GRULayerNode,
    GRUStepNode,
    LinearNode,
    LSTMLayerNode,
    LSTMStepNode,
    MultiplicationNode,
    MultiplyAddNode,
    OneHotLinearNode,
    RNNLayerNode,
    SequenceLinearNode,
    SigmoidNode,
    SoftmaxCrossEntropyNode,
    SplitNode,
    StackNode,
    SubtractionNode,
    TanhNode,
    UnstackNode,
)
from dagnet.nodes.activations import softmax
from dagnet.schema import (
    about,
    boolean,
    check_weights,
    choice,
    json_object,
    list_of,
    number,
    show,
    up_to,
)
from dagnet.training import ArrayBatches

INPUT_KINDS = ("dense", "indices")

Pair = tuple[Node, int]


def orthogonal(rng: np.random.Generator, n: int, dtype=np.float64) -> np.ndarray:
    """A random (n, n) orthogonal matrix (QR of a Gaussian, signs fixed so it is uniform)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * np.sign(np.diag(r))).astype(dtype)


class Cell:
    """The weights of one recurrent layer and the nodes of one step.

    ``step(xz_t, state, t)`` adds the fused nodes of step t from the projected input
    xz_t = x_t·W + b; ``step_composed(x_t, state, t)`` adds the same step built from
    elementary nodes, from the raw input x_t.  Both return the new state, a list of
    ``(node, i_output)`` in ``state_names`` order (the hidden state h first).
    """

    kind = ""
    n_blocks = 1
    state_names: tuple[str, ...] = ("h",)

    def __init__(self, n_inputs: int, n_hidden: int, rng: np.random.Generator | None = None,
                 dtype=np.float64, name: str = "layer1"):
        if n_inputs < 1 or n_hidden < 1:
            raise ValueError(f"a {self.kind} cell needs positive sizes, got n_inputs="
                             f"{n_inputs}, n_hidden={n_hidden}")
        rng = np.random.default_rng(0) if rng is None else rng
        self.n_inputs, self.n_hidden, self.name = int(n_inputs), int(n_hidden), name
        blocks = range(self.n_blocks)
        # Glorot per gate block (fan-out H, not G·H); orthogonal recurrent blocks keep
        # h_{t-1}·U from shrinking or growing the state at the start of training.
        W = np.concatenate([glorot_uniform(rng, n_inputs, n_hidden, dtype) for _ in blocks],
                           axis=1)
        U = np.concatenate([orthogonal(rng, n_hidden, dtype) for _ in blocks], axis=1)
        self.W = ParameterNode(W, name=f"{name}/W")
        self.U = ParameterNode(U, name=f"{name}/U")
        self.b = ParameterNode(self.initial_bias(dtype), name=f"{name}/b")

    @property
    def parameters(self) -> list[ParameterNode]:
        return [self.W, self.U, self.b]

    def initial_bias(self, dtype) -> np.ndarray:
        return np.zeros(self.n_blocks * self.n_hidden, dtype=dtype)

    def project(self, x: Node | Pair, inputs: str = "dense") -> Node:
        """x·W + b for every step as one product: x:(T, B, I) -> (T, B, G·H); for
        ``inputs="indices"`` x:(T, B) symbol indices and a row gather of W."""
        cls = OneHotLinearNode if inputs == "indices" else SequenceLinearNode
        return cls([x, self.W, self.b], name=f"{self.name}/input_projection")

    def step(self, xz_t: Pair, state: list[Pair], t: int) -> list[Pair]:
        raise NotImplementedError

    def step_composed(self, x_t: Pair, state: list[Pair], t: int) -> list[Pair]:
        raise NotImplementedError

    def _input_and_recurrent(self, x_t: Pair, h: Pair, t: int) -> tuple[Node, Node]:
        """x_t·W + b and h_{t-1}·U as two nodes (the composed cells' first step)."""
        return (LinearNode([x_t, self.W, self.b], name=f"{self.name}/xW{t}"),
                MultiplicationNode([h, self.U], name=f"{self.name}/hU{t}"))


class RNNCell(Cell):
    """The fully-connected recurrent cell: h_t = tanh(x_t·W + h_{t-1}·U + b)."""

    kind = "rnn"

    def step(self, xz_t, state, t):
        z = MultiplyAddNode([xz_t, state[0], self.U], name=f"{self.name}/z{t}")
        return [(TanhNode([z], name=f"{self.name}/h{t}"), 0)]

    def step_composed(self, x_t, state, t):
        xw, hu = self._input_and_recurrent(x_t, state[0], t)
        z = AdditionNode([xw, hu], name=f"{self.name}/z{t}")
        return [(TanhNode([z], name=f"{self.name}/h{t}"), 0)]


class LSTMCell(Cell):
    """LSTM: z = x_t·W + h_{t-1}·U + b, columns [i | f | o | g];
    c_t = σ(f)⊙c_{t-1} + σ(i)⊙tanh(g), h_t = σ(o)⊙tanh(c_t).  State (h, c).

    The forget-gate bias starts at 1, so the cell remembers by default early in training.
    """

    kind = "lstm"
    n_blocks = 4
    state_names = ("h", "c")

    def initial_bias(self, dtype):
        b = np.zeros(4 * self.n_hidden, dtype=dtype)
        b[self.n_hidden:2 * self.n_hidden] = 1
        return b

    def step(self, xz_t, state, t):
        h, c = state
        z = MultiplyAddNode([xz_t, h, self.U], name=f"{self.name}/z{t}")
        cell = LSTMStepNode([c, z], name=f"{self.name}/step{t}")
        return [(cell, 1), (cell, 0)]

    def step_composed(self, x_t, state, t):
        h, c = state
        name = f"{self.name}/"
        xw, hu = self._input_and_recurrent(x_t, h, t)
        z = AdditionNode([xw, hu], name=f"{name}z{t}")
        blocks = SplitNode([z], [self.n_hidden] * 4, name=f"{name}gates{t}")
        i = SigmoidNode([(blocks, 0)], name=f"{name}i{t}")
        f = SigmoidNode([(blocks, 1)], name=f"{name}f{t}")
        o = SigmoidNode([(blocks, 2)], name=f"{name}o{t}")
        g = TanhNode([(blocks, 3)], name=f"{name}g{t}")
        c_new = AdditionNode([EWMultiplicationNode([f, c], name=f"{name}fc{t}"),
                              EWMultiplicationNode([i, g], name=f"{name}ig{t}")],
                             name=f"{name}c{t}")
        h_new = EWMultiplicationNode([o, TanhNode([c_new], name=f"{name}tanh_c{t}")],
                                     name=f"{name}h{t}")
        return [(h_new, 0), (c_new, 0)]


class GRUCell(Cell):
    """GRU (reset gate after the product, as cuDNN and PyTorch): columns [r | u | n],
    r = σ(x·W_r + b_r + h·U_r), u = σ(x·W_u + b_u + h·U_u), n = tanh(x·W_n + b_n + r⊙(h·U_n)),
    h_t = n + u⊙(h_{t-1} - n) = (1-u)⊙n + u⊙h_{t-1}.

    ``recurrent_bias=True`` gives the recurrent product its own bias b_h:(3H,), zero at
    first: h·U + b_h in every gate, so n = tanh(x·W_n + b_n + r⊙(h·U_n + b_hn)), which is
    PyTorch's GRU exactly (b_h is its bias_hh).
    """

    kind = "gru"
    n_blocks = 3

    def __init__(self, n_inputs: int, n_hidden: int, rng: np.random.Generator | None = None,
                 dtype=np.float64, name: str = "layer1", recurrent_bias: bool = False):
        super().__init__(n_inputs, n_hidden, rng, dtype, name)
        self.b_h = (ParameterNode(np.zeros(3 * self.n_hidden, dtype=dtype), name=f"{name}/b_h")
                    if recurrent_bias else None)

    @property
    def parameters(self) -> list[ParameterNode]:
        return super().parameters + ([] if self.b_h is None else [self.b_h])

    def _recurrent(self, h: Pair, t: int) -> Node:
        """h_{t-1}·U (+ b_h)."""
        if self.b_h is None:
            return MultiplicationNode([h, self.U], name=f"{self.name}/hU{t}")
        return LinearNode([h, self.U, self.b_h], name=f"{self.name}/hU{t}")

    def step(self, xz_t, state, t):
        (h,) = state
        hz = self._recurrent(h, t)
        return [(GRUStepNode([h, xz_t, hz], name=f"{self.name}/h{t}"), 0)]

    def step_composed(self, x_t, state, t):
        (h,) = state
        name = f"{self.name}/"
        sizes = [self.n_hidden] * 3
        xw = LinearNode([x_t, self.W, self.b], name=f"{self.name}/xW{t}")
        hu = self._recurrent(h, t)
        xs = SplitNode([xw], sizes, name=f"{name}x_gates{t}")
        hs = SplitNode([hu], sizes, name=f"{name}h_gates{t}")
        r = SigmoidNode([AdditionNode([(xs, 0), (hs, 0)], name=f"{name}zr{t}")],
                        name=f"{name}r{t}")
        u = SigmoidNode([AdditionNode([(xs, 1), (hs, 1)], name=f"{name}zu{t}")],
                        name=f"{name}u{t}")
        reset = EWMultiplicationNode([r, (hs, 2)], name=f"{name}rh{t}")
        n = TanhNode([AdditionNode([(xs, 2), reset], name=f"{name}zn{t}")], name=f"{name}n{t}")
        keep = EWMultiplicationNode([u, SubtractionNode([h, n], name=f"{name}h_minus_n{t}")],
                                    name=f"{name}keep{t}")
        return [(AdditionNode([n, keep], name=f"{name}h{t}"), 0)]


CELL_TYPES: dict[str, type[Cell]] = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}


def unroll_layer(cell: Cell, x: Node | Pair, length: int, initial_state: Sequence[Node | Pair],
                 inputs: str = "dense", fused: bool = True) -> tuple[StackNode, list[Pair]]:
    """Unroll ``cell`` over ``length`` steps of the sequence x.

    x is (T, B, I) (or (T, B) symbol indices when ``inputs="indices"``), T = length;
    ``initial_state`` gives the cell's states (B, H) in ``cell.state_names`` order, as
    nodes: InputNodes to carry state between chunks, ParameterNodes to learn it.
    Returns the hidden states of all steps stacked, (T, B, H), and the final state.
    """
    if inputs not in INPUT_KINDS:
        raise ValueError(f"inputs must be one of {INPUT_KINDS}, got {inputs!r}")
    if len(initial_state) != len(cell.state_names):
        raise ValueError(f"a {cell.kind} cell has {len(cell.state_names)} state(s) "
                         f"{cell.state_names}, got {len(initial_state)} initial state(s)")
    state = [s if isinstance(s, tuple) else (s, 0) for s in initial_state]
    hidden = []
    if fused:
        steps = UnstackNode([cell.project(x, inputs)], length, name=f"{cell.name}/steps")
        for t in range(length):
            state = cell.step((steps, t), state, t)
            hidden.append(state[0])
    else:
        if inputs != "dense":
            raise ValueError("composed (unfused) cells read dense inputs: use one-hot rows, "
                             "or fused=True for symbol indices")
        steps = UnstackNode([x], length, name=f"{cell.name}/inputs")
        for t in range(length):
            state = cell.step_composed((steps, t), state, t)
            hidden.append(state[0])
    return StackNode(hidden, name=f"{cell.name}/hidden"), state


@register_model
class RecurrentNetwork(Model):
    """Recurrent layers under a softmax output layer, with unrolled graphs cached by length.

    ``graph(T)`` returns the network unrolled over T steps (built once per length):
      inputs   X, then the initial state of every layer in ``state_names`` order, (B, H) each,
               then (training with dropout) one inverted-dropout mask (T, B, H) per layer.
               X is (T, B, n_inputs) rows (one-hot for symbols), or (T, B) symbol
               indices when ``inputs="indices"`` (then x·W is a row gather of W, or of
               a learned ``embedding`` of that width);
      outputs  logits (T, B, n_outputs), then the final states, same order as the inputs;
      expected Y (T, B, n_outputs): one-hot rows of the next symbol; all-zero rows
               (padding) cost nothing and send back no gradient.  The Model API also
               takes class indices (T, B), -1 marking padding;
      cost     softmax cross-entropy summed over every step and sequence.
    Every graph shares the same ParameterNodes (``parameter_nodes``), so one
    optimizer trains them all.  ``fused=False`` builds the cells from elementary nodes;
    ``recurrent_bias=True`` (GRU only) gives each layer a bias ``layerK/b_h`` inside the
    reset gate's product, as PyTorch's GRU (see ``GRUCell``);
    ``sequence=True`` runs each LSTM layer as one sequence-level node (its time loop
    inside the node); ``dropout`` zeroes each layer's output units with that
    probability while training (masks drawn from ``rng``); with ``debug=True`` every
    graph checks its values for NaN and infinities.

    As a Model, X and Y are time first (batch axis 1); the mean loss is per sequence
    (``size`` of a batch), and ``train_step`` does not carry state between batches
    (``CharRNN`` does).
    """

    file_format = "dagnet-recurrent"
    format_version = 1
    description = "dagnet recurrent network"
    batch_axis = 1
    carries_state = False

    def __init__(self, cell: str, n_inputs: int, hidden: int | Sequence[int], n_outputs: int,
                 *, inputs: str = "dense", fused: bool = True, sequence: bool = False,
                 embedding: int | None = None, dropout: float = 0.0,
                 recurrent_bias: bool = False, rng: np.random.Generator | None = None,
                 dtype=np.float64, debug: bool = False):
        hidden = [int(hidden)] if np.ndim(hidden) == 0 else [int(h) for h in hidden]
        _check_architecture(cell, n_inputs, hidden, n_outputs, inputs, fused, sequence,
                            embedding, dropout)
        if recurrent_bias and cell != "gru":
            raise ValueError(f"recurrent_bias applies to GRU cells (an {cell} cell's recurrent "
                             "bias would add to b)")
        rng = np.random.default_rng(0) if rng is None else rng
        self.cell, self.hidden, self.inputs = cell, hidden, inputs
        self.fused, self.sequence = fused, sequence
        self.n_inputs, self.n_outputs = int(n_inputs), int(n_outputs)
        self.embedding = None if embedding is None else int(embedding)
        self.dropout = float(dropout)
        self.recurrent_bias = bool(recurrent_bias)
        self._dtype = np.dtype(dtype)
        self.debug = debug
        self.rng = rng  # after the weights: it then draws the dropout masks
        self.parameter_nodes: list[ParameterNode] = []
        self.E = None
        if self.embedding is not None:
            # Unit-variance rows, as torch.nn.Embedding: the first layer's Glorot W scales.
            self.E = ParameterNode(rng.standard_normal((n_inputs, self.embedding))
                                   .astype(self._dtype), name="embedding/E")
            self.parameter_nodes.append(self.E)
        sizes = [self.embedding or self.n_inputs] + hidden
        options = {"recurrent_bias": True} if self.recurrent_bias else {}
        self.cells = [CELL_TYPES[cell](sizes[k], hidden[k], rng, self._dtype, f"layer{k + 1}",
                                       **options)
                      for k in range(len(hidden))]
        self.W_out = ParameterNode(glorot_uniform(rng, hidden[-1], n_outputs, self._dtype),
                                   name="output/W")
        self.b_out = ParameterNode(np.zeros(n_outputs, dtype=self._dtype), name="output/b")
        self.parameter_nodes += [p for c in self.cells for p in c.parameters]
        self.parameter_nodes += [self.W_out, self.b_out]
        self.metadata: dict = {}
        self.extra_tensors: dict[str, np.ndarray] = {}
        self.carried_state = None
        self._graphs: dict[tuple[int, bool], Graph] = {}
        self._hidden: dict[tuple[int, bool], list] = {}

    # -- structure -------------------------------------------------------------------

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def state_names(self) -> list[str]:
        return [f"{c.name}/{s}" for c in self.cells for s in c.state_names]

    def config(self) -> dict:
        return {"cell": self.cell, "n_inputs": self.n_inputs, "hidden": self.hidden,
                "n_outputs": self.n_outputs, "inputs": self.inputs, "fused": self.fused,
                "sequence": self.sequence, "embedding": self.embedding,
                "dropout": self.dropout, "recurrent_bias": self.recurrent_bias,
                "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config: dict) -> RecurrentNetwork:
        return cls(config["cell"], config["n_inputs"], config["hidden"], config["n_outputs"],
                   inputs=config["inputs"], fused=config["fused"],
                   sequence=config.get("sequence", False), embedding=config.get("embedding"),
                   dropout=config.get("dropout", 0.0),
                   recurrent_bias=config.get("recurrent_bias", False),
                   dtype=np.dtype(config["dtype"]))

    @classmethod
    def check_file(cls, config: dict, weights: dict[str, np.ndarray], limits: Limits) -> None:
        """Check a saved configuration (``config()``'s keys, types and ranges within
        ``limits``) and that the file holds exactly the weights it implies, with their
        shapes and dtype, before anything is built; ModelFileError names the key."""
        json_object(config, "config", {"cell", "n_inputs", "hidden", "n_outputs", "inputs",
                                       "fused", "dtype"},
                    {"sequence", "embedding", "dropout", "recurrent_bias"})
        cell = choice(config["cell"], "config.cell", tuple(CELL_TYPES))
        size = up_to(1, "max_layer_size")
        n_inputs = size(config["n_inputs"], "config.n_inputs", limits)
        hidden = hidden_sizes(config["hidden"], limits, limits.max_layers, "max_layers")
        n_outputs = size(config["n_outputs"], "config.n_outputs", limits)
        inputs = choice(config["inputs"], "config.inputs", INPUT_KINDS)
        if not boolean(config["fused"], "config.fused") and inputs != "dense":
            raise ModelFileError("config.fused: composed cells (false) read dense inputs, "
                                 "but config.inputs is 'indices'")
        boolean(config.get("sequence", False), "config.sequence")
        number(config.get("dropout", 0.0), "config.dropout", 0, 1)
        recurrent_bias = boolean(config.get("recurrent_bias", False), "config.recurrent_bias")
        if recurrent_bias and cell != "gru":
            raise ModelFileError(f"config.recurrent_bias: applies to GRU cells, but "
                                 f"config.cell is {show(cell)}")
        embedding = config.get("embedding")
        if embedding is not None:
            embedding = size(embedding, "config.embedding", limits)
        check_weights(weights, weight_shapes(cell, n_inputs, hidden, n_outputs, embedding,
                                             recurrent_bias),
                      choice(config["dtype"], "config.dtype", WEIGHT_DTYPES))

    @classmethod
    def from_file(cls, path: Path, content: ModelFile, limits: Limits) -> RecurrentNetwork:
        with about(path):
            cls.check_file(content.config, content.weights, limits)
        try:
            net = cls.from_config(content.config)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: corrupt {cls.description} description "
                                 f"({type(exc).__name__}: {exc})") from None
        assign_weights(path, net.parameter_nodes, content.weights)
        return net

    def graph(self, length: int, training: bool = False) -> Graph:
        """The network unrolled over ``length`` steps (with dropout masks as inputs when
        ``training`` and dropout > 0): built on first use, then reused."""
        key = (int(length), bool(training and self.dropout > 0))
        graph = self._graphs.get(key)
        if graph is None:
            if key[0] < 1:
                raise ValueError(f"a sequence needs at least one step, got length {length}")
            graph = self._graphs[key] = self._build(*key)
        return graph

    def _build(self, length: int, masked: bool) -> Graph:
        X = InputNode(name="X")
        state_inputs = [InputNode(name=f"{name}0") for name in self.state_names]
        masks = [InputNode(name=f"{c.name}/dropout_mask") for c in self.cells] if masked else []
        seq: Node | Pair = X
        kind = self.inputs
        if self.E is not None:
            seq, kind = EmbeddingNode([X, self.E], name="embedding"), "dense"
        finals: list[Pair] = []
        hidden = []
        k = 0
        for layer, cell in enumerate(self.cells):
            initial = state_inputs[k:k + len(cell.state_names)]
            k += len(cell.state_names)
            if self.sequence and cell.kind == "lstm":
                node = LSTMLayerNode([cell.project(seq, kind), initial[0], initial[1], cell.U],
                                     name=f"{cell.name}/lstm")
                seq, final = (node, 0), [(node, 1), (node, 2)]
            elif self.sequence and not self.recurrent_bias:  # GRU and RNN layer nodes
                node_type = GRULayerNode if cell.kind == "gru" else RNNLayerNode
                node = node_type([cell.project(seq, kind), initial[0], cell.U],
                                 name=f"{cell.name}/{cell.kind}")
                seq, final = (node, 0), [(node, 1)]
            else:
                seq, final = unroll_layer(cell, seq, length, initial, kind, self.fused)
            hidden.append(seq)
            finals += final
            if masked:
                seq = EWMultiplicationNode([seq, masks[layer]], name=f"{cell.name}/dropout")
            kind = "dense"
        logits = SequenceLinearNode([seq, self.W_out, self.b_out], name="output/logits")
        Y = InputNode(name="Y")
        cost = SoftmaxCrossEntropyNode([Y, logits], name="cost")
        self._hidden[(length, masked)] = hidden
        return Graph(None, [X] + state_inputs + masks, [logits] + finals, [Y], cost,
                     self.parameter_nodes, debug=self.debug)

    # -- running ---------------------------------------------------------------------

    def initial_state(self, batch_size: int) -> list[np.ndarray]:
        """Zero states for ``batch_size`` sequences, in ``state_names`` order."""
        return [np.zeros((batch_size, c.n_hidden), dtype=self.dtype)
                for c in self.cells for _ in c.state_names]

    def dropout_masks(self, length: int, batch_size: int) -> list[np.ndarray]:
        """One inverted-dropout mask (T, B, H) per layer from ``rng``: 0 with probability
        p, else 1/(1-p)."""
        keep = 1.0 - self.dropout
        masks = []
        for c in self.cells:
            mask = self.rng.random((length, batch_size, c.n_hidden), dtype=np.float32) < keep
            masks.append(mask.astype(self.dtype) / self.dtype.type(keep))
        return masks

    def _inputs(self, X, state, training: bool = False) -> tuple[Graph, list[np.ndarray]]:
        X = (np.asarray(X) if self.inputs == "indices"
             else as_array(X, self.dtype))
        if X.ndim < 2:
            raise DataError(f"X must be time first, (T, B, …), got shape {X.shape}")
        if self.inputs == "indices" and X.dtype.kind not in "iu":
            raise DataError(f"X must hold symbol indices (integers), got dtype {X.dtype}")
        T, B = X.shape[:2]
        if state is None:
            state = self.initial_state(B)
        values = [X] + list(state)
        graph = self.graph(T, training)
        if training and self.dropout > 0:
            values += self.dropout_masks(T, B)
        return graph, values

    def propagate(self, X, state: Sequence[np.ndarray] | None = None
                  ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits (T, B, n_outputs) and final states for X (time first), from ``state``
        (default zeros)."""
        graph, values = self._inputs(X, state)
        logits, *final = graph.propagate(values)
        return logits, final

    def probabilities(self, X, state: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """Softmax of the logits: the predicted distribution of the next symbol, (T, B, C)."""
        return softmax(self.propagate(X, state)[0])

    def predict(self, X, batch_size: int = 10000) -> np.ndarray:
        """The predicted distributions (T, B, C) of the next symbol at every step."""
        return self.probabilities(X)

    def hidden_states(self, X, state: Sequence[np.ndarray] | None = None
                      ) -> list[np.ndarray]:
        """The hidden states h of every layer at every step, (T, B, H) per layer."""
        graph, values = self._inputs(X, state)
        graph.propagate(values)
        return [node.y[0] if isinstance(node, Node) else node[0].y[node[1]]
                for node in self._hidden[(len(values[0]), False)]]

    def targets(self, Y) -> np.ndarray:
        """One-hot rows (T, B, C) from class indices (T, B) (-1: padding, an all-zero
        row), or ``Y`` itself as one-hot rows."""
        Y = np.asarray(Y)
        if Y.dtype.kind in "iu" and Y.ndim == 2:
            one_hot = np.zeros(Y.shape + (self.n_outputs,), dtype=self.dtype)
            if Y.size and (Y.max() >= self.n_outputs or Y.min() < -1):
                raise DataError(f"Y holds class indices from {Y.min()} to {Y.max()}: the "
                                f"model has {self.n_outputs} classes (-1 marks padding)")
            t, b = np.nonzero(Y >= 0)
            one_hot[t, b, Y[t, b]] = 1
            return one_hot
        return class_targets(Y, self.n_outputs, self.dtype)

    def train_step(self, batch, optimizer) -> float:
        """Forward, backward and one update on a batch of sequences (time first); the
        gradient is averaged over ``batch.size`` examples.  A model that carries state
        starts from the state the previous batch ended in (reset when ``batch.first``)."""
        B = np.shape(batch.inputs)[1]
        state = None
        if self.carries_state:
            if batch.first or self.carried_state is None or len(self.carried_state[0]) != B:
                self.carried_state = self.initial_state(B)
            state = self.carried_state
        graph, values = self._inputs(batch.inputs, state, training=True)
        _, *final = graph.propagate(values)
        cost = graph.backpropagate([self.targets(batch.targets)])
        optimizer.optimize(batch.size)
        if self.carries_state:
            self.carried_state = [np.array(s) for s in final]
        return cost / batch.size

    def inputs_for(self, X, what: str = "X") -> np.ndarray:
        """Symbol indices stay integers; dense rows take the model's dtype."""
        if self.inputs != "indices":
            return as_array(X, self.dtype, what)
        X = np.asarray(X)
        if X.dtype.kind not in "iu":
            raise DataError(f"{what} must hold symbol indices (integers), got dtype {X.dtype}")
        return X

    def batches(self, X, Y, batch_size: int, rng: np.random.Generator | None):
        """``fit``'s iterator: sequences (time first) in shuffled mini-batches."""
        return ArrayBatches(X, Y, batch_size, rng, axis=1)

    def evaluate_batch(self, inputs, targets, state=None) -> tuple[float, int, None]:
        graph, values = self._inputs(inputs, state)
        graph.propagate(values)
        return graph.compute_cost([self.targets(targets)]), np.shape(inputs)[1], None


def _check_architecture(cell, n_inputs, hidden, n_outputs, inputs, fused, sequence,
                        embedding, dropout) -> None:
    if cell not in CELL_TYPES:
        raise ValueError(f"unknown cell {cell!r}; choose from {', '.join(CELL_TYPES)}")
    if inputs not in INPUT_KINDS:
        raise ValueError(f"inputs must be one of {INPUT_KINDS}, got {inputs!r}")
    if not fused and inputs != "dense":
        raise ValueError("composed (unfused) cells read dense inputs (one-hot rows)")
    if sequence and not fused:
        raise ValueError("sequence-level layers are fused: sequence=True needs fused=True")
    if not hidden or min(hidden) < 1 or n_inputs < 1 or n_outputs < 1:
        raise ValueError(f"sizes must be positive, got n_inputs={n_inputs}, "
                         f"hidden={hidden}, n_outputs={n_outputs}")
    if embedding is not None and (inputs != "indices" or int(embedding) < 1):
        raise ValueError(f"an embedding reads symbol indices (inputs='indices') and has a "
                         f"positive width, got inputs={inputs!r}, embedding={embedding}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")


def hidden_sizes(value, limits: Limits, max_layers: int, option: str | None = None
                 ) -> list[int]:
    """A saved ``hidden``: 1 to ``max_layers`` sizes, each up to ``max_layer_size``."""
    sizes = list_of(value, "config.hidden", 1, max_layers, option)
    return [up_to(1, "max_layer_size")(h, f"config.hidden[{i}]", limits)
            for i, h in enumerate(sizes)]


def weight_shapes(cell: str, n_inputs: int, hidden: list[int], n_outputs: int,
                  embedding: int | None = None, recurrent_bias: bool = False
                  ) -> dict[str, tuple[int, ...]]:
    """The weights of ``RecurrentNetwork(cell, n_inputs, hidden, n_outputs, embedding=...,
    recurrent_bias=...)`` by tensor name, and their shapes."""
    blocks, shapes = CELL_TYPES[cell].n_blocks, {}
    if embedding is not None:
        shapes["embedding/E"] = (n_inputs, embedding)
    fan_in = embedding or n_inputs
    for k, h in enumerate(hidden, start=1):
        shapes[f"layer{k}/W"] = (fan_in, blocks * h)
        shapes[f"layer{k}/U"] = (h, blocks * h)
        shapes[f"layer{k}/b"] = (blocks * h,)
        if recurrent_bias:
            shapes[f"layer{k}/b_h"] = (blocks * h,)
        fan_in = h
    shapes["output/W"] = (fan_in, n_outputs)
    shapes["output/b"] = (n_outputs,)
    return shapes


def count_parameters(cell: str, n_inputs: int, hidden: int | Sequence[int],
                     n_outputs: int) -> int:
    """How many weights ``RecurrentNetwork(cell, n_inputs, hidden, n_outputs)`` has."""
    hidden = [int(hidden)] if np.ndim(hidden) == 0 else [int(h) for h in hidden]
    blocks = CELL_TYPES[cell].n_blocks
    total, fan_in = 0, n_inputs
    for h in hidden:
        total += blocks * h * (fan_in + h + 1)
        fan_in = h
    return total + fan_in * n_outputs + n_outputs


def hidden_for_parameters(cell: str, n_inputs: int, n_outputs: int, target: int) -> int:
    """The one-layer hidden size whose parameter count is closest to ``target``."""
    return min(range(1, 4097),
               key=lambda h: abs(count_parameters(cell, n_inputs, h, n_outputs) - target))
