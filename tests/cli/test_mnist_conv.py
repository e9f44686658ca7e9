"""``dagnet mnist --model lenet5|cnn``: convolutional nets on fake digits, small and fast;
their model files, figures, prediction, ONNX export and resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

import dagnet
from dagnet.cli import main
from dagnet.data.idx import read_idx, write_idx
from dagnet.data.mnist import FILE_NAMES
from dagnet.experiments.digits import load_digit_model
from dagnet.experiments.mnist import RECIPES, model_inputs
from dagnet.nodes import BatchNormNode
from tests.cli.test_mnist import fake_mnist
from tests.conftest import require

# The cnn's cosine schedule spans the two-epoch run (3 batches an epoch), so that a run
# of one epoch resumed to two follows it too.
SMALL = {"lenet5": [], "cnn": ["--channels", "2", "4", "--hidden", "8", "--lr-total-steps", "6"]}
FIGURES = {"learning_curves.png", "deep_features.png", "confusion_matrix.png", "errors.png",
           "filters.png", "feature_maps.png"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return fake_mnist(tmp_path_factory.mktemp("digits"), np.random.default_rng(0),
                      n_train=192, n_test=64)


def train(data, out, model, *options) -> int:
    return main(["mnist", "--model", model, *SMALL[model], "--batch-size", "64", "--data",
                 str(data), "--out", str(out), "--quiet", "--threads", "1", *options])


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    """One run of each convolutional model, two epochs."""
    folders = {}
    for model in SMALL:
        folders[model] = tmp_path_factory.mktemp(model)
        assert train(data, folders[model], model, "--epochs", "2") == 0
    return folders


@pytest.mark.parametrize("kind", list(SMALL))
def test_a_conv_run_writes_its_record_figures_and_model(runs, data, kind):
    metrics = json.loads((runs[kind] / "metrics.json").read_text())
    recipe = RECIPES[kind]
    assert metrics["model"] == kind and metrics["optimizer"] == recipe.optimizer
    assert metrics["lr"] == recipe.lr and metrics["lr_schedule"] == recipe.lr_schedule
    assert set(metrics["figures"]) == FIGURES
    assert all((runs[kind] / name).stat().st_size > 5000 for name in FIGURES)
    assert len(metrics["history"]) == 2 and metrics["test_images"] == 64
    model = dagnet.load(runs[kind] / "model.safetensors")
    assert model.metadata["task"] == "mnist" and model.metadata["model"] == kind
    assert model.metadata["input_shape"] == [1, 28, 28]
    if kind == "cnn":
        assert model.metadata["builder"] == {"channels": [2, 4], "hidden": 8,
                                             "dropout": recipe.builder["dropout"]}
    # The saved model, loaded in a fresh graph, predicts what the run measured.
    model, preprocessing = load_digit_model(runs[kind] / "model.safetensors")
    _, _, test_images, test_labels = (read_idx(data / f"{name}.gz") for name in FILE_NAMES)
    X = model_inputs(model, preprocessing, test_images)
    assert X.shape == (64, 1, 28, 28)
    accuracy = np.mean(model.predict(X).argmax(axis=1) == test_labels)
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-12)


def test_predict_reads_digits_with_a_conv_model(runs, data, tmp_path, capsys):
    images = read_idx(data / f"{FILE_NAMES[2]}.gz")
    write_idx(tmp_path / "digits.idx", images[:5])
    capsys.readouterr()
    assert main(["predict", str(runs["cnn"] / "model.safetensors"), str(tmp_path / "digits.idx"),
                 "--json"]) == 0
    predictions = json.loads(capsys.readouterr().out)["predictions"]
    model, preprocessing = load_digit_model(runs["cnn"] / "model.safetensors")
    expected = model.predict(model_inputs(model, preprocessing, images[:5])).argmax(axis=1)
    assert [p["digit"] for p in predictions] == expected.tolist()


@pytest.mark.parametrize("kind", list(SMALL))
def test_conv_models_export_to_onnx_with_their_preprocessing(runs, data, tmp_path, kind):
    onnx, ort = require("onnx"), require("onnxruntime")
    path = tmp_path / f"{kind}.onnx"
    assert main(["export", str(runs[kind] / "model.safetensors"), "--to", str(path)]) == 0
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    images = read_idx(data / f"{FILE_NAMES[2]}.gz")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (theirs,) = session.run(None, {"pixels": images.reshape(-1, 784).astype(np.float32)})
    model, preprocessing = load_digit_model(runs[kind] / "model.safetensors")
    ours = model.predict(model_inputs(model, preprocessing, images))
    assert theirs.dtype == np.float32 and np.max(np.abs(ours - theirs)) <= 1e-5


def test_a_resumed_cnn_continues_bit_for_bit(runs, data, tmp_path):
    """Dropout masks, running statistics, Adam and the cosine schedule all continue: one
    epoch, then --resume to two, gives the two-epoch run's weights exactly."""
    assert train(data, tmp_path, "cnn", "--epochs", "1") == 0
    assert main(["mnist", "--epochs", "2", "--data", str(data), "--quiet", "--threads", "1",
                 "--resume", str(tmp_path / "model.safetensors")]) == 0
    whole, resumed = (dagnet.load(folder / "model.safetensors")
                      for folder in (runs["cnn"], tmp_path))
    for a, b in zip(whole.parameter_nodes, resumed.parameter_nodes):
        np.testing.assert_array_equal(a.w, b.w)
    for a, b in zip(*([n for n in m.nodes if isinstance(n, BatchNormNode)]
                      for m in (whole, resumed))):
        np.testing.assert_array_equal(a.running_var, b.running_var)
    assert resumed.metadata["model"] == "cnn"


@pytest.mark.parametrize("argv, message", [
    (["--model", "cnn", "--layers", "32", "10"], "--layers applies to --model mlp only"),
    (["--channels", "4", "8"], "--channels applies to --model cnn only, not mlp"),
    (["--model", "lenet5", "--dropout", "0.1"], "--dropout applies to --model cnn only"),
    (["--model", "lenet5", "--preprocessing", "whiten"], "--model lenet5 needs them in place"),
    (["--model", "lenet5", "--activation", "sigmoid"], "--model lenet5 takes relu or tanh"),
])
def test_options_of_another_model_are_refused_in_one_line(argv, message, tmp_path, capsys):
    assert main(["mnist", *argv, "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()
