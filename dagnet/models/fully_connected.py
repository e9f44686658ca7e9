"""``fully_connected``: the tutorial's multi-layer perceptron, built node by node."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dagnet.models.graph_model import GraphModel
from dagnet.models.initializers import glorot_uniform, he_normal
from dagnet.node import InputNode, Node, ParameterNode
from dagnet.nodes import (
    AddBiasNode,
    BinaryCrossEntropyNode,
    CategoricalCrossEntropyNode,
    IdentityNode,
    LinearNode,
    MultiplicationNode,
    ReluNode,
    SigmoidBinaryCrossEntropyNode,
    SigmoidNode,
    SoftmaxCrossEntropyNode,
    SoftmaxNode,
    SquaredErrorNode,
    TanhNode,
)

ACTIVATIONS: dict[str, type[Node]] = {
    "tanh": TanhNode, "sigmoid": SigmoidNode, "relu": ReluNode,
    "identity": IdentityNode, "softmax": SoftmaxNode,
}

# Cost name -> (node class, whether it reads the logits rather than the output).
COSTS: dict[str, tuple[type[Node], bool]] = {
    "squared_error": (SquaredErrorNode, False),
    "binary_cross_entropy": (BinaryCrossEntropyNode, False),
    "categorical_cross_entropy": (CategoricalCrossEntropyNode, False),
    "sigmoid_binary_cross_entropy": (SigmoidBinaryCrossEntropyNode, True),
    "softmax_cross_entropy": (SoftmaxCrossEntropyNode, True),
}

_FUSED_FOR = {"sigmoid": "sigmoid_binary_cross_entropy", "softmax": "softmax_cross_entropy"}


def fully_connected(layers: Sequence[int], n_inputs: int, hidden_activation: str = "tanh",
                    output_activation: str = "sigmoid", cost: str = "auto",
                    rng: np.random.Generator | None = None, dtype=np.float64,
                    formulation: str = "affine") -> GraphModel:
    """A fully-connected network, a GraphModel: X:(B, n_inputs) -> output:(B, layers[-1]).

    ``layers`` lists the sizes after the input, as in the tutorial: ``[4, 4, 1]``
    for XOR, ``[128, 64, 10]`` for MNIST.  Hidden layers use ``hidden_activation``,
    the last one ``output_activation`` (tanh, sigmoid, relu, identity or softmax).

    ``cost="auto"`` pairs a sigmoid output with SigmoidBinaryCrossEntropyNode and a
    softmax output with SoftmaxCrossEntropyNode, both on the logits (stable), and
    any other output with SquaredErrorNode; any name of ``COSTS`` can be given.

    ``formulation="affine"`` computes x·W + b with a LinearNode; ``"tutorial"``
    computes (1|x)·W with an AddBiasNode and a MultiplicationNode, the bias being
    W's first row.  Both compute the same function.

    Weights: Glorot uniform for tanh, sigmoid, identity and softmax layers, He
    normal for ReLU layers; biases zero; drawn from ``rng`` (default: seed 0) and
    stored as ``dtype``.
    """
    layers = [int(n) for n in layers]
    if not layers or min(layers) < 1 or n_inputs < 1:
        raise ValueError(f"layer sizes must be positive, got n_inputs={n_inputs}, "
                         f"layers={layers}")
    for activation in (hidden_activation, output_activation):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from "
                             f"{', '.join(ACTIVATIONS)}")
    if formulation not in ("affine", "tutorial"):
        raise ValueError(f"formulation must be 'affine' or 'tutorial', got {formulation!r}")
    if cost == "auto":
        cost = _FUSED_FOR.get(output_activation, "squared_error")
    if cost not in COSTS:
        raise ValueError(f"unknown cost {cost!r}; choose from auto, {', '.join(COSTS)}")
    cost_class, on_logits = COSTS[cost]
    if on_logits and _FUSED_FOR.get(output_activation) != cost:
        raise ValueError(f"cost {cost!r} reads logits and must follow a "
                         f"{'sigmoid' if 'sigmoid' in cost else 'softmax'} output, "
                         f"not {output_activation!r}")
    rng = np.random.default_rng(0) if rng is None else rng

    X = InputNode(name="X")
    Y = InputNode(name="Y")
    nodes: list[Node] = [X, Y]
    parameters: list[ParameterNode] = []
    h: Node = X
    fan_in = n_inputs
    logits: Node = X
    for k, size in enumerate(layers, start=1):
        activation = output_activation if k == len(layers) else hidden_activation
        init = he_normal if activation == "relu" else glorot_uniform
        W = init(rng, fan_in, size, dtype)
        if formulation == "affine":
            w = ParameterNode(W, name=f"layer{k}/W")
            b = ParameterNode(np.zeros(size, dtype=dtype), name=f"layer{k}/b")
            logits = LinearNode([h, w, b], name=f"layer{k}/linear")
            parameters += [w, b]
            nodes += [w, b, logits]
        else:
            w = ParameterNode(np.vstack([np.zeros((1, size), dtype=dtype), W]),
                              name=f"layer{k}/W")
            with_bias = AddBiasNode([h], name=f"layer{k}/add_bias")
            logits = MultiplicationNode([with_bias, w], name=f"layer{k}/product")
            parameters.append(w)
            nodes += [w, with_bias, logits]
        h = ACTIVATIONS[activation]([logits], name=f"layer{k}/{activation}")
        nodes.append(h)
        fan_in = size
    cost_node = cost_class([Y, logits if on_logits else h], name="cost")
    nodes.append(cost_node)
    return GraphModel(nodes, [X], [h], [Y], cost_node, parameters)
