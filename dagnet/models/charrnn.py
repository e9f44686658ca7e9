"""char-rnn: a multi-layer recurrent language model that reads and writes characters.

``CharRNN(vocabulary, hidden=[128, 128])`` is Karpathy's char-rnn model on dagnet's
graph: symbol indices in, one-hot rows as a row gather of the first layer's W (or
an ``embedding`` of D columns, then a product), 1–3 recurrent layers (LSTM, GRU or
plain RNN, the cells of ``dagnet.models.rnn``), inverted dropout on every layer's
output when training, and a softmax output layer with the fused, stable softmax
cross-entropy.

An LSTM layer runs as one ``LSTMLayerNode`` (its time loop inside the node, all
gate products of a step in one product, the input projection of all steps in one
product or gather, dJ/dU as one product): the sequence-level path, tested against
the per-step ``LSTMStepNode`` graph and the composed cell.  GRU and RNN layers are
unrolled step by step with their fused step nodes.

Graphs are built once per (length, training) and reused.  Their inputs are the
symbols X:(T, B), the carried states (B, H) of every layer (``state_names``
order) and, when training with dropout, one mask (T, B, H) per layer; outputs the
logits (T, B, V) and the final states; the cost is summed over every character.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dagnet.data.text import Vocabulary
from dagnet.errors import ModelFileError
from dagnet.graph import Graph
from dagnet.io import assign_weights, read_model_file, write_model_file
from dagnet.models.initializers import glorot_uniform
from dagnet.models.rnn import CELL_TYPES, unroll_layer
from dagnet.node import InputNode, Node, ParameterNode
from dagnet.nodes import (
    EmbeddingNode,
    EWMultiplicationNode,
    LSTMLayerNode,
    SequenceLinearNode,
    SoftmaxCrossEntropyNode,
)

FORMAT = "dagnet-charrnn"
FORMAT_VERSION = 1
MAX_LAYERS = 3


class CharRNN:
    """A character-level language model; see the module docstring.

    ``hidden`` lists the layer sizes (1 to 3 layers); ``embedding`` is None for
    one-hot input (a row gather) or the width D of a learned embedding;
    ``dropout`` the probability of zeroing a unit of each layer's output while
    training (inverted dropout: kept units are scaled by 1/(1 - p), so nothing
    changes at evaluation).  With ``debug=True`` every graph checks its values and
    gradients for NaN and infinities and names the first node that produces one.
    """

    def __init__(self, vocabulary: Vocabulary | str, hidden: int | Sequence[int] = (128, 128),
                 cell: str = "lstm", *, embedding: int | None = None, dropout: float = 0.0,
                 rng: np.random.Generator | None = None, dtype=np.float32,
                 debug: bool = False):
        self.vocabulary = (vocabulary if isinstance(vocabulary, Vocabulary)
                           else Vocabulary(vocabulary))
        hidden = [int(hidden)] if np.ndim(hidden) == 0 else [int(h) for h in hidden]
        if cell not in CELL_TYPES:
            raise ValueError(f"unknown cell {cell!r}; choose from {', '.join(CELL_TYPES)}")
        if not 1 <= len(hidden) <= MAX_LAYERS or min(hidden) < 1:
            raise ValueError(f"a char-rnn has 1 to {MAX_LAYERS} layers of positive sizes, got "
                             f"{hidden}")
        if embedding is not None and int(embedding) < 1:
            raise ValueError(f"the embedding width must be positive, got {embedding}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        rng = np.random.default_rng(0) if rng is None else rng
        self.cell, self.hidden, self.dropout = cell, hidden, float(dropout)
        self.embedding = None if embedding is None else int(embedding)
        self.dtype = np.dtype(dtype)
        self.debug = debug
        V = len(self.vocabulary)
        self.parameter_nodes: list[ParameterNode] = []
        self.E = None
        if self.embedding is not None:
            # Unit-variance rows, as torch.nn.Embedding: the first layer's Glorot W scales.
            self.E = ParameterNode(rng.standard_normal((V, self.embedding)).astype(self.dtype),
                                   name="embedding/E")
            self.parameter_nodes.append(self.E)
        sizes = [self.embedding or V] + hidden
        self.cells = [CELL_TYPES[cell](sizes[k], hidden[k], rng, self.dtype, f"layer{k + 1}")
                      for k in range(len(hidden))]
        self.W_out = ParameterNode(glorot_uniform(rng, hidden[-1], V, self.dtype),
                                   name="output/W")
        self.b_out = ParameterNode(np.zeros(V, dtype=self.dtype), name="output/b")
        self.parameter_nodes += [p for c in self.cells for p in c.parameters]
        self.parameter_nodes += [self.W_out, self.b_out]
        self._graphs: dict[tuple[int, bool], Graph] = {}
        self._eye = np.eye(V, dtype=self.dtype)

    # -- structure -------------------------------------------------------------------

    @property
    def n_parameters(self) -> int:
        return int(sum(p.w.size for p in self.parameter_nodes))

    @property
    def state_names(self) -> list[str]:
        return [f"{c.name}/{s}" for c in self.cells for s in c.state_names]

    def config(self) -> dict:
        return {"cell": self.cell, "vocabulary": self.vocabulary.chars, "hidden": self.hidden,
                "embedding": self.embedding, "dropout": self.dropout,
                "dtype": self.dtype.name}

    def graph(self, length: int, training: bool = False) -> Graph:
        """The model unrolled over ``length`` steps (with dropout masks when ``training``
        and dropout > 0): built on first use, then reused."""
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
        seq: Node | tuple = X
        kind = "indices"
        if self.E is not None:
            seq, kind = EmbeddingNode([X, self.E], name="embedding"), "dense"
        finals: list = []
        k = 0
        for layer, cell in enumerate(self.cells):
            initial = state_inputs[k:k + len(cell.state_names)]
            k += len(cell.state_names)
            if cell.kind == "lstm":
                node = LSTMLayerNode([cell.project(seq, kind), initial[0], initial[1], cell.U],
                                     name=f"{cell.name}/lstm")
                seq, final = (node, 0), [(node, 1), (node, 2)]
            else:
                seq, final = unroll_layer(cell, seq, length, initial, kind)
            finals += final
            if masked:
                seq = EWMultiplicationNode([seq, masks[layer]], name=f"{cell.name}/dropout")
            kind = "dense"
        logits = SequenceLinearNode([seq, self.W_out, self.b_out], name="output/logits")
        Y = InputNode(name="Y")
        cost = SoftmaxCrossEntropyNode([Y, logits], name="cost")
        return Graph(None, [X] + state_inputs + masks, [logits] + finals, [Y], cost,
                     self.parameter_nodes, debug=self.debug)

    # -- running ---------------------------------------------------------------------

    def initial_state(self, batch_size: int) -> list[np.ndarray]:
        """Zero states for ``batch_size`` streams, in ``state_names`` order."""
        return [np.zeros((batch_size, c.n_hidden), dtype=self.dtype)
                for c in self.cells for _ in c.state_names]

    def dropout_masks(self, rng: np.random.Generator, length: int, batch_size: int
                      ) -> list[np.ndarray]:
        """One inverted-dropout mask (T, B, H) per layer: 0 with probability p, else 1/(1-p)."""
        keep = 1.0 - self.dropout
        masks = []
        for c in self.cells:
            mask = rng.random((length, batch_size, c.n_hidden), dtype=np.float32) < keep
            masks.append(mask.astype(self.dtype) / self.dtype.type(keep))
        return masks

    def one_hot(self, Y) -> np.ndarray:
        """(T, B) symbols -> (T, B, V) one-hot rows of the model's dtype."""
        return self._eye[np.asarray(Y)]

    def train_step(self, X, Y, optimizer, state: Sequence[np.ndarray],
                   rng: np.random.Generator | None = None) -> tuple[float, list[np.ndarray]]:
        """Forward, backward and one ``optimizer`` update on X, Y:(T, B) symbols from
        ``state``; the gradient is averaged per character (divided by T·B).  Dropout
        masks come from ``rng`` (needed when dropout > 0).  Returns the summed cost
        and the final states, to carry into the next batch."""
        X = np.asarray(X)
        T, B = X.shape
        graph = self.graph(T, training=True)
        values = [X] + list(state)
        if self.dropout > 0:
            if rng is None:
                raise ValueError("training with dropout needs an rng for the masks")
            values += self.dropout_masks(rng, T, B)
        _, *final = graph.propagate(values)
        cost = graph.backpropagate([self.one_hot(Y)])
        optimizer.optimize(T * B)
        return cost, final

    def evaluate(self, X, Y, state: Sequence[np.ndarray]) -> tuple[float, list[np.ndarray]]:
        """The summed cost on X, Y:(T, B) from ``state`` (no dropout, no gradient) and the
        final states."""
        X = np.asarray(X)
        graph = self.graph(X.shape[0])
        _, *final = graph.propagate([X] + list(state))
        return graph.compute_cost([self.one_hot(Y)]), final

    def step(self, symbols, state: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits (B, V) of the next character after ``symbols`` (B,), and the new state."""
        logits, *final = self.graph(1).propagate([np.asarray(symbols).reshape(1, -1)]
                                                 + list(state))
        return logits[0], final

    # -- files -----------------------------------------------------------------------

    def save(self, path: str | os.PathLike, metadata: dict | None = None,
             extra_tensors: dict[str, np.ndarray] | None = None) -> Path:
        """Write the configuration and vocabulary (JSON) and the weights (safetensors) to
        ``path``, atomically, with ``metadata`` and ``extra_tensors`` (a checkpoint's
        optimizer and training state)."""
        return write_model_file(path, FORMAT, FORMAT_VERSION, self.config(),
                                {p.name: p.w for p in self.parameter_nodes}, metadata,
                                extra_tensors)

    @classmethod
    def load(cls, path: str | os.PathLike) -> tuple[CharRNN, dict, dict[str, np.ndarray]]:
        """The model saved in ``path``, its metadata and extra tensors; ModelFileError naming
        the file if it is not a char-rnn model.  Reads JSON and arrays only, runs no code."""
        path = Path(path)
        content = read_model_file(path, FORMAT, FORMAT_VERSION, "dagnet char-rnn model")
        config = content.config
        try:
            net = cls(config["vocabulary"], config["hidden"], config["cell"],
                      embedding=config["embedding"], dropout=config["dropout"],
                      dtype=np.dtype(config["dtype"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: corrupt model description "
                                 f"({type(exc).__name__}: {exc})") from None
        assign_weights(path, net.parameter_nodes, content.weights)
        return net, content.metadata, content.extra_tensors
