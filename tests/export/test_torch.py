"""PyTorch state dicts both ways: dagnet weights load into torch modules with
``load_state_dict(strict=True)`` and give the same outputs, and random torch weights
imported into dagnet give the same outputs (float64, 1e-6).  Skipped without torch."""

from __future__ import annotations

import numpy as np
import pytest

import dagnet
from dagnet.errors import ExportError
from dagnet.export import from_torch_state_dict, to_torch_state_dict
from dagnet.graph import Graph
from dagnet.models.charrnn import CharRNN
from dagnet.models.rnn import RecurrentNetwork
from dagnet.node import InputNode
from dagnet.nodes import ConcatenationNode, TanhNode
from tests.conftest import require

torch = require("torch")
nn = torch.nn

TOLERANCE = 1e-6
MODULES = {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "relu": nn.ReLU, "identity": nn.Identity,
           "softmax": lambda: nn.Softmax(dim=-1)}


def sequential(sizes: list[int], activation: str, output: str) -> nn.Sequential:
    modules = []
    for k in range(1, len(sizes)):
        modules += [nn.Linear(sizes[k - 1], sizes[k]),
                    MODULES[output if k == len(sizes) - 1 else activation]()]
    return nn.Sequential(*modules).double()


class TorchRecurrent(nn.Module):
    """The module of the names in docs/export.md: embedding (optional), rnn, output."""

    def __init__(self, cell: str, n_inputs: int, hidden: int, layers: int, n_outputs: int,
                 embedding: int | None = None):
        super().__init__()
        self.n_inputs = n_inputs
        if embedding is not None:
            self.embedding = nn.Embedding(n_inputs, embedding)
        rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn(embedding or n_inputs, hidden, num_layers=layers)
        self.output = nn.Linear(hidden, n_outputs)
        self.double()

    def forward(self, x, state):
        if hasattr(self, "embedding"):
            x = self.embedding(x)
        elif not x.is_floating_point():  # symbol indices: one-hot rows
            x = nn.functional.one_hot(x, self.n_inputs).double()
        y, final = self.rnn(x, state)
        return self.output(y), final


def as_tensors(state: dict[str, np.ndarray]) -> dict:
    return {name: torch.from_numpy(value) for name, value in state.items()}


def as_arrays(module: nn.Module) -> dict[str, np.ndarray]:
    return {name: value.numpy() for name, value in module.state_dict().items()}


def randomize(model, rng) -> None:
    for p in model.parameter_nodes:
        p.w[...] = 0.5 * rng.standard_normal(p.w.shape)


# -- fully-connected nets as nn.Sequential -------------------------------------------------------

@pytest.mark.parametrize("formulation", ["affine", "tutorial"])
@pytest.mark.parametrize("activation", list(MODULES))
def test_a_fully_connected_net_loads_into_nn_sequential(activation, formulation, rng):
    net = dagnet.fully_connected([6, 4, 3], 5, activation, "softmax", formulation=formulation)
    randomize(net, rng)
    module = sequential([5, 6, 4, 3], activation, "softmax")
    module.load_state_dict(as_tensors(to_torch_state_dict(net)), strict=True)
    X = rng.standard_normal((7, 5))
    theirs = module(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_allclose(theirs, net.predict(X), rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("formulation", ["affine", "tutorial"])
def test_nn_sequential_weights_import_into_a_fully_connected_net(formulation, rng):
    module = sequential([5, 6, 2], "relu", "sigmoid")
    net = dagnet.fully_connected([6, 2], 5, "relu", "sigmoid", formulation=formulation)
    assert from_torch_state_dict(net, as_arrays(module)) is net
    X = rng.standard_normal((7, 5))
    np.testing.assert_allclose(net.predict(X), module(torch.from_numpy(X)).detach().numpy(),
                               rtol=0, atol=TOLERANCE)
    # ... and back out under the same names, unchanged.
    for name, value in to_torch_state_dict(net).items():
        np.testing.assert_array_equal(value, as_arrays(module)[name])


# -- recurrent networks as nn.RNN / nn.LSTM / nn.GRU -----------------------------------------

def torch_state(net: RecurrentNetwork, state: list[np.ndarray]):
    """dagnet's states [layer1/h, (layer1/c), layer2/h, ...] as torch's (L, B, H) stacks."""
    per_layer = len(net.cells[0].state_names)
    stacks = [torch.from_numpy(np.stack(state[k::per_layer])) for k in range(per_layer)]
    return tuple(stacks) if per_layer == 2 else stacks[0]


def compare(net: RecurrentNetwork, module: TorchRecurrent, rng) -> None:
    T, B = 6, 3
    if net.inputs == "indices":
        X = rng.integers(0, net.n_inputs, (T, B))
    else:
        X = rng.standard_normal((T, B, net.n_inputs))
    state = [rng.standard_normal(s.shape) for s in net.initial_state(B)]
    logits, final = net.propagate(X, state)
    their_logits, their_final = module(torch.from_numpy(X), torch_state(net, state))
    np.testing.assert_allclose(their_logits.detach().numpy(), logits, rtol=0, atol=TOLERANCE)
    ours_final = torch_state(net, final)
    pairs = (zip(ours_final, their_final) if isinstance(ours_final, tuple)
             else [(ours_final, their_final)])
    for ours, theirs in pairs:
        np.testing.assert_allclose(theirs.detach().numpy(), ours.numpy(), rtol=0, atol=TOLERANCE)


OPTIONS = {"dense": {}, "indices": {"inputs": "indices"},
           "embedding": {"inputs": "indices", "embedding": 3}}


@pytest.mark.parametrize("options", list(OPTIONS))
@pytest.mark.parametrize("cell, recurrent_bias", [("rnn", False), ("lstm", False),
                                                  ("gru", False), ("gru", True)])
def test_a_recurrent_network_loads_into_the_torch_module(cell, recurrent_bias, options, rng):
    net = RecurrentNetwork(cell, 5, [4, 4], 5, recurrent_bias=recurrent_bias,
                           **OPTIONS[options])
    randomize(net, rng)
    module = TorchRecurrent(cell, 5, 4, 2, 5, net.embedding)
    module.load_state_dict(as_tensors(to_torch_state_dict(net)), strict=True)
    compare(net, module, rng)


@pytest.mark.parametrize("options", list(OPTIONS))
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_random_torch_weights_import_into_a_recurrent_network(cell, options, rng):
    torch.manual_seed(0)
    module = TorchRecurrent(cell, 5, 4, 2, 5, OPTIONS[options].get("embedding"))
    net = RecurrentNetwork(cell, 5, [4, 4], 5, recurrent_bias=cell == "gru",
                           **OPTIONS[options])
    from_torch_state_dict(net, as_arrays(module))
    compare(net, module, rng)


def test_a_charrnn_has_the_same_names(rng):
    net = CharRNN("abcdef", [4, 4], "lstm", dtype=np.float64)
    module = TorchRecurrent("lstm", 6, 4, 2, 6)
    module.load_state_dict(as_tensors(to_torch_state_dict(net)), strict=True)
    compare(net, module, rng)


def test_a_gru_without_recurrent_bias_takes_only_a_zero_b_hn(rng):
    net = RecurrentNetwork("gru", 5, [4], 5)
    module = TorchRecurrent("gru", 5, 4, 1, 5)
    with pytest.raises(ExportError, match=r"rnn.bias_hh_l0: its n block .* recurrent_bias=True"):
        from_torch_state_dict(net, as_arrays(module))
    with torch.no_grad():
        module.rnn.bias_hh_l0[8:] = 0  # b_hn = 0: b_hr and b_hz add into b exactly
    from_torch_state_dict(net, as_arrays(module))
    compare(net, module, rng)


# -- what does not fit -----------------------------------------------------------------------

def test_a_state_dict_that_does_not_fit_is_an_error_naming_the_keys():
    net = dagnet.fully_connected([3, 2], 4)
    state = to_torch_state_dict(net)
    with pytest.raises(ExportError, match=r"missing \['2.bias'\], unexpected \['4.weight'\]"):
        from_torch_state_dict(net, {k: v for k, v in state.items() if k != "2.bias"}
                              | {"4.weight": np.zeros(2)})
    with pytest.raises(ExportError, match=r"0.weight: expected numbers of shape \(3, 4\), got "
                                          r"float64 of shape \(4, 3\)"):
        from_torch_state_dict(net, state | {"0.weight": np.zeros((4, 3))})


def test_models_without_a_torch_layout_are_errors_naming_why():
    with pytest.raises(ExportError, match=r"one hidden size for all its layers; .* \[4, 3\]"):
        to_torch_state_dict(RecurrentNetwork("lstm", 5, [4, 3], 5))
    X = InputNode(name="X")
    odd = Graph(None, [X], [TanhNode([ConcatenationNode([X, X], name="both")])])
    with pytest.raises(ExportError, match="ConcatenationNode 'both' is where x·W"):
        to_torch_state_dict(odd)
    with pytest.raises(ExportError, match="InputNode 'X' is where an activation"):
        to_torch_state_dict(Graph(None, [X], [X]))
