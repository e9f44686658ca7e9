"""The table of every node type: how to build it, its inputs, and a NumPy reference.

Each case gives ``make(parents) -> node``, ``inputs(rng, n, m)`` (arrays for a batch of
n rows and m features; image cases make n images of 2 channels and (m+1)×m pixels),
``reference(*inputs) -> list of outputs`` computed independently of dagnet, and which
inputs are differentiable.  tests/nodes/test_table.py runs the
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


def ref_gru_layer(xz, h, u):
    """hs and h_T of a GRU layer: ``ref_gru_step`` applied step by step."""
    hs = []
    for t in range(len(xz)):
        (h,) = ref_gru_step(h, xz[t], h @ u)
        hs.append(h)
    return [np.array(hs), h]


def ref_rnn_layer(xz, h, u):
    """hs and h_T of a plain RNN layer, h_t = tanh(xz_t + h_{t-1}·U)."""
    hs = []
    for t in range(len(xz)):
        h = np.tanh(xz[t] + h @ u)
        hs.append(h)
    return [np.array(hs), h]
def images(rng, b, f, channels=2):
    """b images of (f+1)×f pixels: not square, so that swapped height and width show."""
    return rng.standard_normal((b, channels, f + 1, f))


def distinct_images(rng, b, f, channels=2):
    """Like ``images``, with values at least 4/size apart: a max never changes hands
    within a central difference."""
    shape = (b, channels, f + 1, f)
    size = int(np.prod(shape))
    return (rng.permutation(size) * (4 / size) - 2).reshape(shape)


def ref_conv2d(x, w, b=None, stride=(1, 1), padding=(0, 0)):
    """Cross-correlation by a sum over the kernel positions of shifted, strided images."""
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n_out, _, kh, kw = w.shape
    Ho, Wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    y = np.zeros((x.shape[0], n_out, Ho, Wo))
    for u in range(kh):
        for v in range(kw):
            patch = xp[:, :, u:u + sh * (Ho - 1) + 1:sh, v:v + sw * (Wo - 1) + 1:sw]
            y += np.einsum("bchw,oc->bohw", patch, w[:, :, u, v])
    return y if b is None else y + b[None, :, None, None]


def ref_pool(x, kernel, stride, reduce):
    """``reduce`` (np.max, np.mean) of every window, one output pixel at a time."""
    Ho, Wo = (x.shape[2] - kernel) // stride + 1, (x.shape[3] - kernel) // stride + 1
    y = np.empty(x.shape[:2] + (Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            window = x[:, :, stride * i:stride * i + kernel, stride * j:stride * j + kernel]
            y[:, :, i, j] = reduce(window, axis=(2, 3))
    return y


def ref_batch_norm(x, gamma, beta, mean=None, var=None, eps=1e-5):
    """Per feature (axis 1); batch statistics unless ``mean`` and ``var`` are given."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if mean is None:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    x_hat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return x_hat * gamma.reshape(shape) + beta.reshape(shape)


RUNNING_MEAN, RUNNING_VAR = np.array([0.3, -0.2]), np.array([0.5, 2.0])


def batch_norm_in_eval(parents):
    node = n.BatchNormNode(parents, 2)
    node.load_state_arrays({"running_mean": RUNNING_MEAN, "running_var": RUNNING_VAR})
    node.training = False
    return node


def dropout_in_eval(parents):
    node = n.DropoutNode(parents, 0.3, rng=np.random.default_rng(42))
    node.training = False
    return node


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
    NodeCase(n.LayerNormNode, lambda p: n.LayerNormNode(p),
             lambda r, b, f: [2 * normal(r, 2, b, f) + 1, normal(r, f)],
             lambda x, g: [ref_layer_norm(x, g, 0.0)], label="no-bias"),
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
    NodeCase(n.GRULayerNode, lambda p: n.GRULayerNode(p),
             lambda r, b, f: [2 * normal(r, 3, b, 3 * f), normal(r, b, f),
                              normal(r, f, 3 * f) / np.sqrt(f)],
             lambda xz, h, u: ref_gru_layer(xz, h, u)),
    NodeCase(n.RNNLayerNode, lambda p: n.RNNLayerNode(p),
             lambda r, b, f: [normal(r, 3, b, f), normal(r, b, f), normal(r, f, f) / np.sqrt(f)],
             lambda xz, h, u: ref_rnn_layer(xz, h, u)),
    # Images (B, C, H, W): dagnet/nodes/convolution.py, normalization.py, FlattenNode.
    NodeCase(n.Conv2DNode, lambda p: n.Conv2DNode(p, stride=1, padding=1),
             lambda r, b, f: [images(r, b, f), normal(r, 3, 2, 3, 3), normal(r, 3)],
             lambda x, w, c: [ref_conv2d(x, w, c, padding=(1, 1))], label="bias"),
    NodeCase(n.Conv2DNode, lambda p: n.Conv2DNode(p, stride=2, padding=(1, 0)),
             lambda r, b, f: [images(r, b, f), normal(r, 3, 2, 3, 2)],
             lambda x, w: [ref_conv2d(x, w, stride=(2, 2), padding=(1, 0))], label="strided"),
    NodeCase(n.MaxPool2DNode, lambda p: n.MaxPool2DNode(p, 2),
             lambda r, b, f: [distinct_images(r, b, f)],
             lambda x: [ref_pool(x, 2, 2, np.max)], label="tiled"),
    NodeCase(n.MaxPool2DNode, lambda p: n.MaxPool2DNode(p, 3, stride=2),
             lambda r, b, f: [distinct_images(r, b, f)],
             lambda x: [ref_pool(x, 3, 2, np.max)], label="overlapping"),
    NodeCase(n.AvgPool2DNode, lambda p: n.AvgPool2DNode(p, 2),
             lambda r, b, f: [images(r, b, f)],
             lambda x: [ref_pool(x, 2, 2, np.mean)], label="tiled"),
    NodeCase(n.AvgPool2DNode, lambda p: n.AvgPool2DNode(p, 3, stride=2),
             lambda r, b, f: [images(r, b, f)],
             lambda x: [ref_pool(x, 3, 2, np.mean)], label="overlapping"),
    NodeCase(n.GlobalAveragePoolNode, lambda p: n.GlobalAveragePoolNode(p),
             lambda r, b, f: [images(r, b, f)], lambda x: [x.mean(axis=(2, 3))]),
    NodeCase(n.FlattenNode, lambda p: n.FlattenNode(p),
             lambda r, b, f: [images(r, b, f)], lambda x: [x.reshape(len(x), -1)]),
    NodeCase(n.BatchNormNode, lambda p: n.BatchNormNode(p, 2),
             lambda r, b, f: [2 * images(r, b, f) + 1, normal(r, 2), normal(r, 2)],
             lambda x, g, c: [ref_batch_norm(x, g, c)], label="images"),
    NodeCase(n.BatchNormNode, lambda p: n.BatchNormNode(p, 4),
             lambda r, b, f: [2 * normal(r, b, 4) - 1, normal(r, 4), normal(r, 4)],
             lambda x, g, c: [ref_batch_norm(x, g, c)], label="rows"),
    NodeCase(n.BatchNormNode, batch_norm_in_eval,
             lambda r, b, f: [images(r, b, f), normal(r, 2), normal(r, 2)],
             lambda x, g, c: [ref_batch_norm(x, g, c, RUNNING_MEAN, RUNNING_VAR)],
             label="eval"),
    NodeCase(n.DropoutNode, lambda p: n.DropoutNode(p, 0.3, rng=np.random.default_rng(42)),
             lambda r, b, f: [images(r, b, f)],
             lambda x: [x * (np.random.default_rng(42).random(x.shape) >= 0.3) / 0.7]),
    NodeCase(n.DropoutNode, dropout_in_eval,
             lambda r, b, f: [images(r, b, f)], lambda x: [x], label="eval"),
]
