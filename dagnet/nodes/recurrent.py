"""Fused nodes for one step of a recurrent layer, in the row convention (B, features).

A step of an unrolled layer needs the gate pre-activations z_t = x_t·W + b + h_{t-1}·U.
The x_t·W + b part of every step is one product over the whole sequence
(``SequenceLinearNode``); ``MultiplyAddNode`` adds h_{t-1}·U, all gates in one
product.  ``LSTMStepNode`` and ``GRUStepNode`` then do a cell's element-wise work
in one node each, with their own backward (as Chainer's lstm): fewer nodes and
temporaries than the same cell composed from sigmoid, tanh and product nodes,
which tests/models keep as the reference, value for value and gradient for gradient.
"""

from __future__ import annotations

import numpy as np

from dagnet.errors import ShapeError
from dagnet.node import Node, register_node
from dagnet.nodes.activations import sigmoid


@register_node
class MultiplyAddNode(Node):
    """y = a + x·W; a:(B, O), x:(B, I), W:(I, O) -> (B, O).

    dJ/da = dJ/dy, dJ/dx = dJ/dy·Wᵀ, dJ/dW = xᵀ·dJ/dy.
    """

    n_inputs = 3

    def compute_output(self):
        a, x, w = self.x
        if (x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]
                or a.shape != (x.shape[0], w.shape[1])):
            raise ShapeError(f"{self.describe()}: cannot compute a + x·W with a {a.shape}, "
                             f"x {x.shape}, W {w.shape}: needs (B, O), (B, I) and (I, O)")
        y = x @ w
        y += a
        return [y]

    def compute_gradient(self):
        _, x, w = self.x
        g = self.dJdy[0]
        return [g, g @ w.T if self.wants(1) else None, x.T @ g if self.wants(2) else None]


@register_node
class LSTMStepNode(Node):
    """One LSTM step from the gate pre-activations z, columns [i | f | o | g] of width H:
    i, f, o = σ(z_i), σ(z_f), σ(z_o); g = tanh(z_g); c = f⊙c_prev + i⊙g; h = o⊙tanh(c).
    Inputs c_prev:(B, H), z:(B, 4H); outputs c:(B, H), h:(B, H).

    With δc = dJ/dc + dJ/dh⊙o⊙(1 - tanh²c): dJ/dc_prev = δc⊙f, dJ/dz = [δc⊙g⊙i(1-i) |
    δc⊙c_prev⊙f(1-f) | dJ/dh⊙tanh(c)⊙o(1-o) | δc⊙i⊙(1-g²)].
    """

    n_inputs = 2

    @classmethod
    def outputs_for(cls, config: dict) -> int:
        return 2

    def __init__(self, parents, name: str | None = None):
        super().__init__(parents, nb_outputs=2, name=name)

    def compute_output(self):
        c_prev, z = self.x
        if c_prev.ndim != 2 or z.shape != (c_prev.shape[0], 4 * c_prev.shape[1]):
            raise ShapeError(f"{self.describe()}: needs c_prev:(B, H) and z:(B, 4H), got "
                             f"{c_prev.shape} and {z.shape}")
        n = c_prev.shape[1]
        gates = np.empty_like(z)
        sigmoid(z[:, :3 * n], out=gates[:, :3 * n])
        np.tanh(z[:, 3 * n:], out=gates[:, 3 * n:])
        i, f, g = gates[:, :n], gates[:, n:2 * n], gates[:, 3 * n:]
        c = f * c_prev
        c += i * g
        tanh_c = np.tanh(c)
        h = gates[:, 2 * n:3 * n] * tanh_c
        self.gates, self.tanh_c = gates, tanh_c
        return [c, h]

    def compute_gradient(self):
        c_prev, _ = self.x
        dc_next, dh = self.dJdy
        gates, tanh_c = self.gates, self.tanh_c
        n = c_prev.shape[1]
        i, f, o, g = (gates[:, :n], gates[:, n:2 * n], gates[:, 2 * n:3 * n],
                      gates[:, 3 * n:])
        dz = np.empty_like(gates)
        # δc = dJ/dc + dJ/dh ⊙ o ⊙ (1 - tanh²c)
        dc = tanh_c * tanh_c
        np.subtract(1, dc, out=dc)
        dc *= o
        dc *= dh
        dc += dc_next
        np.multiply(dc, g, out=dz[:, :n])
        np.multiply(dc, c_prev, out=dz[:, n:2 * n])
        np.multiply(dh, tanh_c, out=dz[:, 2 * n:3 * n])
        sig = dz[:, :3 * n]
        sig *= gates[:, :3 * n]
        sig *= 1 - gates[:, :3 * n]
        dg = dz[:, 3 * n:]
        np.multiply(g, g, out=dg)
        np.subtract(1, dg, out=dg)
        dg *= i
        dg *= dc
        dc_prev = dc * f if self.wants(0) else None
        return [dc_prev, dz]


@register_node
class GRUStepNode(Node):
    """One GRU step (reset gate applied after the product, as cuDNN and PyTorch) from
    xz = x·W + b and hz = h_prev·U, columns [r | u | n] of width H:
    r = σ(xz_r + hz_r), u = σ(xz_u + hz_u), n = tanh(xz_n + r⊙hz_n), h = n + u⊙(h_prev - n).
    Inputs h_prev:(B, H), xz:(B, 3H), hz:(B, 3H); output h:(B, H).

    With δn = dJ/dh⊙(1-u)⊙(1-n²), δr = δn⊙hz_n⊙r(1-r), δu = dJ/dh⊙(h_prev-n)⊙u(1-u):
    dJ/dh_prev = dJ/dh⊙u, dJ/dxz = [δr | δu | δn], dJ/dhz = [δr | δu | δn⊙r].
    """

    n_inputs = 3

    def compute_output(self):
        h_prev, xz, hz = self.x
        n = h_prev.shape[1] if h_prev.ndim == 2 else 0
        if h_prev.ndim != 2 or xz.shape != (h_prev.shape[0], 3 * n) or hz.shape != xz.shape:
            raise ShapeError(f"{self.describe()}: needs h_prev:(B, H), xz:(B, 3H) and "
                             f"hz:(B, 3H), got {h_prev.shape}, {xz.shape} and {hz.shape}")
        gates = np.empty_like(xz)
        ru = gates[:, :2 * n]
        np.add(xz[:, :2 * n], hz[:, :2 * n], out=ru)
        sigmoid(ru, out=ru)
        r, u, cand = gates[:, :n], gates[:, n:2 * n], gates[:, 2 * n:]
        np.multiply(r, hz[:, 2 * n:], out=cand)
        cand += xz[:, 2 * n:]
        np.tanh(cand, out=cand)
        h = h_prev - cand
        h *= u
        h += cand
        self.gates = gates
        return [h]

    def compute_gradient(self):
        h_prev, _, hz = self.x
        dh = self.dJdy[0]
        gates = self.gates
        n = h_prev.shape[1]
        r, u, cand = gates[:, :n], gates[:, n:2 * n], gates[:, 2 * n:]
        dxz = np.empty_like(gates)
        dr, du, dn = dxz[:, :n], dxz[:, n:2 * n], dxz[:, 2 * n:]
        np.subtract(1, u, out=dn)
        dn *= dh
        dn *= 1 - cand * cand
        np.multiply(dn, hz[:, 2 * n:], out=dr)
        np.subtract(h_prev, cand, out=du)
        du *= dh
        sig = dxz[:, :2 * n]
        sig *= gates[:, :2 * n]
        sig *= 1 - gates[:, :2 * n]
        dhz = None
        if self.wants(2):
            dhz = dxz.copy()
            dhz[:, 2 * n:] *= r
        dh_prev = dh * u if self.wants(0) else None
        return [dh_prev, dxz, dhz]


@register_node
class LSTMLayerNode(Node):
    """A whole LSTM layer over T steps in one node, its time loop inside (the sequence-level
    path of ``LSTMStepNode``): z_t = xz_t + h_{t-1}·U, gate columns [i | f | o | g];
    c_t = σ(f)⊙c_{t-1} + σ(i)⊙tanh(g), h_t = σ(o)⊙tanh(c_t).
    Inputs xz:(T, B, 4H) (= x_t·W + b for every step), h0:(B, H), c0:(B, H), U:(H, 4H);
    outputs hs:(T, B, H) (h_1 … h_T), h_T:(B, H), c_T:(B, H).

    Backward runs the steps in reverse with δh_t = dJ/dhs_t + dJ/dz_{t+1}·Uᵀ and the
    formulas of ``LSTMStepNode`` (dJ/dz_t, δc_{t-1} = δc_t⊙f_t); then dJ/dxz = dJ/dz,
    dJ/dh0 = dJ/dz_1·Uᵀ, dJ/dc0 = δc_0 and dJ/dU = Σ_t h_{t-1}ᵀ·dJ/dz_t as ONE product
    (H, T·B)·(T·B, 4H) instead of T small ones.
    """

    n_inputs = 4

    @classmethod
    def outputs_for(cls, config: dict) -> int:
        return 3

    def __init__(self, parents, name: str | None = None):
        super().__init__(parents, nb_outputs=3, name=name)

    def compute_output(self):
        xz, h0, c0, u = self.x
        if (xz.ndim != 3 or h0.ndim != 2 or u.shape != (h0.shape[1], 4 * h0.shape[1])
                or xz.shape[1:] != (h0.shape[0], u.shape[1]) or c0.shape != h0.shape):
            raise ShapeError(f"{self.describe()}: needs xz:(T, B, 4H), h0:(B, H), c0:(B, H) "
                             f"and U:(H, 4H), got {xz.shape}, {h0.shape}, {c0.shape} and "
                             f"{u.shape}")
        steps, batch, width = xz.shape
        n = width // 4
        dtype = np.result_type(xz, h0, c0, u)
        # exp is the transcendental NumPy computes fastest (np.tanh costs about 2 exps): with
        # the columns of U and xz scaled by -1 (i, f, o) and -2 (g), ONE exp per step gives
        # every gate, σ(z) = 1/(1 + e^-z) and tanh(z) = 2σ(2z) - 1 (exact to an absolute
        # rounding error; never a NaN).  The cell's tanh(c), on (B, H), stays np.tanh: one
        # call, no slower there than the five an exp form takes.
        scale = np.full(width, -1, dtype=dtype)
        scale[3 * n:] = -2
        u_scaled = u * scale
        xz_scaled = np.multiply(xz, scale, out=self._buffer("xz_scaled", xz.shape, dtype))
        gates = self._buffer("gates", xz.shape, dtype)         # σ(i), σ(f), σ(o), tanh(g)
        tanh_c = self._buffer("tanh_c", (steps, batch, n), dtype)
        hs = np.empty((steps + 1, batch, n), dtype=dtype)      # h_0 … h_T
        cs = np.empty((steps + 1, batch, n), dtype=dtype)      # c_0 … c_T
        hs[0] = h0
        cs[0] = c0
        # e^-z = inf for a saturated gate: σ = 1/(1 + inf) = 0, exact.
        with np.errstate(over="ignore", under="ignore"):
            for t in range(steps):
                z = gates[t]
                np.matmul(hs[t], u_scaled, out=z)
                z += xz_scaled[t]
                np.exp(z, out=z)
                z += 1
                np.reciprocal(z, out=z)
                g = z[:, 3 * n:]
                g *= 2
                g -= 1
                c, tc = cs[t + 1], tanh_c[t]
                np.multiply(z[:, n:2 * n], cs[t], out=c)
                np.multiply(z[:, :n], g, out=tc)
                c += tc
                np.tanh(c, out=tc)
                np.multiply(z[:, 2 * n:3 * n], tc, out=hs[t + 1])
        self.gates, self.hs, self.cs, self.tanh_c = gates, hs, cs, tanh_c
        return [hs[1:], hs[steps], cs[steps]]

    def _buffer(self, name: str, shape: tuple, dtype: np.dtype) -> np.ndarray:
        """A scratch array private to this node, kept from call to call (a fresh array
        of a whole sequence every step costs its page faults); never an output."""
        buffers = self.__dict__.setdefault("_buffers", {})
        found = buffers.get(name)
        if found is None or found.shape != shape or found.dtype != dtype:
            found = buffers[name] = np.empty(shape, dtype=dtype)
        return found

    def compute_gradient(self):
        _, _, _, u = self.x
        dhs, dh_last, dc_last = self.dJdy
        gates, hs, cs, tanh_c = self.gates, self.hs, self.cs, self.tanh_c
        steps, batch, width = gates.shape
        n = width // 4
        dtype = gates.dtype
        i, f, o, g = (gates[..., :n], gates[..., n:2 * n], gates[..., 2 * n:3 * n],
                      gates[..., 3 * n:])
        # Everything that does not depend on the recurrence, for all steps at once (few
        # calls, into buffers kept between calls): dJ/dz_t = δc_t ⊙ [g·i(1-i) |
        # c_{t-1}·f(1-f) | · | i(1-g²)] and its o block δh_t ⊙ tanh(c_t)·o(1-o);
        # δc_t = δc_{t+1}⊙f_{t+1} + δh_t ⊙ o(1 - tanh²c_t).
        factors = np.subtract(1, gates, out=self._buffer("factors", gates.shape, dtype))
        factors *= gates  # σ(1-σ) in the i, f, o blocks (contiguous ops, cheaper than slices)
        blocks = factors.reshape(steps, batch, 4, n)
        blocks[:, :, 0] *= g
        blocks[:, :, 1] *= cs[:-1]
        blocks[:, :, 2] *= tanh_c
        g_block = blocks[:, :, 3]
        np.multiply(g, g, out=g_block)
        np.subtract(1, g_block, out=g_block)
        g_block *= i
        to_c = np.multiply(tanh_c, tanh_c, out=self._buffer("to_c", tanh_c.shape, dtype))
        np.subtract(1, to_c, out=to_c)
        to_c *= o
        # The o block takes δh, the others δc: write δc into all four, then fix o.
        dz = np.empty_like(gates)
        dz_blocks = dz.reshape(steps, batch, 4, n)
        dc_t = self._buffer("dc_t", (batch, n), dtype)
        dh = np.array(dh_last, dtype=dtype)
        dc = np.array(dc_last, dtype=dtype)
        u_t = u.T
        for t in range(steps - 1, -1, -1):
            dh += dhs[t]
            np.multiply(dh, to_c[t], out=dc_t)
            dc_t += dc
            np.multiply(dc_t[:, None, :], blocks[t], out=dz_blocks[t])
            np.multiply(dh, blocks[t, :, 2], out=dz_blocks[t, :, 2])
            np.multiply(dc_t, f[t], out=dc)
            np.matmul(dz[t], u_t, out=dh)
        du = None
        if self.wants(3):
            du = hs[:-1].reshape(-1, n).T @ dz.reshape(-1, width)
        return [dz if self.wants(0) else None, dh if self.wants(1) else None,
                dc if self.wants(2) else None, du]


@register_node
class GRULayerNode(Node):
    """A whole GRU layer over T steps in one node (the sequence-level path of
    ``GRUStepNode``, reset gate after the product): hz_t = h_{t-1}·U, columns [r | u | n];
    r = σ(xz_r + hz_r), u = σ(xz_u + hz_u), n = tanh(xz_n + r⊙hz_n), h_t = n + u⊙(h_{t-1} - n).
    Inputs xz:(T, B, 3H) (= x_t·W + b for every step), h0:(B, H), U:(H, 3H);
    outputs hs:(T, B, H) (h_1 … h_T), h_T:(B, H).

    Backward, in reverse with δh_t = dJ/dhs_t + dJ/dhz_{t+1}·Uᵀ + δh_{t+1}⊙u_{t+1}, the
    formulas of ``GRUStepNode``: dJ/dhz_t = δh_t⊙[A_r | A_u | A_n⊙r], dJ/dxz_t =
    δh_t⊙[A_r | A_u | A_n], where A_n = (1-u)(1-n²), A_u = (h_{t-1}-n)·u(1-u),
    A_r = A_n·hz_n·r(1-r) do not depend on δ (computed for all steps at once);
    dJ/dh0 = δh_0 and dJ/dU = Σ_t h_{t-1}ᵀ·dJ/dhz_t as ONE (H, T·B)·(T·B, 3H) product.
    """

    n_inputs = 3

    @classmethod
    def outputs_for(cls, config: dict) -> int:
        return 2

    def __init__(self, parents, name: str | None = None):
        super().__init__(parents, nb_outputs=2, name=name)

    def compute_output(self):
        xz, h0, u = self.x
        _check_layer_shapes(self, xz, h0, u, 3, "xz:(T, B, 3H), h0:(B, H) and U:(H, 3H)")
        steps, batch, width = xz.shape
        n = width // 3
        dtype = np.result_type(xz, h0, u)
        # Halving the r and u columns of U and xz makes each sigmoid one tanh:
        # σ(a) = (1 + tanh(a/2))/2; the n columns (hz_n is kept for backward) stay whole.
        half = np.ones(width, dtype=dtype)
        half[:2 * n] = 0.5
        u_half = u * half
        xz_half = xz * half
        gates = np.empty((steps, batch, width), dtype=dtype)   # r, u, n
        hz = np.empty((steps, batch, width), dtype=dtype)      # h_{t-1}·U (r, u halved)
        hs = np.empty((steps + 1, batch, n), dtype=dtype)      # h_0 … h_T
        hs[0] = h0
        for t in range(steps):
            np.matmul(hs[t], u_half, out=hz[t])
            ru, cand = gates[t, :, :2 * n], gates[t, :, 2 * n:]
            np.add(hz[t, :, :2 * n], xz_half[t, :, :2 * n], out=ru)
            np.tanh(ru, out=ru)
            ru *= 0.5
            ru += 0.5
            np.multiply(gates[t, :, :n], hz[t, :, 2 * n:], out=cand)
            cand += xz_half[t, :, 2 * n:]
            np.tanh(cand, out=cand)
            h = hs[t + 1]
            np.subtract(hs[t], cand, out=h)
            h *= gates[t, :, n:2 * n]
            h += cand
        self.gates, self.hz_n, self.hs = gates, hz[..., 2 * n:], hs
        return [hs[1:], hs[steps]]

    def compute_gradient(self):
        _, _, u = self.x
        dhs, dh_last = self.dJdy
        gates, hs = self.gates, self.hs
        steps, batch, width = gates.shape
        n = width // 3
        factors, a_n = self._factors()
        update = gates[..., n:2 * n]
        # dh[t] gathers dJ/dh_t: dJ/dhs_t now, the recurrent paths inside the loop.
        dh = np.empty_like(hs)
        dh[0] = 0
        dh[1:] = dhs
        dh[steps] += dh_last
        dhz = np.empty_like(gates)
        dhz_blocks = dhz.reshape(steps, batch, 3, n)
        scratch = np.empty((batch, n), dtype=gates.dtype)
        u_t = u.T
        for t in range(steps - 1, -1, -1):
            np.multiply(dh[t + 1, :, None, :], factors[t], out=dhz_blocks[t])
            np.matmul(dhz[t], u_t, out=scratch)
            dh[t] += scratch
            np.multiply(dh[t + 1], update[t], out=scratch)
            dh[t] += scratch
        du = None
        if self.wants(2):
            du = hs[:-1].reshape(-1, n).T @ dhz.reshape(-1, width)
        dxz = None
        if self.wants(0):
            dxz = dhz  # dJ/dxz = dJ/dhz but in the n block, which r does not scale
            np.multiply(dh[1:], a_n, out=dhz_blocks[:, :, 2])
        return [dxz, dh[0] if self.wants(1) else None, du]

    def _factors(self) -> tuple[np.ndarray, np.ndarray]:
        """[A_r | A_u | A_n⊙r] as (T, B, 3, H), and A_n = (1-u)(1-n²), for all steps."""
        gates, hs, hz_n = self.gates, self.hs, self.hz_n
        steps, batch, width = gates.shape
        n = width // 3
        r, update, cand = gates[..., :n], gates[..., n:2 * n], gates[..., 2 * n:]
        factors = np.subtract(1, gates)
        factors *= gates  # σ(1-σ) in the r and u blocks (whole-array ops, cheaper than slices)
        blocks = factors.reshape(steps, batch, 3, n)
        a_n = np.multiply(cand, cand)
        np.subtract(1, a_n, out=a_n)
        a_n *= 1 - update
        blocks[:, :, 0] *= hz_n
        blocks[:, :, 0] *= a_n
        blocks[:, :, 1] *= np.subtract(hs[:-1], cand)
        np.multiply(a_n, r, out=blocks[:, :, 2])
        return blocks, a_n


@register_node
class RNNLayerNode(Node):
    """A whole fully-connected recurrent layer over T steps in one node:
    h_t = tanh(xz_t + h_{t-1}·U).  Inputs xz:(T, B, H) (= x_t·W + b for every step),
    h0:(B, H), U:(H, H); outputs hs:(T, B, H) (h_1 … h_T), h_T:(B, H).

    Backward, in reverse: dJ/dz_t = δh_t⊙(1 - h_t²) (the factor for all steps at once),
    δh_{t-1} = dJ/dhs_{t-1} + dJ/dz_t·Uᵀ; dJ/dxz = dJ/dz, dJ/dh0 = δh_0 and
    dJ/dU = Σ_t h_{t-1}ᵀ·dJ/dz_t as ONE (H, T·B)·(T·B, H) product.
    """

    n_inputs = 3

    @classmethod
    def outputs_for(cls, config: dict) -> int:
        return 2

    def __init__(self, parents, name: str | None = None):
        super().__init__(parents, nb_outputs=2, name=name)

    def compute_output(self):
        xz, h0, u = self.x
        _check_layer_shapes(self, xz, h0, u, 1, "xz:(T, B, H), h0:(B, H) and U:(H, H)")
        steps, batch, n = xz.shape
        hs = np.empty((steps + 1, batch, n), dtype=np.result_type(xz, h0, u))  # h_0 … h_T
        hs[0] = h0
        for t in range(steps):
            h = hs[t + 1]
            np.matmul(hs[t], u, out=h)
            h += xz[t]
            np.tanh(h, out=h)
        self.hs = hs
        return [hs[1:], hs[steps]]

    def compute_gradient(self):
        _, _, u = self.x
        dhs, dh_last = self.dJdy
        hs = self.hs
        steps, batch, n = dhs.shape
        dz = np.multiply(hs[1:], hs[1:])
        np.subtract(1, dz, out=dz)  # tanh' = 1 - h², for all steps; dJ/dz in place below
        dh = np.array(dh_last, dtype=hs.dtype)
        u_t = u.T
        for t in range(steps - 1, -1, -1):
            dh += dhs[t]
            dz[t] *= dh
            np.matmul(dz[t], u_t, out=dh)
        du = hs[:-1].reshape(-1, n).T @ dz.reshape(-1, n) if self.wants(2) else None
        return [dz if self.wants(0) else None, dh if self.wants(1) else None, du]


def _check_layer_shapes(node: Node, xz: np.ndarray, h0: np.ndarray, u: np.ndarray,
                        blocks: int, needs: str) -> None:
    """xz:(T, B, G·H), h0:(B, H), U:(H, G·H) for a layer node of G gate blocks."""
    if (xz.ndim != 3 or h0.ndim != 2 or u.shape != (h0.shape[1], blocks * h0.shape[1])
            or xz.shape[1:] != (h0.shape[0], u.shape[1])):
        raise ShapeError(f"{node.describe()}: needs {needs}, got {xz.shape}, {h0.shape} and "
                         f"{u.shape}")
