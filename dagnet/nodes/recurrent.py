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
from dagnet.node import Node


def _sigmoid_into(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = σ(z) = (1 + tanh(z/2))/2: never overflows, no temporary."""
    np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


class MultiplyAddNode(Node):
    """y = a + x·W; a:(B, O), x:(B, I), W:(I, O) -> (B, O).

    dJ/da = dJ/dy, dJ/dx = dJ/dy·Wᵀ, dJ/dW = xᵀ·dJ/dy.
    """

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


class LSTMStepNode(Node):
    """One LSTM step from the gate pre-activations z, columns [i | f | o | g] of width H:
    i, f, o = σ(z_i), σ(z_f), σ(z_o); g = tanh(z_g); c = f⊙c_prev + i⊙g; h = o⊙tanh(c).
    Inputs c_prev:(B, H), z:(B, 4H); outputs c:(B, H), h:(B, H).

    With δc = dJ/dc + dJ/dh⊙o⊙(1 - tanh²c): dJ/dc_prev = δc⊙f, dJ/dz = [δc⊙g⊙i(1-i) |
    δc⊙c_prev⊙f(1-f) | dJ/dh⊙tanh(c)⊙o(1-o) | δc⊙i⊙(1-g²)].
    """

    def __init__(self, parents, name: str | None = None):
        super().__init__(parents, nb_outputs=2, name=name)

    def compute_output(self):
        c_prev, z = self.x
        if c_prev.ndim != 2 or z.shape != (c_prev.shape[0], 4 * c_prev.shape[1]):
            raise ShapeError(f"{self.describe()}: needs c_prev:(B, H) and z:(B, 4H), got "
                             f"{c_prev.shape} and {z.shape}")
        n = c_prev.shape[1]
        gates = np.empty_like(z)
        _sigmoid_into(z[:, :3 * n], gates[:, :3 * n])
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


class GRUStepNode(Node):
    """One GRU step (reset gate applied after the product, as cuDNN and PyTorch) from
    xz = x·W + b and hz = h_prev·U, columns [r | u | n] of width H:
    r = σ(xz_r + hz_r), u = σ(xz_u + hz_u), n = tanh(xz_n + r⊙hz_n), h = n + u⊙(h_prev - n).
    Inputs h_prev:(B, H), xz:(B, 3H), hz:(B, 3H); output h:(B, H).

    With δn = dJ/dh⊙(1-u)⊙(1-n²), δr = δn⊙hz_n⊙r(1-r), δu = dJ/dh⊙(h_prev-n)⊙u(1-u):
    dJ/dh_prev = dJ/dh⊙u, dJ/dxz = [δr | δu | δn], dJ/dhz = [δr | δu | δn⊙r].
    """

    def compute_output(self):
        h_prev, xz, hz = self.x
        n = h_prev.shape[1] if h_prev.ndim == 2 else 0
        if h_prev.ndim != 2 or xz.shape != (h_prev.shape[0], 3 * n) or hz.shape != xz.shape:
            raise ShapeError(f"{self.describe()}: needs h_prev:(B, H), xz:(B, 3H) and "
                             f"hz:(B, 3H), got {h_prev.shape}, {xz.shape} and {hz.shape}")
        gates = np.empty_like(xz)
        ru = gates[:, :2 * n]
        np.add(xz[:, :2 * n], hz[:, :2 * n], out=ru)
        _sigmoid_into(ru, ru)
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
