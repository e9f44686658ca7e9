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

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dagnet.errors import ModelFileError
from dagnet.graph import Graph
from dagnet.io import assign_weights, read_model_file, write_model_file
from dagnet.models.initializers import glorot_uniform
from dagnet.node import InputNode, Node, ParameterNode
from dagnet.nodes import (
    AdditionNode,
    EWMultiplicationNode,
    GRUStepNode,
    LinearNode,
    LSTMStepNode,
    MultiplicationNode,
    MultiplyAddNode,
    OneHotLinearNode,
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

FORMAT = "dagnet-recurrent"
FORMAT_VERSION = 1
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
    """

    kind = "gru"
    n_blocks = 3

    def step(self, xz_t, state, t):
        (h,) = state
        hz = MultiplicationNode([h, self.U], name=f"{self.name}/hU{t}")
        return [(GRUStepNode([h, xz_t, hz], name=f"{self.name}/h{t}"), 0)]

    def step_composed(self, x_t, state, t):
        (h,) = state
        name = f"{self.name}/"
        sizes = [self.n_hidden] * 3
        xw, hu = self._input_and_recurrent(x_t, h, t)
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


class RecurrentNetwork:
    """Recurrent layers under a softmax output layer, with unrolled graphs cached by length.

    ``graph(T)`` returns the network unrolled over T steps (built once per length):
      inputs   X, then the initial state of every layer in ``state_names`` order, (B, H) each.
               X is (T, B, n_inputs) rows (one-hot for symbols), or (T, B) symbol
               indices when ``inputs="indices"`` (then x·W is a row gather of W);
      outputs  logits (T, B, n_outputs), then the final states, same order as the inputs;
      expected Y (T, B, n_outputs): one-hot rows of the next symbol; all-zero rows
               (padding) cost nothing and send back no gradient;
      cost     softmax cross-entropy summed over every step and sequence.
    Every graph shares the same ParameterNodes (``parameter_nodes``), so one
    optimizer trains them all.  ``fused=False`` builds the cells from elementary nodes;
    with ``debug=True`` every graph checks its values for NaN and infinities.
    """

    def __init__(self, cell: str, n_inputs: int, hidden: int | Sequence[int], n_outputs: int,
                 *, inputs: str = "dense", fused: bool = True,
                 rng: np.random.Generator | None = None, dtype=np.float64,
                 debug: bool = False):
        if cell not in CELL_TYPES:
            raise ValueError(f"unknown cell {cell!r}; choose from {', '.join(CELL_TYPES)}")
        if inputs not in INPUT_KINDS:
            raise ValueError(f"inputs must be one of {INPUT_KINDS}, got {inputs!r}")
        if not fused and inputs != "dense":
            raise ValueError("composed (unfused) cells read dense inputs (one-hot rows)")
        hidden = [int(hidden)] if np.ndim(hidden) == 0 else [int(h) for h in hidden]
        if not hidden or min(hidden) < 1 or n_inputs < 1 or n_outputs < 1:
            raise ValueError(f"sizes must be positive, got n_inputs={n_inputs}, "
                             f"hidden={hidden}, n_outputs={n_outputs}")
        rng = np.random.default_rng(0) if rng is None else rng
        self.cell, self.hidden, self.inputs, self.fused = cell, hidden, inputs, fused
        self.n_inputs, self.n_outputs = int(n_inputs), int(n_outputs)
        self.dtype = np.dtype(dtype)
        self.debug = debug
        sizes = [self.n_inputs] + hidden
        self.cells = [CELL_TYPES[cell](sizes[k], hidden[k], rng, self.dtype, f"layer{k + 1}")
                      for k in range(len(hidden))]
        self.W_out = ParameterNode(glorot_uniform(rng, hidden[-1], n_outputs, self.dtype),
                                   name="output/W")
        self.b_out = ParameterNode(np.zeros(n_outputs, dtype=self.dtype), name="output/b")
        self.parameter_nodes = [p for c in self.cells for p in c.parameters]
        self.parameter_nodes += [self.W_out, self.b_out]
        self.metadata: dict = {}
        self.extra_tensors: dict[str, np.ndarray] = {}
        self._graphs: dict[int, Graph] = {}
        self._hidden: dict[int, list[StackNode]] = {}

    # -- structure -------------------------------------------------------------------

    @property
    def state_names(self) -> list[str]:
        return [f"{c.name}/{s}" for c in self.cells for s in c.state_names]

    @property
    def n_parameters(self) -> int:
        return int(sum(p.w.size for p in self.parameter_nodes))

    def config(self) -> dict:
        return {"cell": self.cell, "n_inputs": self.n_inputs, "hidden": self.hidden,
                "n_outputs": self.n_outputs, "inputs": self.inputs, "fused": self.fused,
                "dtype": self.dtype.name}

    def graph(self, length: int) -> Graph:
        """The network unrolled over ``length`` steps: built on first use, then reused."""
        length = int(length)
        graph = self._graphs.get(length)
        if graph is None:
            if length < 1:
                raise ValueError(f"a sequence needs at least one step, got length {length}")
            graph = self._graphs[length] = self._build(length)
        return graph

    def _build(self, length: int) -> Graph:
        X = InputNode(name="X")
        state_inputs = [InputNode(name=f"{name}0") for name in self.state_names]
        seq: Node = X
        finals: list[Pair] = []
        hidden = []
        k = 0
        for layer, cell in enumerate(self.cells):
            initial = state_inputs[k:k + len(cell.state_names)]
            k += len(cell.state_names)
            seq, final = unroll_layer(cell, seq, length, initial,
                                      self.inputs if layer == 0 else "dense", self.fused)
            hidden.append(seq)
            finals += final
        logits = SequenceLinearNode([seq, self.W_out, self.b_out], name="output/logits")
        Y = InputNode(name="Y")
        cost = SoftmaxCrossEntropyNode([Y, logits], name="cost")
        self._hidden[length] = hidden
        return Graph(None, [X] + state_inputs, [logits] + finals, [Y], cost,
                     self.parameter_nodes, debug=self.debug)

    # -- running ---------------------------------------------------------------------

    def initial_state(self, batch_size: int) -> list[np.ndarray]:
        """Zero states for ``batch_size`` sequences, in ``state_names`` order."""
        return [np.zeros((batch_size, c.n_hidden), dtype=self.dtype)
                for c in self.cells for _ in c.state_names]

    def _inputs(self, X, state) -> tuple[Graph, list[np.ndarray]]:
        X = np.asarray(X) if self.inputs == "indices" else np.asarray(X, dtype=self.dtype)
        if X.ndim < 2:
            raise ValueError(f"X must be time first, (T, B, …), got shape {X.shape}")
        if state is None:
            state = self.initial_state(X.shape[1])
        return self.graph(X.shape[0]), [X] + list(state)

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

    def hidden_states(self, X, state: Sequence[np.ndarray] | None = None
                      ) -> list[np.ndarray]:
        """The hidden states h of every layer at every step, (T, B, H) per layer."""
        graph, values = self._inputs(X, state)
        graph.propagate(values)
        return [node.y[0] for node in self._hidden[len(values[0])]]

    def train_step(self, X, Y, optimizer, state: Sequence[np.ndarray] | None = None,
                   normalizer: int | None = None) -> tuple[float, list[np.ndarray]]:
        """Propagate, backpropagate and apply one ``optimizer`` update.

        The cost is summed over steps and sequences; the gradient is divided by
        ``normalizer`` (default: the number of sequences B).  Returns the cost and
        the final states, to carry into the next chunk.
        """
        graph, values = self._inputs(X, state)
        _, *final = graph.propagate(values)
        cost = graph.backpropagate([np.asarray(Y, dtype=self.dtype)])
        optimizer.optimize(values[0].shape[1] if normalizer is None else normalizer)
        return cost, final

    # -- files -----------------------------------------------------------------------

    def save(self, path: str | os.PathLike, metadata: dict | None = None,
             extra_tensors: dict[str, np.ndarray] | None = None) -> Path:
        """Write the architecture (JSON) and weights (safetensors) to ``path``, atomically.

        ``metadata`` (JSON-ready: a vocabulary, training figures) and ``extra_tensors``
        come back as ``.metadata`` and ``.extra_tensors`` from ``load``.
        """
        return write_model_file(path, FORMAT, FORMAT_VERSION, self.config(),
                                {p.name: p.w for p in self.parameter_nodes},
                                self.metadata if metadata is None else metadata, extra_tensors)

    @classmethod
    def load(cls, path: str | os.PathLike) -> RecurrentNetwork:
        """The network saved in ``path``; ModelFileError naming the file if it is not one.
        Reads JSON and arrays only: no code from the file is run."""
        path = Path(path)
        content = read_model_file(path, FORMAT, FORMAT_VERSION, "dagnet recurrent network")
        config = content.config
        try:
            net = cls(config["cell"], config["n_inputs"], config["hidden"],
                      config["n_outputs"], inputs=config["inputs"], fused=config["fused"],
                      dtype=np.dtype(config["dtype"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: corrupt network description "
                                 f"({type(exc).__name__}: {exc})") from None
        assign_weights(path, net.parameter_nodes, content.weights)
        net.metadata = content.metadata
        net.extra_tensors = content.extra_tensors
        return net


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
