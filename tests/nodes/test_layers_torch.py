"""GRULayerNode and RNNLayerNode against torch.nn.GRU and torch.nn.RNN, an independent
reference: the same weights, inputs and initial state give the same hidden states, and
J = Σ hs² the same gradients for W, U, b, the inputs and h0.  float64.  Skipped
without torch."""

from __future__ import annotations

import numpy as np
import pytest

from dagnet import GradientNode, ParameterNode
from tests.conftest import require
from tests.nodes.test_layers import LAYER_NODES, N_IN, B, H, T, layer_graph, make_cell

torch = require("torch")


@pytest.mark.parametrize("kind", sorted(LAYER_NODES))
def test_layer_node_matches_pytorch(kind, rng):
    cell = make_cell(kind, rng)
    X = rng.standard_normal((T, B, N_IN))
    h0 = 0.5 * rng.standard_normal((B, H))
    x, h = ParameterNode(X), ParameterNode(h0)
    hs, last = layer_graph(kind, cell, x, h)
    GradientNode([hs], 2 * hs[0].get_output(0))  # J = Σ hs²
    ours = [hs[0].get_output(0), last[0].get_output(1)]

    # torch's gate order is dagnet's ([r | z | n] = [r | u | n]); weights are transposed.
    module = {"gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind](N_IN, H, dtype=torch.float64)
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(cell.W.w.T))
        module.weight_hh_l0.copy_(torch.from_numpy(cell.U.w.T))
        module.bias_ih_l0.copy_(torch.from_numpy(cell.b.w))
        module.bias_hh_l0.zero_()
    X_t = torch.from_numpy(X).requires_grad_()
    h0_t = torch.from_numpy(h0)[None].requires_grad_()
    out, final = module(X_t, h0_t)
    (out ** 2).sum().backward()

    np.testing.assert_allclose(ours[0], out.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours[1], final.detach().numpy()[0], rtol=1e-10, atol=1e-12)
    expected = {"W": module.weight_ih_l0.grad.numpy().T, "U": module.weight_hh_l0.grad.numpy().T,
                "b": module.bias_ih_l0.grad.numpy(), "x": X_t.grad.numpy(),
                "h0": h0_t.grad.numpy()[0]}
    for name, node in [("W", cell.W), ("U", cell.U), ("b", cell.b), ("x", x), ("h0", h)]:
        np.testing.assert_allclose(node.get_gradient(0), expected[name], rtol=1e-9, atol=1e-11,
                                   err_msg=name)
