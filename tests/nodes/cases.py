"""The table of every node type: how to build it, its inputs, and a NumPy reference.

Each case gives ``make(parents) -> node``, ``inputs(rng, n, m)`` (arrays for a batch of
n rows and m features), ``reference(*inputs) -> list of outputs`` computed independently
of dagnet, and which inputs are differentiable.  tests/nodes/test_table.py runs the
forward comparison and the float64 gradient check on every case, and fails when a
node class of dagnet has no case here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import dagnet.nodes as n


@dataclass
class NodeCase:
    cls: type
    make: Callable
    inputs: Callable
    reference: Callable
    differentiable: tuple[bool, ...] | None = None
    label: str = ""

    @property
    def id(self) -> str:
        return self.cls.__name__ + (f"-{self.label}" if self.label else "")


def normal(rng, *shape):
    return rng.standard_normal(shape)


def away_from_zero(rng, *shape):
    """Values with |x| >= 0.1, so that a central difference never straddles a kink."""
    x = rng.standard_normal(shape)
    return np.sign(x) * (np.abs(x) + 0.1)


def probabilities(rng, *shape):
    return rng.uniform(0.05, 0.95, size=shape)


def softmax_rows(rng, *shape):
    e = np.exp(rng.standard_normal(shape))
    return e / e.sum(axis=-1, keepdims=True)


def one_hot(rng, rows, classes):
    y = np.zeros((rows, classes))
    y[np.arange(rows), rng.integers(0, classes, rows)] = 1
    return y


def ref_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def ref_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def ref_lstm_step(c_prev, z):
    """c and h of an LSTM step, gate columns [i | f | o | g]."""
    i, f, o, g = np.split(z, 4, axis=1)
    c = ref_sigmoid(f) * c_prev + ref_sigmoid(i) * np.tanh(g)
    return [c, ref_sigmoid(o) * np.tanh(c)]


def ref_lstm_layer(xz, h, c, u):
    """hs, h_T and c_T of an LSTM layer: ``ref_lstm_step`` applied step by step."""
    hs = []
    for t in range(len(xz)):
        c, h = ref_lstm_step(c, xz[t] + h @ u)
        hs.append(h)
    return [np.array(hs), h, c]


def ref_gru_step(h_prev, xz, hz):
    """h of a GRU step with the reset gate after the product, columns [r | u | n]."""
    xr, xu, xn = np.split(xz, 3, axis=1)
    hr, hu, hn = np.split(hz, 3, axis=1)
    r, u = ref_sigmoid(xr + hr), ref_sigmoid(xu + hu)
    n = np.tanh(xn + r * hn)
    return [(1 - u) * n + u * h_prev]


def ref_layer_norm(x, g, b, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + eps) * g + b


_erf = np.vectorize(math.erf)


def ref_gelu(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _erf(x / np.sqrt(2)))


def ref_attention(q, k, v, n_heads, causal=True):
    """Head by head, with explicit loops and the mask as a -inf matrix."""
    B, T, C = q.shape
    D = C // n_heads
    y = np.zeros_like(q)
    future = np.triu(np.full((T, T), -np.inf), k=1) if causal else np.zeros((T, T))
    for h in range(n_heads):
        cols = slice(h * D, (h + 1) * D)
        for b in range(B):
            scores = q[b, :, cols] @ k[b, :, cols].T / np.sqrt(D) + future
            y[b, :, cols] = ref_softmax(scores) @ v[b, :, cols]
    return y


def ref_sparse_cross_entropy(i, z):
    logp = np.log(ref_softmax(z))
    return -np.take_along_axis(logp, i.astype(int)[..., None], axis=-1).sum()


CASES: list[NodeCase] = [
    NodeCase(n.IdentityNode, lambda p: n.IdentityNode(p),
             lambda r, b, f: [normal(r, b, f)], lambda x: [x]),
    NodeCase(n.SigmoidNode, lambda p: n.SigmoidNode(p),
             lambda r, b, f: [3 * normal(r, b, f)], lambda x: [ref_sigmoid(x)]),
    NodeCase(n.TanhNode, lambda p: n.TanhNode(p),
             lambda r, b, f: [2 * normal(r, b, f)], lambda x: [np.tanh(x)]),
    NodeCase(n.ReluNode, lambda p: n.ReluNode(p),
             lambda r, b, f: [away_from_zero(r, b, f)], lambda x: [x * (x > 0)]),
    NodeCase(n.SoftmaxNode, lambda p: n.SoftmaxNode(p),
             lambda r, b, f: [3 * normal(r, b, f)], lambda x: [ref_softmax(x)]),
    NodeCase(n.AdditionNode, lambda p: n.AdditionNode(p),
             lambda r, b, f: [normal(r, b, f), normal(r, b, f)], lambda a, c: [a + c]),
    NodeCase(n.SubtractionNode, lambda p: n.SubtractionNode(p),
             lambda r, b, f: [normal(r, b, f), normal(r, b, f)], lambda a, c: [a - c]),
    NodeCase(n.EWMultiplicationNode, lambda p: n.EWMultiplicationNode(p),
             lambda r, b, f: [normal(r, b, f), normal(r, b, f)], lambda a, c: [a * c]),
    NodeCase(n.ScalarMultiplicationNode, lambda p: n.ScalarMultiplicationNode(p, -2.5),
             lambda r, b, f: [normal(r, b, f)], lambda x: [-2.5 * x]),
    NodeCase(n.SumNode, lambda p: n.SumNode(p),
             lambda r, b, f: [normal(r, b, f) for _ in range(3)], lambda *xs: [sum(xs)]),
    NodeCase(n.Norm2Node, lambda p: n.Norm2Node(p),
             lambda r, b, f: [normal(r, b, f)], lambda x: [np.sum(x ** 2)]),
    NodeCase(n.MultiplicationNode, lambda p: n.MultiplicationNode(p),
             lambda r, b, f: [normal(r, b, f), normal(r, f, f + 2)],
             lambda x, w: [np.einsum("bi,io->bo", x, w)]),
    NodeCase(n.AddBiasNode, lambda p: n.AddBiasNode(p),
             lambda r, b, f: [normal(r, b, f)],
             lambda x: [np.hstack([np.ones((x.shape[0], 1)), x])]),
    NodeCase(n.LinearNode, lambda p: n.LinearNode(p),
             lambda r, b, f: [normal(r, b, f), normal(r, f, f + 1), normal(r, f + 1)],
             lambda x, w, c: [np.einsum("bi,io->bo", x, w) + c[None, :]]),
    NodeCase(n.SelectionNode, lambda p: n.SelectionNode(p, 1, 3),
             lambda r, b, f: [normal(r, b, f + 3)], lambda x: [x[:, 1:3]]),
    NodeCase(n.ConcatenationNode, lambda p: n.ConcatenationNode(p),
             lambda r, b, f: [normal(r, b, f), normal(r, b, 2), normal(r, b, 1)],
             lambda *xs: [np.hstack(xs)]),
    NodeCase(n.SplitNode, lambda p: n.SplitNode(p, [2, 1, 3]),
             lambda r, b, f: [normal(r, b, 6)], lambda x: [x[:, :2], x[:, 2:3], x[:, 3:]]),
    NodeCase(n.SquaredErrorNode, lambda p: n.SquaredErrorNode(p),
             lambda r, b, f: [normal(r, b, f), normal(r, b, f)],
             lambda y, p: [np.sum((p - y) ** 2)]),
    NodeCase(n.BinaryCrossEntropyNode, lambda p: n.BinaryCrossEntropyNode(p),
             lambda r, b, f: [probabilities(r, b, f), probabilities(r, b, f)],
             lambda y, p: [-np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))]),
    NodeCase(n.CategoricalCrossEntropyNode, lambda p: n.CategoricalCrossEntropyNode(p),
             lambda r, b, f: [softmax_rows(r, b, f), softmax_rows(r, b, f)],
             lambda y, p: [-np.sum(y * np.log(p))]),
    NodeCase(n.SoftmaxCrossEntropyNode, lambda p: n.SoftmaxCrossEntropyNode(p),
             lambda r, b, f: [one_hot(r, b, f), 4 * normal(r, b, f)],
             lambda y, z: [-np.sum(y * np.log(ref_softmax(z)))], label="one-hot"),
    NodeCase(n.SoftmaxCrossEntropyNode, lambda p: n.SoftmaxCrossEntropyNode(p),
             lambda r, b, f: [softmax_rows(r, b, f) * (r.uniform(size=(b, 1)) > 0.3),
                              4 * normal(r, b, f)],
             lambda y, z: [-np.sum(y * np.log(ref_softmax(z)))], label="soft-masked"),
    NodeCase(n.SigmoidBinaryCrossEntropyNode, lambda p: n.SigmoidBinaryCrossEntropyNode(p),
             lambda r, b, f: [probabilities(r, b, f), 4 * normal(r, b, f)],
             lambda y, z: [-np.sum(y * np.log(ref_sigmoid(z))
                                   + (1 - y) * np.log(1 - ref_sigmoid(z)))]),
    # Sequences (time first) and recurrent steps: dagnet/nodes/sequence.py, recurrent.py.
    NodeCase(n.UnstackNode, lambda p: n.UnstackNode(p, 3),
             lambda r, b, f: [normal(r, 3, b, f)], lambda x: [x[0], x[1], x[2]]),
    NodeCase(n.StackNode, lambda p: n.StackNode(p),
             lambda r, b, f: [normal(r, b, f) for _ in range(3)],
             lambda *xs: [np.array(xs)]),
    NodeCase(n.SequenceLinearNode, lambda p: n.SequenceLinearNode(p),
             lambda r, b, f: [normal(r, 2, b, f), normal(r, f, f + 1), normal(r, f + 1)],
             lambda x, w, c: [np.einsum("tbi,io->tbo", x, w) + c]),
    NodeCase(n.OneHotLinearNode, lambda p: n.OneHotLinearNode(p),
             lambda r, b, f: [r.integers(0, f, (2, b)).astype(float), normal(r, f, f + 1),
                              normal(r, f + 1)],
             lambda i, w, c: [np.eye(len(w))[i.astype(int)] @ w + c],
             differentiable=(False, True, True)),
    NodeCase(n.MultiplyAddNode, lambda p: n.MultiplyAddNode(p),
             lambda r, b, f: [normal(r, b, f + 2), normal(r, b, f), normal(r, f, f + 2)],
             lambda a, x, w: [a + np.einsum("bi,io->bo", x, w)]),
    NodeCase(n.LSTMStepNode, lambda p: n.LSTMStepNode(p),
             lambda r, b, f: [normal(r, b, f), 2 * normal(r, b, 4 * f)],
             lambda c, z: ref_lstm_step(c, z)),
    NodeCase(n.GRUStepNode, lambda p: n.GRUStepNode(p),
             lambda r, b, f: [normal(r, b, f), 2 * normal(r, b, 3 * f), 2 * normal(r, b, 3 * f)],
             lambda h, xz, hz: ref_gru_step(h, xz, hz)),
    NodeCase(n.LSTMLayerNode, lambda p: n.LSTMLayerNode(p),
             lambda r, b, f: [2 * normal(r, 3, b, 4 * f), normal(r, b, f), normal(r, b, f),
                              normal(r, f, 4 * f) / np.sqrt(f)],
             lambda xz, h, c, u: ref_lstm_layer(xz, h, c, u)),
    NodeCase(n.EmbeddingNode, lambda p: n.EmbeddingNode(p),
             lambda r, b, f: [r.integers(0, f, (2, b)), normal(r, f, f + 1)],
             lambda i, w: [np.eye(len(w))[i] @ w], differentiable=(False, True)),
    # Tensors of any rank (dagnet/nodes/tensor.py): batched shapes built from (b, f).
    NodeCase(n.ReshapeNode, lambda p: n.ReshapeNode(p, (0, -1)),
             lambda r, b, f: [normal(r, 2, b, f)], lambda x: [x.reshape(2, -1)]),
    NodeCase(n.ReshapeNode, lambda p: n.ReshapeNode(p, (0, 0, 2, -1)),
             lambda r, b, f: [normal(r, 2, b, 2 * f)], lambda x: [x.reshape(2, len(x[0]), 2, -1)],
             label="heads"),
    NodeCase(n.TransposeNode, lambda p: n.TransposeNode(p, (2, 0, 1)),
             lambda r, b, f: [normal(r, 2, b, f)], lambda x: [np.moveaxis(x, 2, 0)]),
    NodeCase(n.BatchMatMulNode, lambda p: n.BatchMatMulNode(p),
             lambda r, b, f: [normal(r, 2, b, f), normal(r, 2, f, f + 1)],
             lambda a, c: [np.einsum("zmk,zkn->zmn", a, c)]),
    NodeCase(n.BatchMatMulNode, lambda p: n.BatchMatMulNode(p, transpose_a=True),
             lambda r, b, f: [normal(r, 2, f, b), normal(r, 2, f, f + 1)],
             lambda a, c: [np.einsum("zkm,zkn->zmn", a, c)], label="transpose_a"),
    NodeCase(n.BatchMatMulNode, lambda p: n.BatchMatMulNode(p, transpose_b=True),
             lambda r, b, f: [normal(r, 2, 3, b, f), normal(r, 2, 3, f + 1, f)],
             lambda a, c: [np.einsum("zhmk,zhnk->zhmn", a, c)], label="transpose_b"),
    NodeCase(n.BatchMatMulNode, lambda p: n.BatchMatMulNode(p, True, True),
             lambda r, b, f: [normal(r, 2, f, b), normal(r, 2, f + 1, f)],
             lambda a, c: [np.einsum("zkm,znk->zmn", a, c)], label="both"),
    NodeCase(n.BatchMatMulNode, lambda p: n.BatchMatMulNode(p),
             lambda r, b, f: [normal(r, 2, b, f), normal(r, f, f + 1)],
             lambda a, c: [np.einsum("zmk,kn->zmn", a, c)], label="shared"),
    NodeCase(n.BatchMatMulNode, lambda p: n.BatchMatMulNode(p, transpose_b=True),
             lambda r, b, f: [normal(r, 2, b, f), normal(r, f + 1, f)],
             lambda a, c: [np.einsum("zmk,nk->zmn", a, c)], label="shared-transposed"),
    NodeCase(n.BatchMatMulNode, lambda p: n.BatchMatMulNode(p, transpose_a=True),
             lambda r, b, f: [normal(r, 2, f, b), normal(r, f, f + 1)],
             lambda a, c: [np.einsum("zkm,kn->zmn", a, c)], label="shared-transpose_a"),
    NodeCase(n.AxisSumNode, lambda p: n.AxisSumNode(p, axis=1),
             lambda r, b, f: [normal(r, 2, b, f)], lambda x: [x.sum(axis=1)]),
    NodeCase(n.AxisSumNode, lambda p: n.AxisSumNode(p, axis=0, keepdims=True),
             lambda r, b, f: [normal(r, 2, b, f)], lambda x: [x[:1] + x[1:]], label="keepdims"),
    NodeCase(n.AxisMeanNode, lambda p: n.AxisMeanNode(p, axis=-1, keepdims=True),
             lambda r, b, f: [normal(r, 2, b, f)],
             lambda x: [x.sum(axis=-1, keepdims=True) / x.shape[-1]]),
    NodeCase(n.AxisSoftmaxNode, lambda p: n.AxisSoftmaxNode(p, axis=1),
             lambda r, b, f: [3 * normal(r, 2, b, f)],
             lambda x: [np.moveaxis(ref_softmax(np.moveaxis(x, 1, -1)), -1, 1)]),
    NodeCase(n.AxisSoftmaxNode, lambda p: n.AxisSoftmaxNode(p),
             lambda r, b, f: [3 * normal(r, 2, b, f)], lambda x: [ref_softmax(x)], label="last"),
    # A finite fill: the table's check sums ⟨R, y⟩, which -inf (the default) would make NaN.
    NodeCase(n.CausalMaskNode, lambda p: n.CausalMaskNode(p, fill=-30.0),
             lambda r, b, f: [normal(r, 2, b, b)],
             lambda x: [x * np.tri(len(x[0])) - 30.0 * (1 - np.tri(len(x[0])))]),
    NodeCase(n.AxisSplitNode, lambda p: n.AxisSplitNode(p, [1, 2, 3], axis=1),
             lambda r, b, f: [normal(r, 2, 6, f)],
             lambda x: [x[:, :1], x[:, 1:3], x[:, 3:]]),
    NodeCase(n.BroadcastAddNode, lambda p: n.BroadcastAddNode(p),
             lambda r, b, f: [normal(r, 2, b, f), normal(r, b, f)],
             lambda x, c: [x + c[None]], label="positions"),
    NodeCase(n.BroadcastAddNode, lambda p: n.BroadcastAddNode(p),
             lambda r, b, f: [normal(r, 2, b, f), normal(r, 2, 1, f)],
             lambda x, c: [x + np.repeat(c, x.shape[1], axis=1)], label="stretched"),
    NodeCase(n.BroadcastMultiplyNode, lambda p: n.BroadcastMultiplyNode(p),
             lambda r, b, f: [normal(r, 2, b, f), normal(r, f)],
             lambda x, s: [x * s[None, None]], label="features"),
    NodeCase(n.BroadcastMultiplyNode, lambda p: n.BroadcastMultiplyNode(p),
             lambda r, b, f: [normal(r, 2, b, f), normal(r, 2, b, 1)],
             lambda x, s: [x * np.repeat(s, x.shape[2], axis=2)], label="rows"),
    # The transformer (dagnet/nodes/transformer.py) and its loss on integer targets.
    NodeCase(n.LayerNormNode, lambda p: n.LayerNormNode(p),
             lambda r, b, f: [2 * normal(r, 2, b, f) + 1, normal(r, f), normal(r, f)],
             lambda x, g, c: [ref_layer_norm(x, g, c)]),
    NodeCase(n.GELUNode, lambda p: n.GELUNode(p),
             lambda r, b, f: [3 * normal(r, 2, b, f)], lambda x: [ref_gelu(x, "none")],
             label="exact"),
    NodeCase(n.GELUNode, lambda p: n.GELUNode(p, approximate="tanh"),
             lambda r, b, f: [3 * normal(r, 2, b, f)], lambda x: [ref_gelu(x, "tanh")],
             label="tanh"),
    NodeCase(n.MultiHeadAttentionNode, lambda p: n.MultiHeadAttentionNode(p, n_heads=2),
             lambda r, b, f: [normal(r, 2, b, 2 * f) for _ in range(3)],
             lambda q, k, v: [ref_attention(q, k, v, 2)], label="causal"),
    NodeCase(n.MultiHeadAttentionNode,
             lambda p: n.MultiHeadAttentionNode(p, n_heads=2, causal=False),
             lambda r, b, f: [normal(r, 2, b, 2 * f) for _ in range(3)],
             lambda q, k, v: [ref_attention(q, k, v, 2, causal=False)], label="full"),
    NodeCase(n.PositionEmbeddingNode, lambda p: n.PositionEmbeddingNode(p),
             lambda r, b, f: [normal(r, 2, b, f), normal(r, b + 2, f)],
             lambda x, p: [x + p[None, :x.shape[1]]]),
    NodeCase(n.SparseSoftmaxCrossEntropyNode, lambda p: n.SparseSoftmaxCrossEntropyNode(p),
             lambda r, b, f: [r.integers(0, f, (2, b)), 4 * normal(r, 2, b, f)],
             lambda i, z: [ref_sparse_cross_entropy(i, z)], differentiable=(False, True)),
]
