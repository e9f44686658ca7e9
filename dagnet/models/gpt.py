"""``GPT``: a decoder-only transformer language model (GPT-2's architecture) that reads and
writes characters; ``gpt``: its Graph.

Symbols X:(B, T) -> token embeddings E[X] plus learned positions P[:T] -> n_layers
pre-LayerNorm blocks -> a final LayerNorm -> logits (B, T, V) from the token
embedding matrix transposed (weight tying: the output layer is E itself).  Each block:

    x ← x + dropout(W_proj·attention(split(W_qkv·ln1(x))))    causal, n_heads heads
    x ← x + dropout(W_proj·gelu(W_fc·ln2(x)))                 4·width hidden units

every product and LayerNorm with a bias, or none (``bias=False``, nanoGPT's default);
dropout also on the embeddings' sum, as nanoGPT (not on the attention weights: the fused
node has none), and only when ``dropout`` > 0 (the graph then has DropoutNodes, which
``Graph.train()``/``eval()`` switch).  The cost is the softmax cross-entropy of the
logits against the next symbols Y:(B, T) (integer indices, no one-hot), summed over the
B·T positions: divide by B·T (``optimize(B * T)``) for nanoGPT's mean loss.  One graph
serves every T ≤ ``block_size``.  Initialisation as nanoGPT: N(0, 0.02) weights and
embeddings, the residual projections N(0, 0.02/√(2·n_layers)), zero biases, unit
LayerNorm gains.

``GPT`` is the Model (the Trainer, checkpoints and ``dagnet.load`` use it): the graph
with its vocabulary, the loss per character, sampling with a context that slides
past ``block_size``, and the attention weights of a line of text.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dagnet.data.text import Vocabulary
from dagnet.errors import DataError, ModelFileError
from dagnet.graph import Graph
from dagnet.io import WEIGHT_DTYPES, ModelFile, assign_weights
from dagnet.limits import Limits
from dagnet.models.base import Model, register_model
from dagnet.models.language import check_vocabulary, sample_text
from dagnet.node import InputNode, Node, ParameterNode
from dagnet.nodes import (
    AdditionNode,
    AxisSplitNode,
    BatchMatMulNode,
    DropoutNode,
    EmbeddingNode,
    GELUNode,
    LayerNormNode,
    MultiHeadAttentionNode,
    PositionEmbeddingNode,
    SequenceLinearNode,
    SparseSoftmaxCrossEntropyNode,
    composed_attention,
)
from dagnet.nodes.activations import softmax
from dagnet.schema import about, check_weights, choice, flag, json_object, rate, up_to

ATTENTION = ("fused", "composed")
GELU = ("tanh", "none")
# The architecture's settings as a model file stores them (besides the vocabulary and dtype).
SETTINGS = ("block_size", "n_layers", "n_heads", "width", "gelu", "attention", "bias",
            "dropout")
# Settings added after the first files were written, and the value those files meant.
LATER_SETTINGS = {"bias": True, "dropout": 0.0}


@dataclass(frozen=True)
class GPTConfig:
    """The hyperparameters of a GPT; the defaults are nanoGPT's CPU "baby" model.

    ``gelu`` is GELUNode's ``approximate`` ("tanh" as GPT-2, "none" for the exact
    form); ``attention`` "fused" (MultiHeadAttentionNode) or "composed" (the same
    function from elementary nodes, slower: the reference); ``bias``: biases in every
    linear layer and LayerNorm (False: none, nanoGPT's default); ``dropout``: the rate of
    nanoGPT's dropout layers, in training mode only.
    """

    vocabulary_size: int
    block_size: int = 64
    n_layers: int = 4
    n_heads: int = 4
    width: int = 128
    gelu: str = "tanh"
    attention: str = "fused"
    bias: bool = True
    dropout: float = 0.0

    def __post_init__(self):
        for key in ("vocabulary_size", "block_size", "n_layers", "n_heads", "width"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"GPTConfig: {key} must be positive, got {getattr(self, key)}")
        if self.width % self.n_heads:
            raise ValueError(f"GPTConfig: width {self.width} does not split into "
                             f"{self.n_heads} heads")
        if self.gelu not in GELU:
            raise ValueError(f"GPTConfig: gelu must be one of {', '.join(GELU)}, got "
                             f"{self.gelu!r}")
        if self.attention not in ATTENTION:
            raise ValueError(f"GPTConfig: attention must be one of {', '.join(ATTENTION)}, "
                             f"got {self.attention!r}")
        if not isinstance(self.bias, bool):
            raise ValueError(f"GPTConfig: bias must be True or False, got {self.bias!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"GPTConfig: dropout must lie in [0, 1), got {self.dropout!r}")

    def config(self) -> dict:
        return asdict(self)


def gpt_weight_shapes(config: GPTConfig) -> dict[str, tuple[int, ...]]:
    """The weights of ``config``'s GPT by name, in the order of its parameters, and their
    shapes."""
    C, V = config.width, config.vocabulary_size
    shapes = {"wte": (V, C), "wpe": (config.block_size, C)}
    for k in range(1, config.n_layers + 1):
        shapes.update({
            f"block{k}/ln1/g": (C,), f"block{k}/ln1/b": (C,),
            f"block{k}/attn/W_qkv": (C, 3 * C), f"block{k}/attn/b_qkv": (3 * C,),
            f"block{k}/attn/W_proj": (C, C), f"block{k}/attn/b_proj": (C,),
            f"block{k}/ln2/g": (C,), f"block{k}/ln2/b": (C,),
            f"block{k}/mlp/W_fc": (C, 4 * C), f"block{k}/mlp/b_fc": (4 * C,),
            f"block{k}/mlp/W_proj": (4 * C, C), f"block{k}/mlp/b_proj": (C,)})
    shapes.update({"ln_f/g": (C,), "ln_f/b": (C,)})
    if not config.bias:  # the LayerNorms' b and the linear layers' b_...
        shapes = {name: shape for name, shape in shapes.items()
                  if not (name.endswith("/b") or "/b_" in name)}
    return shapes


def gpt_parameters(config: GPTConfig, rng: np.random.Generator | None = None,
                   dtype=np.float32) -> dict[str, ParameterNode]:
    """Every parameter of ``config``'s GPT by name ("wte", "block1/attn/W_qkv", ...),
    initialised as nanoGPT, drawn from ``rng`` (default: seed 0), stored as ``dtype``."""
    rng = np.random.default_rng(0) if rng is None else rng
    residual_std = 0.02 / math.sqrt(2 * config.n_layers)
    parameters = {}
    for name, shape in gpt_weight_shapes(config).items():
        if name.endswith("/g"):
            value = np.ones(shape)
        elif len(shape) == 1:
            value = np.zeros(shape)
        else:
            std = residual_std if name.endswith("/W_proj") else 0.02
            value = rng.standard_normal(shape) * std
        parameters[name] = ParameterNode(value.astype(dtype), name=name)
    return parameters


def gpt(config: GPTConfig, parameters: dict[str, ParameterNode] | None = None,
        rng: np.random.Generator | None = None, dtype=np.float32, debug: bool = False,
        dropout_rng: np.random.Generator | None = None) -> Graph:
    """The GPT of ``config`` as a Graph: input X:(B, T) symbol indices, output the logits
    (B, T, V), expected output Y:(B, T) indices, cost summed over the B·T positions.

    ``parameters`` (from ``gpt_parameters``) lets several graphs share weights;
    without it they are drawn from ``rng`` as ``dtype``.  ``debug``: the graph checks
    every value for NaN and infinities.  ``dropout_rng`` draws the dropout masks (with
    ``config.dropout`` > 0; default: an unseeded generator).
    """
    if parameters is None:
        parameters = gpt_parameters(config, rng, dtype)
    p = parameters
    drop = functools.partial(_dropout, rate=config.dropout, rng=dropout_rng)
    X, Y = InputNode(name="X"), InputNode(name="Y")
    tokens = EmbeddingNode([X, p["wte"]], name="tokens")
    x: Node = drop(PositionEmbeddingNode([tokens, p["wpe"]], name="positions"))
    for k in range(1, config.n_layers + 1):
        x = _block(x, p, f"block{k}", config, drop)
    x = _layer_norm(x, p, "ln_f")
    logits = BatchMatMulNode([x, p["wte"]], transpose_b=True, name="logits")
    cost = SparseSoftmaxCrossEntropyNode([Y, logits], name="cost")
    graph = Graph(None, [X], [logits], [Y], cost, list(p.values()), debug=debug)
    graph.metadata = {"model": "gpt", "config": config.config()}
    return graph


def _linear(x: Node, p: dict[str, ParameterNode], prefix: str, suffix: str) -> Node:
    """x·W + b over the last axis, W and b the parameters prefix/W_suffix, prefix/b_suffix
    (x·W where there is no b)."""
    w, b = p[f"{prefix}/W_{suffix}"], p.get(f"{prefix}/b_{suffix}")
    if b is None:
        return BatchMatMulNode([x, w], name=f"{prefix}/{suffix}")
    return SequenceLinearNode([x, w, b], name=f"{prefix}/{suffix}")


def _layer_norm(x: Node, p: dict[str, ParameterNode], prefix: str) -> Node:
    """LayerNorm of x with the gain prefix/g and the bias prefix/b if there is one."""
    bias = [p[f"{prefix}/b"]] if f"{prefix}/b" in p else []
    return LayerNormNode([x, p[f"{prefix}/g"], *bias], name=prefix)


def _dropout(x: Node, rate: float, rng: np.random.Generator | None) -> Node:
    """x through a DropoutNode of ``rate`` named after x; x itself at rate 0."""
    return DropoutNode([x], rate, rng=rng, name=f"{x.name}/dropout") if rate else x


def _block(x: Node, p: dict[str, ParameterNode], prefix: str, config: GPTConfig,
           drop: Callable[[Node], Node]) -> Node:
    """One pre-LayerNorm block: x + drop(attention(ln1(x))), then + drop(mlp(ln2(x)))."""
    C = config.width
    h = _layer_norm(x, p, f"{prefix}/ln1")
    qkv = _linear(h, p, f"{prefix}/attn", "qkv")
    split = AxisSplitNode([qkv], [C, C, C], name=f"{prefix}/attn/split")
    q, k, v = ((split, i) for i in range(3))
    if config.attention == "fused":
        a = MultiHeadAttentionNode([q, k, v], config.n_heads, name=f"{prefix}/attn/heads")
    else:
        a = composed_attention(q, k, v, config.n_heads, C, name=f"{prefix}/attn/heads")
    x = AdditionNode([x, drop(_linear(a, p, f"{prefix}/attn", "proj"))],
                     name=f"{prefix}/attn/add")
    h = _layer_norm(x, p, f"{prefix}/ln2")
    h = GELUNode([_linear(h, p, f"{prefix}/mlp", "fc")], config.gelu, name=f"{prefix}/mlp/gelu")
    return AdditionNode([x, drop(_linear(h, p, f"{prefix}/mlp", "proj"))],
                        name=f"{prefix}/mlp/add")


@register_model
class GPT(Model):
    """A character-level GPT: ``gpt``'s graph with a vocabulary, as a Model.

    ``GPT(vocabulary)`` is nanoGPT's CPU "baby" model in its sizes (4 layers, 4 heads,
    128 wide, context 64) with GPT-2's tanh GELU and biases; ``gelu="none",
    bias=False`` is nanoGPT's model itself (``gpt train``'s default).  Inputs and targets
    are batch first, X, Y:(B, T) symbol indices with T ≤ ``block_size`` and Y[b, t] the
    symbol after X[b, t]; a batch's loss is the mean over its B·T characters.  Weights
    are drawn from ``rng`` (default: seed 0), dropout masks from ``dropout_rng``.
    ``train_step`` runs the graph in training mode, every other use (evaluation,
    prediction, sampling, attention) in inference mode: dropout only acts while training.
    """

    file_format = "dagnet-gpt"
    format_version = 1
    description = "dagnet GPT model"

    def __init__(self, vocabulary: Vocabulary | str, block_size: int = 64, n_layers: int = 4,
                 n_heads: int = 4, width: int = 128, *, gelu: str = "tanh",
                 attention: str = "fused", bias: bool = True, dropout: float = 0.0,
                 rng: np.random.Generator | None = None, dtype=np.float32, debug: bool = False,
                 dropout_rng: np.random.Generator | None = None):
        self.vocabulary = (vocabulary if isinstance(vocabulary, Vocabulary)
                           else Vocabulary(vocabulary))
        self.settings = GPTConfig(len(self.vocabulary), int(block_size), int(n_layers),
                                  int(n_heads), int(width), gelu, attention, bool(bias),
                                  float(dropout))
        if self.settings.dropout and dropout_rng is None:
            dropout_rng = np.random.default_rng()  # one generator for every dropout node
        self._dropout_rng = dropout_rng if self.settings.dropout else None
        self.graph = gpt(self.settings, rng=rng, dtype=np.dtype(dtype), debug=debug,
                         dropout_rng=self._dropout_rng)
        self.parameter_nodes = self.graph.parameter_nodes
        self._nodes = {node.name: node for node in self.graph.nodes}
        self.metadata: dict = {}
        self.extra_tensors: dict[str, np.ndarray] = {}

    @property
    def rng(self) -> np.random.Generator | None:
        """The generator of the dropout masks (None without dropout): a checkpoint keeps
        its state, so that a resumed run draws the masks it would have drawn."""
        return self._dropout_rng

    @rng.setter
    def rng(self, value: np.random.Generator) -> None:
        self._dropout_rng = value
        for node in self.graph.nodes:
            if isinstance(node, DropoutNode):
                node.rng = value

    @property
    def block_size(self) -> int:
        return self.settings.block_size

    @property
    def debug(self) -> bool:
        return self.graph.debug

    @debug.setter
    def debug(self, value: bool) -> None:
        self.graph.debug = bool(value)

    def config(self) -> dict:
        settings = {k: v for k, v in self.settings.config().items() if k != "vocabulary_size"}
        return {"vocabulary": self.vocabulary.chars, **settings, "dtype": self.dtype.name}

    @classmethod
    def check_file(cls, config: dict, weights: dict[str, np.ndarray], limits: Limits) -> None:
        """Check a saved configuration (``config()``'s keys: a vocabulary as CharRNN's, sizes
        within ``limits``, a width that splits into the heads...) and that the file holds
        exactly the weights it implies, before building."""
        json_object(config, "config", set(SETTINGS) - set(LATER_SETTINGS) | {"vocabulary", "dtype"},
                    set(LATER_SETTINGS))
        vocabulary = check_vocabulary(config["vocabulary"], limits)
        size = up_to(1, "max_layer_size")
        values = {key: size(config[key], f"config.{key}", limits)
                  for key in ("block_size", "n_heads", "width")}
        values["n_layers"] = up_to(1, "max_layers")(config["n_layers"], "config.n_layers",
                                                    limits)
        if values["width"] % values["n_heads"]:
            raise ModelFileError(f"config.width: {values['width']} does not split into "
                                 f"config.n_heads = {values['n_heads']} heads")
        settings = GPTConfig(len(vocabulary), **values,
                             gelu=choice(config["gelu"], "config.gelu", GELU),
                             attention=choice(config["attention"], "config.attention",
                                              ATTENTION),
                             bias=flag(config.get("bias", True), "config.bias", limits),
                             dropout=rate(config.get("dropout", 0.0), "config.dropout", limits))
        check_weights(weights, gpt_weight_shapes(settings),
                      choice(config["dtype"], "config.dtype", WEIGHT_DTYPES))

    @classmethod
    def from_file(cls, path: Path, content: ModelFile, limits: Limits) -> GPT:
        with about(path):
            cls.check_file(content.config, content.weights, limits)
        config = content.config
        settings = {key: config.get(key, LATER_SETTINGS.get(key)) for key in SETTINGS}
        model = cls(config["vocabulary"], **settings, dtype=np.dtype(config["dtype"]))
        assign_weights(path, model.parameter_nodes, content.weights)
        return model

    # -- running ---------------------------------------------------------------------

    def symbols(self, X, what: str = "X") -> np.ndarray:
        """``X`` as (B, T) symbol indices, T ≤ block_size; DataError otherwise."""
        X = np.asarray(X)
        if X.ndim != 2 or X.dtype.kind not in "iu" or not 1 <= X.shape[1] <= self.block_size:
            raise DataError(f"{what} must be (B, T) symbol indices (integers) with 1 ≤ T ≤ "
                            f"{self.block_size} (the block size), got {X.dtype} {X.shape}")
        return X

    def _mode(self, training: bool) -> Graph:
        """The graph in training or inference mode (switched only when it changes)."""
        if self.graph.training != training:
            self.graph.set_training(training)
        return self.graph

    def logits(self, X) -> np.ndarray:
        """The logits (B, T, V) of the symbol after each position of X:(B, T) (inference
        mode)."""
        return self._mode(False).propagate([self.symbols(X)])[0]

    def predict(self, X, batch_size: int = 10000) -> np.ndarray:
        """The predicted distributions (B, T, V) of the symbol after each position."""
        X = self.symbols(X)
        return np.concatenate([softmax(self.logits(X[k:k + batch_size]))
                               for k in range(0, len(X), batch_size)])

    def train_step(self, batch, optimizer) -> float:
        """Forward, backward and one update; returns the mean loss per character (the
        gradient is averaged over the B·T characters, whatever ``batch.size`` counts)."""
        X = self.symbols(batch.inputs)
        self._mode(True).propagate([X])
        cost = self.graph.backpropagate([self.symbols(batch.targets, "Y")])
        optimizer.optimize(X.size)
        return cost / X.size

    def evaluate_batch(self, inputs, targets) -> tuple[float, int, None]:
        """The summed loss over the batch's characters, and their number."""
        X = self.symbols(inputs)
        self._mode(False).propagate([X])
        return self.graph.compute_cost([self.symbols(targets, "Y")]), X.size, None

    def generate(self, length: int, temperature: float, rng: np.random.Generator,
                 prime: str = "", top_k: int | None = None) -> str:
        """``length`` characters following ``prime`` (as ``CharRNN.generate``), each drawn
        from softmax(logits / temperature) (the most likely at temperature 0; among the
        ``top_k`` most likely when given) given the last ``block_size`` characters: the
        context slides past the block size."""
        def next_logits(symbols):
            window = np.array([symbols[-self.block_size:]], dtype=np.int32)
            return self.logits(window)[0, -1]
        return sample_text(self.vocabulary, next_logits, length, temperature, rng, prime, top_k)

    def attention(self, text: str, layer: int) -> np.ndarray:
        """The attention weights (H, T, T) of the heads of block ``layer`` (1 to n_layers)
        over ``text`` (1 to block_size characters): row i, the weights position i gives
        to positions 0..i."""
        if not 1 <= layer <= self.settings.n_layers:
            raise ValueError(f"layer must lie in 1..{self.settings.n_layers}, got {layer}")
        self.logits(self.vocabulary.encode(text)[None])
        if self.settings.attention == "composed":
            return self._nodes[f"block{layer}/attn/heads/weights"].y[0][0].copy()
        return self._nodes[f"block{layer}/attn/heads"].weights[0].copy()
