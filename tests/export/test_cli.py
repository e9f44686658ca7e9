"""``dagnet export``: model files to ONNX (checked in onnxruntime) and to PyTorch-named
weights; every bad argument a one-line error."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

import dagnet
from dagnet.cli import main
from dagnet.data.mnist import Preprocessing
from dagnet.export import to_torch_state_dict
from dagnet.models.charrnn import CharRNN
from tests.conftest import require


@pytest.fixture
def mnist_file(tmp_path, rng):
    """A model as `dagnet mnist` saves it (random images stand in for MNIST's)."""
    preprocessing = Preprocessing.fit(rng.integers(0, 256, (200, 784), dtype=np.uint8),
                                      "standardize")
    net = dagnet.fully_connected([16, 10], 784, "relu", "softmax", dtype=np.float32)
    metadata, tensors = preprocessing.to_model()
    net.metadata, net.extra_tensors = {"task": "mnist", "preprocessing": metadata}, tensors
    return net.save(tmp_path / "mnist.safetensors")


def test_export_to_onnx_and_check_in_onnxruntime(mnist_file, tmp_path, capsys):
    onnx = require("onnx")
    require("onnxruntime")
    out = tmp_path / "mnist.onnx"
    assert main(["export", str(mnist_file), "--to", str(out), "--check", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["format"] == "ONNX" and summary["to"] == str(out)
    assert 0 <= summary["max_difference"] <= 1e-5 and summary["seconds"] > 0
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["pixels"]
    assert model.opset_import[0].version == 17


def test_export_a_charrnn_in_a_chosen_opset(tmp_path, capsys):
    onnx = require("onnx")
    require("onnxruntime")
    path = CharRNN("abc", [4], "gru").save(tmp_path / "char.safetensors")
    assert main(["export", str(path), "--to", str(tmp_path / "c.onnx"), "--opset", "18",
                 "--check"]) == 0
    assert "max |diff|" in capsys.readouterr().err
    assert onnx.load(str(tmp_path / "c.onnx")).opset_import[0].version == 18


def test_export_pytorch_names_as_safetensors(mnist_file, tmp_path):
    out = tmp_path / "torch.safetensors"
    assert main(["export", str(mnist_file), "--to", str(out)]) == 0
    written = load_file(str(out))
    expected = to_torch_state_dict(dagnet.load(mnist_file))
    assert sorted(written) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    for name, value in expected.items():
        np.testing.assert_array_equal(written[name], value)
    torch = require("torch")
    from safetensors.torch import load_file as load_torch

    net = torch.nn.Sequential(torch.nn.Linear(784, 16), torch.nn.ReLU(),
                              torch.nn.Linear(16, 10), torch.nn.Softmax(dim=-1))
    net.load_state_dict(load_torch(str(out)), strict=True)


@pytest.mark.parametrize("argv, message", [
    (["--to", "m.pt"], "argument --to: must end in .onnx or .safetensors"),
    (["--to", "m.onnx", "--opset", "12"], "argument --opset: must lie in 13 to"),
    (["--to", "m.onnx", "--opset", "100000"], "argument --opset: must lie in 13 to"),
    (["--to", "m.onnx", "--opset", "x"], "argument --opset: must be an integer"),
    ([], "the following arguments are required: --to"),
])
def test_bad_arguments_are_refused_by_the_parser_in_one_line(argv, message, mnist_file,
                                                             capsys):
    if "100000" in argv:
        require("onnx")  # the newest opset is the installed onnx's
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(mnist_file), *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and last.startswith("dagnet export: error: ")
    assert message in last


def test_errors_after_parsing_are_one_line(mnist_file, tmp_path, capsys):
    assert main(["export", str(tmp_path / "none.safetensors"), "--to", "m.onnx"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dagnet export: error: ") and err.count("\n") == 1
    assert main(["export", str(mnist_file), "--to", str(tmp_path / "t.safetensors"),
                 "--check"]) == 1
    assert "--check runs an ONNX file" in capsys.readouterr().err
