"""char-rnn: a multi-layer recurrent language model that reads and writes characters.

``CharRNN(vocabulary, hidden=[128, 128])`` is Karpathy's char-rnn model: a
``RecurrentNetwork`` (1–3 LSTM, GRU or plain RNN layers, symbol indices in as a row
gather of the first layer's W or through an ``embedding``, inverted dropout, a
softmax output layer with the fused, stable cross-entropy) with a text head: the
vocabulary, state carried from one batch of the streams to the next, the
validation loss per character, and sampling.

Every layer runs as one sequence-level node (``LSTMLayerNode``, ``GRULayerNode``,
``RNNLayerNode``): its time loop inside the node.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dagnet.data.text import CharStreams, Vocabulary
from dagnet.errors import ModelFileError
from dagnet.io import WEIGHT_DTYPES, ModelFile, assign_weights
from dagnet.limits import Limits
from dagnet.models.base import register_model
from dagnet.models.language import check_vocabulary, sample_text
from dagnet.models.rnn import CELL_TYPES, RecurrentNetwork, hidden_sizes, weight_shapes
from dagnet.rng import seed_streams
from dagnet.schema import about, check_weights, choice, json_object, number, up_to

MAX_LAYERS = 3


@register_model
class CharRNN(RecurrentNetwork):
    """A character-level language model; see the module docstring.

    ``hidden`` lists the layer sizes (1 to 3 layers); ``embedding`` is None for
    one-hot input (a row gather) or the width D of a learned embedding;
    ``dropout`` the probability of zeroing a unit of each layer's output while
    training (inverted dropout: kept units are scaled by 1/(1 - p), so nothing
    changes at evaluation), its masks drawn from ``rng``.  As a Model, a batch's
    ``size`` is its number of characters T·B (the loss is per character) and the
    state is carried from one batch to the next (reset when a batch is ``first``).
    """

    file_format = "dagnet-charrnn"
    format_version = 1
    description = "dagnet char-rnn model"
    carries_state = True

    def __init__(self, vocabulary: Vocabulary | str, hidden: int | Sequence[int] = (128, 128),
                 cell: str = "lstm", *, embedding: int | None = None, dropout: float = 0.0,
                 rng: np.random.Generator | None = None, dtype=np.float32,
                 debug: bool = False):
        self.vocabulary = (vocabulary if isinstance(vocabulary, Vocabulary)
                           else Vocabulary(vocabulary))
        layers = 1 if np.ndim(hidden) == 0 else len(hidden)
        if not 1 <= layers <= MAX_LAYERS:
            raise ValueError(f"a char-rnn has 1 to {MAX_LAYERS} layers, got {layers}")
        V = len(self.vocabulary)
        super().__init__(cell, V, hidden, V, inputs="indices", sequence=True,
                         embedding=embedding, dropout=dropout, rng=rng, dtype=dtype,
                         debug=debug)

    @classmethod
    def seeded(cls, seed: int, vocabulary: Vocabulary | str,
               hidden: int | Sequence[int] = (128, 128), cell: str = "lstm",
               **options) -> CharRNN:
        """A CharRNN whose weights are drawn from stream 0 of ``seed`` and dropout masks
        from stream 1 (``dagnet.rng.seed_streams``): the same seed, the same run."""
        streams = seed_streams(seed, ["weights", "dropout"])
        model = cls(vocabulary, hidden, cell, rng=streams["weights"], **options)
        model.rng = streams["dropout"]
        return model

    def config(self) -> dict:
        return {"cell": self.cell, "vocabulary": self.vocabulary.chars, "hidden": self.hidden,
                "embedding": self.embedding, "dropout": self.dropout,
                "dtype": self.dtype.name}

    @classmethod
    def check_file(cls, config: dict, weights: dict[str, np.ndarray], limits: Limits) -> None:
        """Check a saved configuration (``config()``'s keys: a vocabulary of distinct
        characters in sorted order, up to ``limits.max_vocabulary``; 1 to 3 layers...)
        and that the file holds exactly the weights it implies, before building."""
        json_object(config, "config", {"cell", "vocabulary", "hidden", "embedding", "dropout",
                                       "dtype"})
        cell = choice(config["cell"], "config.cell", tuple(CELL_TYPES))
        vocabulary = check_vocabulary(config["vocabulary"], limits)
        hidden = hidden_sizes(config["hidden"], limits, MAX_LAYERS)
        embedding = config["embedding"]
        if embedding is not None:
            embedding = up_to(1, "max_layer_size")(embedding, "config.embedding", limits)
        number(config["dropout"], "config.dropout", 0, 1)
        size = len(vocabulary)
        check_weights(weights, weight_shapes(cell, size, hidden, size, embedding),
                      choice(config["dtype"], "config.dtype", WEIGHT_DTYPES))

    @classmethod
    def from_file(cls, path: Path, content: ModelFile, limits: Limits) -> CharRNN:
        with about(path):
            cls.check_file(content.config, content.weights, limits)
        config = content.config
        try:
            net = cls(config["vocabulary"], config["hidden"], config["cell"],
                      embedding=config["embedding"], dropout=config["dropout"],
                      dtype=np.dtype(config["dtype"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: corrupt model description "
                                 f"({type(exc).__name__}: {exc})") from None
        assign_weights(path, net.parameter_nodes, content.weights)
        return net

    def one_hot(self, Y) -> np.ndarray:
        """(T, B) symbols -> (T, B, V) one-hot rows of the model's dtype."""
        return self.targets(np.asarray(Y))

    # -- text ------------------------------------------------------------------------

    def validation_loss(self, streams: CharStreams) -> float:
        """Mean loss per character (nats) over every batch of ``streams``, state carried
        from one batch to the next, no dropout."""
        state = self.initial_state(streams.batch_size)
        total = 0.0
        for X, Y in streams:
            graph, values = self._inputs(X, state)
            _, *state = graph.propagate(values)
            total += graph.compute_cost([self.targets(Y)])
        return total / (streams.batches * streams.characters_per_batch)

    def step(self, symbols, state: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits (B, V) of the next character after ``symbols`` (B,), and the new state."""
        logits, final = self.propagate(np.asarray(symbols).reshape(1, -1), state)
        return logits[0], final

    def generate(self, length: int, temperature: float, rng: np.random.Generator,
                 prime: str = "", top_k: int | None = None) -> str:
        """``length`` characters following ``prime`` (its characters must be in the
        vocabulary; empty: one drawn at random, which starts the text), each drawn from
        softmax(logits / temperature) (the most likely at temperature 0; among the
        ``top_k`` most likely when given) and fed back through the carried state."""
        state, fed, logits = self.initial_state(1), 0, None

        def next_logits(symbols):
            nonlocal state, fed, logits
            for s in symbols[fed:]:
                logits, state = self.step([s], state)
            fed = len(symbols)
            return logits[0]
        return sample_text(self.vocabulary, next_logits, length, temperature, rng, prime, top_k)
