"""``gpt``: a decoder-only transformer language model (GPT-2's architecture) as a Graph.

Symbols X:(B, T) -> token embeddings E[X] plus learned positions P[:T] -> n_layers
pre-LayerNorm blocks -> a final LayerNorm -> logits (B, T, V) from the token
embedding matrix transposed (weight tying: the output layer is E itself).  Each block:

    x ← x + W_proj·attention(split(W_qkv·ln1(x)))      causal, n_heads heads
    x ← x + W_proj·gelu(W_fc·ln2(x))                   4·width hidden units

every product with a bias.  The cost is the softmax cross-entropy of the logits
against the next symbols Y:(B, T) (integer indices, no one-hot), summed over the
B·T positions: divide by B·T (``optimize(B * T)``) for nanoGPT's mean loss.  One
graph serves every T ≤ ``block_size``.  No dropout (nanoGPT's CPU configuration
uses none).  Initialisation as nanoGPT: N(0, 0.02) weights and embeddings, the
residual projections N(0, 0.02/√(2·n_layers)), zero biases, unit LayerNorm gains.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from dagnet.graph import Graph
from dagnet.node import InputNode, Node, ParameterNode
from dagnet.nodes import (
    AdditionNode,
    AxisSplitNode,
    BatchMatMulNode,
    EmbeddingNode,
    GELUNode,
    LayerNormNode,
    MultiHeadAttentionNode,
    PositionEmbeddingNode,
    SequenceLinearNode,
    SparseSoftmaxCrossEntropyNode,
    composed_attention,
)

ATTENTION = ("fused", "composed")
GELU = ("tanh", "none")


@dataclass(frozen=True)
class GPTConfig:
    """The hyperparameters of a GPT; the defaults are nanoGPT's CPU "baby" model.

    ``gelu`` is GELUNode's ``approximate`` ("tanh" as GPT-2, "none" for the exact
    form); ``attention`` "fused" (MultiHeadAttentionNode) or "composed" (the same
    function from elementary nodes, slower: the reference).
    """

    vocabulary_size: int
    block_size: int = 64
    n_layers: int = 4
    n_heads: int = 4
    width: int = 128
    gelu: str = "tanh"
    attention: str = "fused"

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

    def config(self) -> dict:
        return asdict(self)


def gpt_parameters(config: GPTConfig, rng: np.random.Generator | None = None,
                   dtype=np.float32) -> dict[str, ParameterNode]:
    """Every parameter of ``config``'s GPT by name ("wte", "block1/attn/W_qkv", ...),
    initialised as nanoGPT, drawn from ``rng`` (default: seed 0), stored as ``dtype``."""
    rng = np.random.default_rng(0) if rng is None else rng
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
    residual_std = 0.02 / math.sqrt(2 * config.n_layers)
    parameters = {}
    for name, shape in shapes.items():
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
        rng: np.random.Generator | None = None, dtype=np.float32) -> Graph:
    """The GPT of ``config`` as a Graph: input X:(B, T) symbol indices, output the logits
    (B, T, V), expected output Y:(B, T) indices, cost summed over the B·T positions.

    ``parameters`` (from ``gpt_parameters``) lets several graphs share weights;
    without it they are drawn from ``rng`` as ``dtype``.
    """
    if parameters is None:
        parameters = gpt_parameters(config, rng, dtype)
    p = parameters
    X, Y = InputNode(name="X"), InputNode(name="Y")
    tokens = EmbeddingNode([X, p["wte"]], name="tokens")
    x: Node = PositionEmbeddingNode([tokens, p["wpe"]], name="positions")
    for k in range(1, config.n_layers + 1):
        x = _block(x, p, f"block{k}", config)
    x = LayerNormNode([x, p["ln_f/g"], p["ln_f/b"]], name="ln_f")
    logits = BatchMatMulNode([x, p["wte"]], transpose_b=True, name="logits")
    cost = SparseSoftmaxCrossEntropyNode([Y, logits], name="cost")
    graph = Graph(None, [X], [logits], [Y], cost, list(p.values()))
    graph.metadata = {"model": "gpt", "config": config.config()}
    return graph


def _linear(x: Node, p: dict[str, ParameterNode], prefix: str, suffix: str) -> Node:
    """x·W + b over the last axis, W and b the parameters prefix/W_suffix, prefix/b_suffix."""
    return SequenceLinearNode([x, p[f"{prefix}/W_{suffix}"], p[f"{prefix}/b_{suffix}"]],
                              name=f"{prefix}/{suffix}")


def _block(x: Node, p: dict[str, ParameterNode], prefix: str, config: GPTConfig) -> Node:
    """One pre-LayerNorm block: x + attention(ln1(x)), then + mlp(ln2(x))."""
    C = config.width
    h = LayerNormNode([x, p[f"{prefix}/ln1/g"], p[f"{prefix}/ln1/b"]], name=f"{prefix}/ln1")
    qkv = _linear(h, p, f"{prefix}/attn", "qkv")
    split = AxisSplitNode([qkv], [C, C, C], name=f"{prefix}/attn/split")
    q, k, v = ((split, i) for i in range(3))
    if config.attention == "fused":
        a = MultiHeadAttentionNode([q, k, v], config.n_heads, name=f"{prefix}/attn/heads")
    else:
        a = composed_attention(q, k, v, config.n_heads, C, name=f"{prefix}/attn/heads")
    x = AdditionNode([x, _linear(a, p, f"{prefix}/attn", "proj")], name=f"{prefix}/attn/add")
    h = LayerNormNode([x, p[f"{prefix}/ln2/g"], p[f"{prefix}/ln2/b"]], name=f"{prefix}/ln2")
    h = GELUNode([_linear(h, p, f"{prefix}/mlp", "fc")], config.gelu, name=f"{prefix}/mlp/gelu")
    return AdditionNode([x, _linear(h, p, f"{prefix}/mlp", "proj")], name=f"{prefix}/mlp/add")
