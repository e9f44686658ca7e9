"""Convolution and pooling over images, in PyTorch's layouts: images x:(B, C, H, W),
convolution weights W:(O, C, kh, kw), biases b:(O,).

Two helpers vectorise everything.  ``im2col`` copies every receptive field of
the zero-padded input into a column (one strided copy out of
``sliding_window_view``), so that a convolution is one matrix product.
``col2im``, its adjoint, sums columns back into the pixels they came from: one
strided write into a zeroed buffer in which no two windows overlap, then one
sum over the kernel positions.  No Python loop runs over the pixels or the
kernel positions; a convolution's forward pass goes through the batch in blocks
of images whose columns fit in cache (``convolve``, ``BLOCK_BYTES``), each block
one im2col and one product.  Pooling copies its windows the same way, window
position first, and reduces over that axis.

The copies dominate the cost (the products are thin: few channels), so nodes
keep their large scratch arrays between calls (``scratch``) and a stride-1
convolution's dJ/dx is computed as a convolution of dJ/dy when that copies less
than col2im would.

Along each spatial axis the output has ⌊(n + 2p − k)/s⌋ + 1 positions for an
input of n, padding p, kernel k and stride s (PyTorch's floor mode: rows and
columns that no window reaches get a zero gradient).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from dagnet.errors import GraphError, ShapeError
from dagnet.node import Node, register_node
from dagnet.schema import pair
from dagnet.threads import parallel_map, worker_count

Pair = tuple[int, int]


def as_pair(value: int | Sequence[int], what: str, minimum: int) -> Pair:
    """``3 -> (3, 3)``, ``(3, 2) -> (3, 2)``; GraphError if not integers >= minimum."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if (len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair)
            or min(pair) < minimum):
        raise GraphError(f"{what} must be an integer >= {minimum} or a pair of them, "
                         f"got {value!r}")
    return int(pair[0]), int(pair[1])


def output_size(size: int, kernel: int, stride: int, padding: int = 0) -> int:
    """Positions of a window along one axis: ⌊(size + 2·padding − kernel)/stride⌋ + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def pad_images(x: np.ndarray, padding: Pair) -> np.ndarray:
    """x:(B, C, H, W) with ``padding`` rows and columns of zeros on each side."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    B, C, H, W = x.shape
    padded = np.zeros((B, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
    padded[:, :, ph:ph + H, pw:pw + W] = x
    return padded


def image_windows(x: np.ndarray, kernel: Pair, stride: Pair) -> np.ndarray:
    """The (kh, kw) windows of x:(B, C, H, W) every ``stride`` pixels, as a view:
    (B, C, Ho, Wo, kh, kw), element [b, c, i, j, u, v] = x[b, c, sh·i + u, sw·j + v]."""
    windows = sliding_window_view(x, kernel, axis=(2, 3))
    return windows[:, :, ::stride[0], ::stride[1]]


def scratch(reuse: np.ndarray | None, shape: Sequence[int], dtype) -> np.ndarray:
    """``reuse`` if it has this shape and dtype, else a new empty array.

    A node keeps its large temporaries (never its outputs) from one call to the
    next: allocating and touching fresh pages costs as much as a copy, and beyond
    glibc's 32 MB mmap threshold every allocation gets fresh pages.
    """
    if reuse is not None and reuse.shape == tuple(shape) and reuse.dtype == dtype:
        return reuse
    return np.empty(shape, dtype=dtype)


def im2col(x: np.ndarray, kernel: Pair, stride: Pair = (1, 1), padding: Pair = (0, 0),
           out: np.ndarray | None = None) -> np.ndarray:
    """The receptive fields of x:(B, C, H, W) as columns: (C·kh·kw, B·Ho·Wo).

    Row (c, u, v), column (b, i, j) holds xp[b, c, sh·i + u, sw·j + v], xp being x
    zero-padded; a convolution is then W.reshape(O, -1) @ im2col(x).  One copy,
    whose innermost run follows the image rows, into ``out`` when it has the
    right shape and dtype (see ``scratch``)::

        >>> im2col(np.arange(9.).reshape(1, 1, 3, 3), (2, 2)).shape
        (4, 4)
    """
    B, C, H, W = x.shape
    Ho, Wo = (output_size(n, k, s, p) for n, k, s, p in zip((H, W), kernel, stride, padding))
    cols = scratch(out, (C * kernel[0] * kernel[1], B * Ho * Wo), x.dtype)
    return im2col_into(cols, x, kernel, stride, padding)


def im2col_into(cols: np.ndarray, x: np.ndarray, kernel: Pair, stride: Pair,
                padding: Pair) -> np.ndarray:
    """``im2col(x)`` written into ``cols``, which may be a view with strided rows (a
    block of columns of a larger array); returns ``cols``."""
    windows = image_windows(pad_images(x, padding), kernel, stride)
    B, C, Ho, Wo, kh, kw = windows.shape
    np.copyto(cols.reshape(C, kh, kw, B, Ho, Wo), windows.transpose(1, 4, 5, 0, 2, 3))
    return cols


# A convolution runs its im2col and its product a block of images at a time, the
# block's columns at most this many bytes: written, then read by the product while
# they are still in cache.  Measured on the cnn's 3×3 layers (one thread): 1.3x
# faster at batch 128 and 2.3–2.9x at 1,000 images than one im2col of the whole
# batch, with blocks of 16 images (3.6 MB for 8 channels at 28×28) about the best.
BLOCK_BYTES = 4 << 20


def images_per_block(bytes_per_image: int, batch: int) -> int:
    return max(1, min(batch, BLOCK_BYTES // max(1, bytes_per_image)))


def convolve(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair,
             bias: np.ndarray | None = None, cols: np.ndarray | None = None,
             workspace: dict | None = None) -> np.ndarray:
    """y = conv2d(x, W) + b: x:(B, C, H, W), W:(O, C, kh, kw) -> (B, O, Ho, Wo).

    Block by block (``BLOCK_BYTES``): im2col of the block's images, one product,
    and its copy into y's layout, bias added on the way.  With more than one thread
    (``dagnet.threads``) the blocks are shared out in contiguous runs, one per
    thread (``parallel_map``): the copies then run in parallel too, not only the
    products.  ``cols``, if given, is the whole batch's (C·kh·kw, B·Ho·Wo) im2col to
    fill (a backward pass reads it); otherwise each run's columns go into a scratch
    array of ``workspace``, a dict the caller keeps between calls.
    """
    B, C, H, W = x.shape
    n_out, kernel = w.shape[0], w.shape[2:]
    Ho, Wo = (output_size(n, k, s, p) for n, k, s, p in zip((H, W), kernel, stride, padding))
    K, pixels = C * kernel[0] * kernel[1], Ho * Wo
    dtype = np.result_type(x, w)
    wm = w.reshape(n_out, K)
    workspace = {} if workspace is None else workspace
    y = np.empty((B, n_out, Ho, Wo), dtype=dtype)
    step = images_per_block(K * pixels * x.itemsize, B)
    starts = list(range(0, B, step))
    runs = np.array_split(np.arange(len(starts)), min(len(starts), worker_count()))

    def run(k: int) -> None:
        names = (f"cols{k}", f"product{k}")
        for start in (starts[i] for i in runs[k]):
            stop = min(B, start + step)
            n = stop - start
            if cols is not None:
                block_cols = cols.reshape(K, B, pixels)[:, start:stop].reshape(K, n * pixels)
            else:
                workspace[names[0]] = scratch(workspace.get(names[0]), (K, step * pixels),
                                              x.dtype)
                block_cols = workspace[names[0]][:, :n * pixels]
            im2col_into(block_cols, x[start:stop], kernel, stride, padding)
            workspace[names[1]] = scratch(workspace.get(names[1]), (n_out, step * pixels), dtype)
            product = np.matmul(wm, block_cols, out=workspace[names[1]][:, :n * pixels])
            images = product.reshape(n_out, n, Ho, Wo).transpose(1, 0, 2, 3)
            if bias is None:
                np.copyto(y[start:stop], images)
            else:
                np.add(images, bias.reshape(-1, 1, 1), out=y[start:stop])

    parallel_map(run, range(len(runs)))
    return y


# dJ/dW splits its sum over output pixels between threads only in runs at least this long.
MIN_COLUMNS_PER_RUN = 4096


def weight_gradient(g: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """G·colsᵀ for G:(O, N), cols:(K, N) -> (O, K), N being every output pixel of the batch.

    Computed as (cols·Gᵀ)ᵀ: with few output channels, OpenBLAS is 2–4 times faster
    with the thin operand on the right (measured for (8, 100352)·(100352, 72)).  With
    more than one thread each takes a run of the N columns and the partial sums are
    added (``parallel_map``).
    """
    n = g.shape[1]
    pieces = min(worker_count(), max(1, n // MIN_COLUMNS_PER_RUN))
    edges = [n * k // pieces for k in range(pieces + 1)]
    parts = parallel_map(lambda k: cols[:, edges[k]:edges[k + 1]] @ g[:, edges[k]:edges[k + 1]].T,
                         range(pieces))
    return np.ascontiguousarray(sum(parts[1:], parts[0]).T)


def fold_workspace(values_shape: Sequence[int], padded_size: Pair, dtype,
                   reuse: np.ndarray | None = None) -> np.ndarray:
    """The zeroed buffer ``fold_windows`` writes in: ``reuse`` if it fits, else a new one."""
    shape = tuple(values_shape[:4]) + tuple(padded_size)
    if reuse is not None and reuse.shape == shape and reuse.dtype == dtype:
        return reuse
    return np.zeros(shape, dtype=dtype)


def fold_windows(values: np.ndarray, padded_size: Pair, stride: Pair,
                 workspace: np.ndarray | None = None) -> np.ndarray:
    """Sum window values (B, C, kh, kw, Ho, Wo) into the pixels they cover: (B, C, Hp, Wp).

    Value [b, c, u, v, i, j] goes to pixel (sh·i + u, sw·j + v).  Each kernel
    position (u, v) gets a plane of its own in a zeroed (B, C, kh, kw, Hp, Wp)
    buffer, written through a skewed view (offset (u, v) in plane (u, v)) where
    no two values collide; summing the planes adds the overlaps.  A ``workspace``
    (from ``fold_workspace``) that a previous call with the same shapes and stride
    used saves zeroing it again: the same positions are overwritten, the others
    stay zero.
    """
    B, C, kh, kw, Ho, Wo = values.shape
    workspace = fold_workspace(values.shape, padded_size, values.dtype, workspace)
    sb, sc, su, sv, sy, sx = workspace.strides
    skewed = as_strided(workspace, values.shape,
                        (sb, sc, su + sy, sv + sx, stride[0] * sy, stride[1] * sx))
    np.copyto(skewed, values)
    return workspace.reshape(B, C, kh * kw, -1).sum(axis=2).reshape(B, C, *padded_size)


def col2im(cols: np.ndarray, image_shape: Sequence[int], kernel: Pair, stride: Pair = (1, 1),
           padding: Pair = (0, 0)) -> np.ndarray:
    """The adjoint of ``im2col``: cols:(C·kh·kw, B·Ho·Wo) -> an image (B, C, H, W) where
    every pixel gets the sum of the column entries copied from it."""
    B, C, H, W = image_shape
    (kh, kw), (ph, pw) = kernel, padding
    Hp, Wp = H + 2 * ph, W + 2 * pw
    Ho, Wo = output_size(Hp, kh, stride[0]), output_size(Wp, kw, stride[1])
    values = cols.reshape(C, kh, kw, B, Ho, Wo).transpose(3, 0, 1, 2, 4, 5)
    return fold_windows(values, (Hp, Wp), stride)[:, :, ph:ph + H, pw:pw + W]


def check_images(node: Node, x: np.ndarray, what: str = "input") -> None:
    if x.ndim != 4:
        raise ShapeError(f"{node.describe()}: {what} must be images (batch, channels, "
                         f"height, width), got shape {x.shape}")


def check_window_fits(node: Node, x: np.ndarray, kernel: Pair, padding: Pair) -> None:
    if min(x.shape[2] + 2 * padding[0] - kernel[0], x.shape[3] + 2 * padding[1] - kernel[1]) < 0:
        raise ShapeError(f"{node.describe()}: a {kernel[0]}x{kernel[1]} window does not fit "
                         f"in images of shape {x.shape} padded by {padding}")


def product_into(reuse: np.ndarray | None, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b written into ``reuse`` when it fits (see ``scratch``)."""
    out = scratch(reuse, (a.shape[0], b.shape[1]), np.result_type(a, b))
    return np.matmul(a, b, out=out)


def flipped_kernel(w: np.ndarray) -> np.ndarray:
    """W:(O, C, kh, kw) rotated by 180° with its channels swapped: (C, O, kh, kw)."""
    return np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))


@register_node
class Conv2DNode(Node):
    """PyTorch's conv2d (a cross-correlation); inputs x, W and optionally b.

    y[b,o,i,j] = Σ_c,u,v W[o,c,u,v]·xp[b,c,s·i+u,s·j+v] + b[o], xp = x padded by p:
    Y = Wm·cols with Wm = W as (O, C·kh·kw) and cols = im2col(x):(C·kh·kw, B·Ho·Wo).
    dJ/dW = G·colsᵀ, dJ/db = Σ_b,i,j G, dJ/dx = col2im(Wmᵀ·G), G = dJ/dy as (O, B·Ho·Wo).
    x:(B, C, H, W), W:(O, C, kh, kw), b:(O,) -> (B, O, Ho, Wo), Ho = ⌊(H+2p−kh)/s⌋+1.

    With stride 1, when it moves fewer bytes (O·H·W ≤ 2·C·Ho·Wo, "same" convolutions),
    dJ/dx is computed as the equal convolution of G padded by k−1−p with W flipped
    and transposed: one im2col and one product, no col2im.

    Both modes compute the same y; the mode decides what is kept.  In training mode
    the node keeps the whole batch's cols for dJ/dW; in inference mode (``Graph.eval``)
    each block's columns go to a small scratch array and are gone after the product
    (a gradient asked for in inference mode computes cols again).
    """

    config_schema = {"stride": pair(1), "padding": pair(0)}
    mode_dependent = True

    def __init__(self, parents, stride: int | Sequence[int] = 1,
                 padding: int | Sequence[int] = 0, name: str | None = None):
        super().__init__(parents, name=name)
        if len(self.parents) not in (2, 3):
            raise GraphError(f"{self.describe()}: needs inputs (x, W) or (x, W, b), got "
                             f"{len(self.parents)}")
        self.stride = as_pair(stride, f"{self.describe()}: stride", 1)
        self.padding = as_pair(padding, f"{self.describe()}: padding", 0)
        self.training = True
        self.cols: np.ndarray | None = None
        self._kept_cols: np.ndarray | None = None
        # Scratch arrays kept between calls (see ``scratch``), never handed out.
        self._workspace: dict = {}
        self._gradient_workspace: dict = {}
        self._rows: np.ndarray | None = None
        self._gradient_product: np.ndarray | None = None
        self._fold_workspace: np.ndarray | None = None

    def config(self) -> dict:
        return {"stride": list(self.stride), "padding": list(self.padding)}

    def _check(self) -> None:
        x, w = self.x[0], self.x[1]
        check_images(self, x)
        check_images(self, w, "W")
        if x.shape[1] != w.shape[1]:
            raise ShapeError(f"{self.describe()}: W {w.shape} expects {w.shape[1]} input "
                             f"channels, x {x.shape} has {x.shape[1]}")
        if len(self.x) == 3 and self.x[2].shape != w.shape[:1]:
            raise ShapeError(f"{self.describe()}: b must have shape ({w.shape[0]},) for W "
                             f"{w.shape}, got {self.x[2].shape}")
        check_window_fits(self, x, w.shape[2:], self.padding)

    def compute_output(self):
        self._check()
        x, w = self.x[0], self.x[1]
        self.cols = None
        if self.training:
            Ho, Wo = (output_size(n, k, s, p) for n, k, s, p in
                      zip(x.shape[2:], w.shape[2:], self.stride, self.padding))
            self._kept_cols = scratch(self._kept_cols, (w[0].size, x.shape[0] * Ho * Wo),
                                      x.dtype)
            self.cols = self._kept_cols
        return [convolve(x, w, self.stride, self.padding, self.x[2] if len(self.x) == 3 else None,
                         cols=self.cols, workspace=self._workspace)]

    def compute_gradient(self):
        w, images = self.x[1], self.dJdy[0]
        self._rows = scratch(self._rows, (images.shape[1], images.shape[0]) + images.shape[2:],
                             images.dtype)
        np.copyto(self._rows, images.transpose(1, 0, 2, 3))
        g = self._rows.reshape(w.shape[0], -1)  # G as (O, B·Ho·Wo)
        dw = None
        if self.wants(1):
            if self.cols is None:  # inference mode kept no columns
                self.cols = im2col(self.x[0], w.shape[2:], self.stride, self.padding)
            dw = weight_gradient(g, self.cols).reshape(w.shape)
        grads = [self._input_gradient(g) if self.wants(0) else None, dw]
        if len(self.x) == 3:
            grads.append(g.sum(axis=1) if self.wants(2) else None)
        return grads

    def _input_gradient(self, g: np.ndarray) -> np.ndarray:
        (_, C, H, W), (n_out, _, kh, kw) = self.x[0].shape, self.x[1].shape
        (ph, pw), (sh, sw) = self.padding, self.stride
        Ho, Wo = output_size(H, kh, sh, ph), output_size(W, kw, sw, pw)
        # im2col of dJ/dy copies O·kh·kw·H·W values per image; col2im moves about
        # 2·C·kh·kw·Ho·Wo (the product's output, then the skewed write and sum).
        if (sh, sw) == (1, 1) and ph < kh and pw < kw and n_out * H * W <= 2 * C * Ho * Wo:
            return self._input_gradient_by_convolution()
        return self._input_gradient_by_col2im(g)

    def _input_gradient_by_convolution(self) -> np.ndarray:
        """Stride 1: dJ/dx = dJ/dy padded by k−1−p, convolved with W flipped, transposed."""
        kh, kw = self.x[1].shape[2:]
        (ph, pw) = self.padding
        return convolve(self.dJdy[0], flipped_kernel(self.x[1]), (1, 1),
                        (kh - 1 - ph, kw - 1 - pw), workspace=self._gradient_workspace)

    def _input_gradient_by_col2im(self, g: np.ndarray) -> np.ndarray:
        """dJ/dx = col2im(Wmᵀ·G), G = dJ/dy as (O, B·Ho·Wo), cropped by the padding."""
        (B, C, H, W), (n_out, _, kh, kw) = self.x[0].shape, self.x[1].shape
        (ph, pw) = self.padding
        Ho, Wo = (output_size(n, k, s, p) for n, k, s, p in
                  zip((H, W), (kh, kw), self.stride, self.padding))
        self._gradient_product = product_into(self._gradient_product,
                                              self.x[1].reshape(n_out, -1).T, g)
        values = self._gradient_product.reshape(C, kh, kw, B, Ho, Wo).transpose(3, 0, 1, 2, 4, 5)
        padded_size = (H + 2 * ph, W + 2 * pw)
        self._fold_workspace = fold_workspace(values.shape, padded_size, values.dtype,
                                              self._fold_workspace)
        padded = fold_windows(values, padded_size, self.stride, self._fold_workspace)
        return padded[:, :, ph:ph + H, pw:pw + W]


def pooling_columns(x: np.ndarray, kernel: Pair, stride: Pair, out: np.ndarray | None = None
                    ) -> np.ndarray:
    """The pooling windows of x:(B, C, H, W) as (kh·kw, B, C, Ho, Wo): row u·kw + v holds
    pixel (u, v) of every window, so that a pooling is a reduction over axis 0.

    One copy (into ``out`` if it fits, see ``scratch``).  Reducing the window axes of
    a view instead would run NumPy's inner loops over kw elements at a time, about
    100 times slower (measured for 2×2).
    """
    windows = image_windows(x, kernel, stride)
    cols = scratch(None if out is None else out.reshape(kernel + out.shape[1:]),
                   kernel + windows.shape[:4], x.dtype)
    np.copyto(cols, windows.transpose(4, 5, 0, 1, 2, 3))
    return cols.reshape((-1,) + windows.shape[:4])


def upsample(a: np.ndarray, kernel: Pair) -> np.ndarray:
    """(B, C, Ho, Wo) -> (B, C, Ho·kh, Wo·kw): each value repeated over a kh×kw block."""
    return a.repeat(kernel[1], axis=3).repeat(kernel[0], axis=2)


def unpool(values: np.ndarray, image_shape: Sequence[int], kernel: Pair, stride: Pair
           ) -> np.ndarray:
    """The adjoint of ``pooling_columns``: values (kh·kw, B, C, Ho, Wo) summed into the
    pixels they came from, (B, C, H, W); pixels that no window covers get 0."""
    B, C, H, W = image_shape
    values = values.reshape(kernel + values.shape[1:])
    return fold_windows(values.transpose(2, 3, 0, 1, 4, 5), (H, W), stride)


def uncrop(block: np.ndarray, image_shape: Sequence[int]) -> np.ndarray:
    """``block`` (B, C, h, w) as the top-left corner of zeros of ``image_shape``."""
    if block.shape == tuple(image_shape):
        return block
    image = np.zeros(image_shape, dtype=block.dtype)
    image[:, :, :block.shape[2], :block.shape[3]] = block
    return image


def pooling_window(node: Node, kernel: int | Sequence[int], stride: int | Sequence[int] | None
                   ) -> tuple[Pair, Pair]:
    """A pooling node's (kernel, stride) pairs; the stride defaults to the kernel."""
    kernel = as_pair(kernel, f"{node.describe()}: kernel", 1)
    return kernel, kernel if stride is None else as_pair(stride, f"{node.describe()}: stride", 1)


@register_node
class MaxPool2DNode(Node):
    """y[b,c,i,j] = max_u,v x[b,c,s·i+u,s·j+v] over a kh×kw window, PyTorch's max_pool2d.

    dJ/dx[b,c,s·i+u,s·j+v] += dJ/dy[b,c,i,j] at the window's maximum (shared equally
    by tied maxima, a subgradient; PyTorch gives it all to the first one).
    x:(B, C, H, W) -> (B, C, Ho, Wo), Ho = ⌊(H − kh)/s⌋ + 1; the stride defaults to the kernel.
    """

    n_inputs = 1
    config_schema = {"kernel": pair(1), "stride": pair(1)}

    def __init__(self, parents, kernel: int | Sequence[int] = 2,
                 stride: int | Sequence[int] | None = None, name: str | None = None):
        super().__init__(parents, name=name)
        self.kernel, self.stride = pooling_window(self, kernel, stride)
        self.cols: np.ndarray | None = None

    def config(self) -> dict:
        return {"kernel": list(self.kernel), "stride": list(self.stride)}

    def compute_output(self):
        x = self.x[0]
        check_images(self, x)
        check_window_fits(self, x, self.kernel, (0, 0))
        self.cols = pooling_columns(x, self.kernel, self.stride, out=self.cols)
        return [self.cols.max(axis=0)]

    def compute_gradient(self):
        x, y = self.x[0], self.y[0]
        is_max = self.cols == y
        share = self.dJdy[0] / is_max.sum(axis=0, dtype=y.dtype)  # ties share
        if self.stride != self.kernel:
            return [unpool(is_max * share, x.shape, self.kernel, self.stride)]
        # Windows that tile the image: the same mask in the image's own layout.
        crop = x[:, :, :y.shape[2] * self.kernel[0], :y.shape[3] * self.kernel[1]]
        at_max = crop == upsample(y, self.kernel)
        return [uncrop(at_max * upsample(share, self.kernel), x.shape)]


@register_node
class AvgPool2DNode(Node):
    """y[b,c,i,j] = (1/(kh·kw)) Σ_u,v x[b,c,s·i+u,s·j+v], PyTorch's avg_pool2d.

    dJ/dx[b,c,s·i+u,s·j+v] += dJ/dy[b,c,i,j]/(kh·kw) for every window position.
    x:(B, C, H, W) -> (B, C, Ho, Wo), Ho = ⌊(H − kh)/s⌋ + 1; the stride defaults to the kernel.
    """

    n_inputs = 1
    config_schema = {"kernel": pair(1), "stride": pair(1)}

    def __init__(self, parents, kernel: int | Sequence[int] = 2,
                 stride: int | Sequence[int] | None = None, name: str | None = None):
        super().__init__(parents, name=name)
        self.kernel, self.stride = pooling_window(self, kernel, stride)

    def config(self) -> dict:
        return {"kernel": list(self.kernel), "stride": list(self.stride)}

    def compute_output(self):
        x = self.x[0]
        check_images(self, x)
        check_window_fits(self, x, self.kernel, (0, 0))
        return [pooling_columns(x, self.kernel, self.stride).mean(axis=0)]

    def compute_gradient(self):
        x = self.x[0]
        share = self.dJdy[0] / (self.kernel[0] * self.kernel[1])
        if self.stride != self.kernel:
            every = np.broadcast_to(share, (self.kernel[0] * self.kernel[1],) + share.shape)
            return [unpool(every, x.shape, self.kernel, self.stride)]
        return [uncrop(upsample(share, self.kernel), x.shape)]


@register_node
class GlobalAveragePoolNode(Node):
    """y[b,c] = (1/(H·W)) Σ_i,j x[b,c,i,j].  dJ/dx[b,c,i,j] = dJ/dy[b,c]/(H·W).
    x:(B, C, H, W) -> (B, C)."""

    n_inputs = 1

    def compute_output(self):
        x = self.x[0]
        check_images(self, x)
        return [x.mean(axis=(2, 3))]

    def compute_gradient(self):
        x = self.x[0]
        share = self.dJdy[0] / (x.shape[2] * x.shape[3])
        return [np.broadcast_to(share[:, :, None, None], x.shape).copy()]
