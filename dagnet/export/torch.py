"""dagnet weights under PyTorch's names and layouts, both ways, as plain NumPy arrays.

dagnet never imports torch: ``to_torch_state_dict(model)`` gives arrays that
``torch_module.load_state_dict({k: torch.from_numpy(v) ...}, strict=True)`` takes, and
``from_torch_state_dict(model, state_dict)`` reads arrays (or CPU tensors, through
``np.asarray``) into a dagnet model of the same architecture, in place.

A fully-connected GraphModel (``dagnet.fully_connected``, either formulation) is an
``nn.Sequential`` of ``nn.Linear`` and activation modules, one of each per layer:
layer k (from 1) is module 2(k-1), ``"0.weight"`` = W₁ᵀ (O, I), ``"0.bias"`` = b₁,
``"2.weight"`` = W₂ᵀ...; its activation (nn.Tanh, nn.Sigmoid, nn.ReLU, nn.Identity or
nn.Softmax(dim=-1)) is module 2k-1 and has no weights.  In the tutorial's formulation
the bias is W's first row.

A RecurrentNetwork (and CharRNN) is a module with ``embedding`` (nn.Embedding, only
with an embedding), ``rnn`` (nn.RNN, nn.LSTM or nn.GRU with ``num_layers`` = the
number of layers, time first) and ``output`` (nn.Linear): ``rnn.weight_ih_l{k}`` =
Wᵀ, ``rnn.weight_hh_l{k}`` = Uᵀ with the gate blocks in PyTorch's order (LSTM
[i f g o], GRU [r z n]), ``rnn.bias_ih_l{k}`` = b and ``rnn.bias_hh_l{k}`` = 0;
importing adds the two biases into b.  A GRU's ``bias_hh`` holds b_hn inside
r⊙(h·U_n + b_hn), which only a GRU built with ``recurrent_bias=True`` has: there it
is ``layerK/b_h`` both ways.  Without symbol embedding, the LSTM reads one-hot rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dagnet.errors import ExportError
from dagnet.export.gates import TORCH_BLOCKS, reorder_blocks, restore_blocks
from dagnet.graph import Graph
from dagnet.models import Model
from dagnet.models.rnn import RecurrentNetwork
from dagnet.node import InputNode, Node, ParameterNode
from dagnet.nodes import (
    AddBiasNode,
    IdentityNode,
    LinearNode,
    MultiplicationNode,
    ReluNode,
    SigmoidNode,
    SoftmaxNode,
    TanhNode,
)

# The activation nodes of a fully-connected net and the torch.nn module of each.
TORCH_ACTIVATIONS = {TanhNode: "Tanh", SigmoidNode: "Sigmoid", ReluNode: "ReLU",
                     IdentityNode: "Identity", SoftmaxNode: "Softmax(dim=-1)"}


def to_torch_state_dict(model: Model) -> dict[str, np.ndarray]:
    """The weights of ``model`` under PyTorch's names and layouts (see the module
    docstring), as new arrays of the model's dtype.

    >>> import dagnet
    >>> net = dagnet.fully_connected([4, 1], 2)
    >>> {k: v.shape for k, v in to_torch_state_dict(net).items()}
    {'0.weight': (4, 2), '0.bias': (4,), '2.weight': (1, 4), '2.bias': (1,)}
    """
    if isinstance(model, RecurrentNetwork):
        return _recurrent_to_torch(model)
    if isinstance(model, Graph):
        state = {}
        for k, (w, b, _) in enumerate(linear_layers(model)):
            weight, bias = (w.w[1:], w.w[0]) if b is None else (w.w, b.w)
            state[f"{2 * k}.weight"] = np.array(weight.T)
            state[f"{2 * k}.bias"] = np.array(bias)
        return state
    raise ExportError(f"a {type(model).__name__} has no PyTorch layout here: "
                      "fully-connected GraphModels and RecurrentNetworks do")


def from_torch_state_dict(model: Model, state_dict: Mapping) -> Model:
    """Set ``model``'s weights from a PyTorch state dict of the same architecture (the
    names and shapes of ``to_torch_state_dict(model)``, every one of them and no other)
    and return the model.  Values are cast to the model's dtype."""
    expected = to_torch_state_dict(model)
    state = {name: np.asarray(value) for name, value in state_dict.items()}
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ExportError(f"the state dict does not fit this {model.description}: missing "
                          f"{missing or 'nothing'}, unexpected {unexpected or 'nothing'}")
    for name, value in state.items():
        if value.shape != expected[name].shape or value.dtype.kind not in "iuf":
            raise ExportError(f"{name}: expected numbers of shape {expected[name].shape}, "
                              f"got {value.dtype} of shape {value.shape}")
    if isinstance(model, RecurrentNetwork):
        _recurrent_from_torch(model, state)
        return model
    for k, (w, b, _) in enumerate(linear_layers(model)):
        weight, bias = state[f"{2 * k}.weight"].T, state[f"{2 * k}.bias"]
        if b is None:
            w.w[0], w.w[1:] = bias, weight
        else:
            w.w[...], b.w[...] = weight, bias
    return model


def linear_layers(graph: Graph) -> list[tuple[ParameterNode, ParameterNode | None, Node]]:
    """(W, b, activation) of every layer of a fully-connected graph, input first; b is
    None in the tutorial's formulation (W's first row).  ExportError naming the first
    node that does not fit Linear -> activation -> Linear -> ... -> activation."""
    if len(graph.output_nodes) != 1:
        raise ExportError(f"a fully-connected net has one output, this graph has "
                          f"{len(graph.output_nodes)}")
    node, _ = graph.output_nodes[0]
    layers = []
    while not isinstance(node, InputNode) or not layers:
        if type(node) not in TORCH_ACTIVATIONS:
            raise _not_sequential(node, "an activation")
        product, _ = node.parents[0]
        inputs = [parent for parent, _ in product.parents]
        if type(product) is LinearNode and _parameters(inputs[1:]):
            layers.append((inputs[1], inputs[2], node))
            node = inputs[0]
        elif (type(product) is MultiplicationNode and type(inputs[0]) is AddBiasNode
              and _parameters(inputs[1:])):
            layers.append((inputs[1], None, node))
            node = inputs[0].parents[0][0]
        else:
            raise _not_sequential(product, "x·W + b (a LinearNode, or an AddBiasNode and a "
                                           "MultiplicationNode) over weights")
    return layers[::-1]


def _parameters(nodes: list[Node]) -> bool:
    return all(isinstance(node, ParameterNode) for node in nodes)


def _not_sequential(node: Node, wanted: str) -> ExportError:
    return ExportError(f"{node.describe()} is where {wanted} should be: PyTorch's "
                       "nn.Sequential(Linear, activation, ...) layout maps fully-connected "
                       "nets (dagnet.fully_connected) only")


def _torch_cells(model: RecurrentNetwork) -> list:
    if len(set(model.hidden)) != 1:
        raise ExportError(f"PyTorch's nn.{model.cell.upper()} has one hidden size for all its "
                          f"layers; this model's are {model.hidden}")
    return model.cells


def _recurrent_to_torch(model: RecurrentNetwork) -> dict[str, np.ndarray]:
    state = {} if model.E is None else {"embedding.weight": np.array(model.E.w)}
    for k, cell in enumerate(_torch_cells(model)):
        order = TORCH_BLOCKS[cell.kind]
        b_h = getattr(cell, "b_h", None)
        state[f"rnn.weight_ih_l{k}"] = np.array(reorder_blocks(cell.W.w, order).T)
        state[f"rnn.weight_hh_l{k}"] = np.array(reorder_blocks(cell.U.w, order).T)
        state[f"rnn.bias_ih_l{k}"] = reorder_blocks(cell.b.w, order)
        state[f"rnn.bias_hh_l{k}"] = (np.zeros_like(cell.b.w) if b_h is None
                                      else reorder_blocks(b_h.w, order))
    state["output.weight"] = np.array(model.W_out.w.T)
    state["output.bias"] = np.array(model.b_out.w)
    return state


def _recurrent_from_torch(model: RecurrentNetwork, state: dict[str, np.ndarray]) -> None:
    if model.E is not None:
        model.E.w[...] = state["embedding.weight"]
    for k, cell in enumerate(model.cells):
        order = TORCH_BLOCKS[cell.kind]
        b_ih, b_hh = (restore_blocks(state[f"rnn.bias_{x}_l{k}"].astype(np.float64), order)
                      for x in ("ih", "hh"))
        b_h = getattr(cell, "b_h", None)
        if b_h is not None:
            b_h.w[...] = b_hh
        elif cell.kind == "gru" and np.any(b_hh[2 * cell.n_hidden:]):
            raise ExportError(f"rnn.bias_hh_l{k}: its n block (b_hn, inside r⊙(h·U_n + b_hn)) "
                              "is not zero, and a dagnet GRU has that bias only when built "
                              "with RecurrentNetwork(..., recurrent_bias=True)")
        cell.W.w[...] = restore_blocks(state[f"rnn.weight_ih_l{k}"].T, order)
        cell.U.w[...] = restore_blocks(state[f"rnn.weight_hh_l{k}"].T, order)
        cell.b.w[...] = b_ih if b_h is not None else b_ih + b_hh
    model.W_out.w[...] = state["output.weight"].T
    model.b_out.w[...] = state["output.bias"]
