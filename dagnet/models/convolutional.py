"""Convolutional networks for 28×28 digits, built node by node as Graphs.

Both builders return a Graph with input X:(B, 1, 28, 28) (images, channels
first), output the softmax probabilities (B, 10), expected output Y one-hot
(B, 10) and cost SoftmaxCrossEntropyNode on the logits, summed over the batch.
Parameters are named ``<layer>/W``, ``<layer>/b`` (``<layer>/gamma``,
``<layer>/beta`` for batch normalisation).  ``convnet`` has batch normalisation
(and dropout if asked): call ``graph.eval()`` before predicting, ``graph.train()``
before training again (a GraphModel does it in ``evaluate``, ``predict`` and
``train_step``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dagnet.graph import Graph
from dagnet.node import InputNode, Node, ParameterNode
from dagnet.nodes import (
    AvgPool2DNode,
    BatchNormNode,
    Conv2DNode,
    DropoutNode,
    FlattenNode,
    LinearNode,
    MaxPool2DNode,
    ReluNode,
    SoftmaxCrossEntropyNode,
    SoftmaxNode,
    TanhNode,
)

IMAGE_SHAPE = (1, 28, 28)
N_CLASSES = 10
ACTIVATIONS: dict[str, type[Node]] = {"relu": ReluNode, "tanh": TanhNode}
POOLINGS: dict[str, type[Node]] = {"max": MaxPool2DNode, "avg": AvgPool2DNode}


def conv_weights(rng: np.random.Generator, shape: Sequence[int], activation: str,
                 dtype=np.float32) -> np.ndarray:
    """Weights (O, C, kh, kw) or (I, O), fans as PyTorch counts them for a convolution.

    He normal, N(0, 2/fan_in), before a ReLU; Glorot uniform, U(±√(6/(fan_in +
    fan_out))), otherwise.  fan_in = C·kh·kw and fan_out = O·kh·kw for a
    convolution, I and O for a dense layer.
    """
    if len(shape) == 4:
        out_channels, in_channels, kh, kw = shape
        fan_in, fan_out = in_channels * kh * kw, out_channels * kh * kw
    else:
        fan_in, fan_out = shape
    if activation == "relu":
        w = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
    else:
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-limit, limit, size=shape)
    return w.astype(dtype)


class _Builder:
    """Collects the nodes and parameters of a graph as layers are added."""

    def __init__(self, rng: np.random.Generator, dtype):
        self.rng, self.dtype = rng, dtype
        self.X, self.Y = InputNode(name="X"), InputNode(name="Y")
        self.nodes: list[Node] = [self.X, self.Y]
        self.parameters: list[ParameterNode] = []

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        return node

    def parameter(self, value: np.ndarray, name: str) -> ParameterNode:
        node = ParameterNode(np.asarray(value, dtype=self.dtype), name=name)
        self.parameters.append(node)
        return self.add(node)

    def conv(self, h: Node, name: str, in_channels: int, out_channels: int, kernel: int,
             padding: int, activation: str, bias: bool = True) -> Node:
        shape = (out_channels, in_channels, kernel, kernel)
        parents = [h, self.parameter(conv_weights(self.rng, shape, activation, self.dtype),
                                     f"{name}/W")]
        if bias:
            parents.append(self.parameter(np.zeros(out_channels), f"{name}/b"))
        return self.add(Conv2DNode(parents, padding=padding, name=f"{name}/conv"))

    def dense(self, h: Node, name: str, n_in: int, n_out: int, activation: str) -> Node:
        w = self.parameter(conv_weights(self.rng, (n_in, n_out), activation, self.dtype),
                           f"{name}/W")
        b = self.parameter(np.zeros(n_out), f"{name}/b")
        return self.add(LinearNode([h, w, b], name=f"{name}/linear"))

    def batch_norm(self, h: Node, name: str, features: int) -> Node:
        gamma = self.parameter(np.ones(features), f"{name}/gamma")
        beta = self.parameter(np.zeros(features), f"{name}/beta")
        return self.add(BatchNormNode([h, gamma, beta], features, name=f"{name}/batch_norm"))

    def graph(self, logits: Node) -> Graph:
        """Softmax output and softmax cross-entropy cost on ``logits``."""
        output = self.add(SoftmaxNode([logits], name="softmax"))
        cost = self.add(SoftmaxCrossEntropyNode([self.Y, logits], name="cost"))
        return Graph(self.nodes, [self.X], [output], [self.Y], cost, self.parameters)


def lenet5(rng: np.random.Generator | None = None, dtype=np.float32, activation: str = "relu",
           pooling: str = "max") -> Graph:
    """LeNet-5 (LeCun et al., 1998) for 28×28 digits, as a Graph.

    conv1 6@5×5 (padding 2, so 28×28 as in the paper's 32×32 input) -> pool 2 ->
    conv2 16@5×5 -> pool 2 -> flatten 400 -> fc1 120 -> fc2 84 -> fc3 10 -> softmax.
    The default uses ReLU and max pooling, the usual modern reading;
    ``activation="tanh", pooling="avg"`` is closer to the 1998 net (which also had
    trainable subsampling, a partial C3 connection table and RBF outputs).
    Weights: He normal before ReLU, Glorot uniform otherwise; biases zero; drawn
    from ``rng`` (default: seed 0) and stored as ``dtype``.  Trained with Adam (lr
    2e-3, cosine decay to 0), batch 128, random shifts of up to 1 pixel and seed 0
    it reached 99.25% MNIST test accuracy in 10 epochs (99.16% with shifts of 2,
    99.11% without; benchmarks/mnist_cnn_accuracy.py).
    """
    if activation not in ACTIVATIONS or pooling not in POOLINGS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)} and pooling "
                         f"one of {', '.join(POOLINGS)}, got {activation!r} and {pooling!r}")
    b = _Builder(np.random.default_rng(0) if rng is None else rng, dtype)
    act, pool = ACTIVATIONS[activation], POOLINGS[pooling]
    h: Node = b.X
    for k, (c_in, c_out, padding) in enumerate([(1, 6, 2), (6, 16, 0)], start=1):
        h = b.conv(h, f"conv{k}", c_in, c_out, 5, padding, activation)
        h = b.add(act([h], name=f"conv{k}/{activation}"))
        h = b.add(pool([h], 2, name=f"pool{k}"))
    h = b.add(FlattenNode([h], name="flatten"))
    for k, (n_in, n_out) in enumerate([(400, 120), (120, 84)], start=1):
        h = b.add(act([b.dense(h, f"fc{k}", n_in, n_out, activation)],
                      name=f"fc{k}/{activation}"))
    return b.graph(b.dense(h, "fc3", 84, N_CLASSES, "identity"))


def convnet(rng: np.random.Generator | None = None, dtype=np.float32,
            channels: Sequence[int] = (8, 16), hidden: int = 128, dropout: float = 0.0,
            dropout_rng: np.random.Generator | None = None) -> Graph:
    """A small modern CNN for 28×28 digits, as a Graph.

    Two blocks of [conv 3×3 (padding 1) -> batch norm -> ReLU] × 2 -> max pool 2,
    with ``channels`` = (c1, c2) filters (28×28 -> 14×14 -> 7×7), then flatten
    (c2·49) -> fc1 ``hidden`` -> ReLU [-> dropout, if ``dropout`` > 0] -> fc2 10 ->
    softmax.  The convolutions have no bias (the batch norm's β is one).

    Sized for 2-core machines: in dagnet (one thread, batch 128, alternated rounds,
    benchmarks/mnist_cnn_sizes.py) an epoch of the default (8, 16) costs about 3.0
    times LeNet-5's, (6, 12) 2.1 times, (12, 24) 4.9 times; 32-32-64-64 costs about
    14 times (measured with PyTorch).  With the default sizes, Adam (lr 2e-3, cosine
    decay to 0 over the run), batch 128, seed 0 and random shifts of up to 1 pixel
    it reached 99.44% MNIST test accuracy in 10 epochs, 99.33% with shifts of up to
    2 pixels (benchmarks/mnist_cnn_accuracy.py); with hidden 64 and dropout 0.25,
    the former defaults, and shifts of 2, 99.20%; without shifts 99.17%.
    ``dropout_rng`` draws the dropout masks (default: a generator seeded from
    ``rng``, drawn whether or not there is dropout, so that the weights do not
    depend on it).  Weights as ``lenet5``'s.
    """
    if len(channels) != 2 or min(channels) < 1 or hidden < 1:
        raise ValueError(f"channels must be two positive numbers and hidden positive, got "
                         f"{channels} and {hidden}")
    rng = np.random.default_rng(0) if rng is None else rng
    if dropout_rng is None:
        dropout_rng = np.random.default_rng(rng.integers(2**63))
    b = _Builder(rng, dtype)
    h: Node = b.X
    c_in, k = IMAGE_SHAPE[0], 0
    for block, c_out in enumerate(channels, start=1):
        for _ in range(2):
            k += 1
            h = b.conv(h, f"conv{k}", c_in, c_out, 3, 1, "relu", bias=False)
            h = b.batch_norm(h, f"conv{k}", c_out)
            h = b.add(ReluNode([h], name=f"conv{k}/relu"))
            c_in = c_out
        h = b.add(MaxPool2DNode([h], 2, name=f"pool{block}"))
    h = b.add(FlattenNode([h], name="flatten"))
    h = b.add(ReluNode([b.dense(h, "fc1", c_in * 7 * 7, hidden, "relu")], name="fc1/relu"))
    if dropout:  # no dropout node at rate 0 (dropout_rng is drawn all the same)
        h = b.add(DropoutNode([h], dropout, rng=dropout_rng, name="dropout"))
    return b.graph(b.dense(h, "fc2", hidden, N_CLASSES, "identity"))
