"""The cells against PyTorch's nn.RNN, nn.LSTM and nn.GRU: an independent reference.

Same weights, same inputs and initial state: the hidden states of every step, the
final states and the gradients of J = Σ h² must agree.  Skipped without torch.
"""

from __future__ import annotations

import numpy as np
import pytest

from dagnet.graph import Graph
from dagnet.models.rnn import CELL_TYPES, unroll_layer
from dagnet.node import InputNode
from dagnet.nodes import Norm2Node
from tests.conftest import require

torch = require("torch")

# Torch's gate blocks, in dagnet's block order: LSTM dagnet [i f o g], torch [i f g o].
TORCH_BLOCKS = {"rnn": [0], "lstm": [0, 1, 3, 2], "gru": [0, 1, 2]}
TORCH_MODULES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def to_torch_order(w: np.ndarray, cell: str, n_hidden: int) -> np.ndarray:
    """dagnet's (…, G·H) gate columns reordered as torch's blocks."""
    blocks = np.split(w, len(TORCH_BLOCKS[cell]), axis=-1)
    torch_order = np.argsort(TORCH_BLOCKS[cell])
    return np.concatenate([blocks[k] for k in torch_order], axis=-1)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "composed"])
@pytest.mark.parametrize("cell", list(CELL_TYPES))
def test_cell_matches_pytorch(cell, fused, rng):
    n_in, H, T, B = 4, 5, 9, 3
    layer = CELL_TYPES[cell](n_in, H, np.random.default_rng(0), name="layer")
    layer.b.w = rng.standard_normal(layer.b.w.shape) * 0.5
    X = rng.standard_normal((T, B, n_in))
    state = [rng.standard_normal((B, H)) * 0.5 for _ in layer.state_names]

    x_node = InputNode(name="X")
    state_nodes = [InputNode(name=s) for s in layer.state_names]
    hidden, final = unroll_layer(layer, x_node, T, state_nodes, fused=fused)
    graph = Graph(None, [x_node] + state_nodes, [hidden] + final, (), Norm2Node([hidden]))
    ours = graph.propagate([X] + state)
    graph.backpropagate([])

    module = TORCH_MODULES[cell](n_in, H, dtype=torch.float64)
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(to_torch_order(layer.W.w, cell, H).T))
        module.weight_hh_l0.copy_(torch.from_numpy(to_torch_order(layer.U.w, cell, H).T))
        module.bias_ih_l0.copy_(torch.from_numpy(to_torch_order(layer.b.w, cell, H)))
        module.bias_hh_l0.zero_()
    initial = [torch.from_numpy(s)[None] for s in state]
    out, final_torch = module(torch.from_numpy(X), tuple(initial) if cell == "lstm"
                              else initial[0])
    (out ** 2).sum().backward()

    np.testing.assert_allclose(ours[0], out.detach().numpy(), rtol=1e-10, atol=1e-12)
    finals = final_torch if cell == "lstm" else (final_torch,)
    for a, b in zip(ours[1:], finals):
        np.testing.assert_allclose(a, b.detach().numpy()[0], rtol=1e-10, atol=1e-12)
    expected = {"W": module.weight_ih_l0.grad.numpy().T, "U": module.weight_hh_l0.grad.numpy().T,
                "b": module.bias_ih_l0.grad.numpy()}
    for name, node in [("W", layer.W), ("U", layer.U), ("b", layer.b)]:
        np.testing.assert_allclose(to_torch_order(node.get_gradient(0), cell, H),
                                   expected[name], rtol=1e-9, atol=1e-11, err_msg=name)
