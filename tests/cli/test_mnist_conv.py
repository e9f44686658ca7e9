"""``dagnet mnist --model lenet5|cnn``: convolutional nets on fake digits, small and fast;
their model files, figures, prediction, ONNX export and resume."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

import dagnet
from dagnet.cli import main
from dagnet.cli import mnist as mnist_command
from dagnet.data.idx import read_idx, write_idx
from dagnet.data.mnist import FILE_NAMES
from dagnet.experiments.digits import load_digit_model
from dagnet.experiments.mnist import RECIPES, apply_recipe, model_inputs, new_model
from dagnet.nodes import BatchNormNode
from tests.cli.test_mnist import fake_mnist
from tests.conftest import require

# The cnn's cosine schedule spans the two-epoch run (3 batches an epoch), so that a run
# of one epoch resumed to two follows it too.
# The cosine schedule spans the two-epoch run (3 batches an epoch), so that a run of one
# epoch resumed to two follows it too.
SMALL = ["--model", "cnn", "--channels", "2", "4", "--hidden", "8", "--batch-size", "64",
         "--lr-total-steps", "6"]
ALL_OPTIONS = ("optimizer", "lr", "lr_schedule", "epochs", "batch_size", "preprocessing",
               "layers", "activation", "pooling", "channels", "hidden", "dropout")
FIGURES = {"learning_curves.png", "deep_features.png", "confusion_matrix.png", "errors.png",
           "filters.png", "feature_maps.png"}


def no_figures(*args, **kwargs) -> dict:
    """Stands for the figures where a test does not look at them (they take seconds)."""
    return {}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return fake_mnist(tmp_path_factory.mktemp("digits"), np.random.default_rng(0),
                      n_train=192, n_test=64)


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    """A small cnn trained one epoch, then resumed to two: the folder."""
    out = tmp_path_factory.mktemp("cnn")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mnist_command, "_draw", no_figures)
        assert main(["mnist", *SMALL, "--epochs", "1", "--data", str(data), "--out", str(out),
                     "--quiet", "--threads", "1"]) == 0
    assert main(["mnist", "--epochs", "2", "--data", str(data), "--quiet", "--threads", "1",
                 "--resume", str(out / "model.safetensors")]) == 0
    return out


def test_a_conv_run_writes_its_record_figures_and_model(run, data):
    metrics = json.loads((run / "metrics.json").read_text())
    recipe = RECIPES["cnn"]
    assert metrics["model"] == "cnn" and metrics["optimizer"] == recipe.optimizer
    assert metrics["lr"] == recipe.lr and metrics["lr_schedule"] == recipe.lr_schedule
    assert metrics["builder"] == {"channels": [2, 4], "hidden": 8,
                                  "dropout": recipe.builder["dropout"]}
    assert set(metrics["figures"]) == FIGURES
    assert all((run / name).stat().st_size > 5000 for name in FIGURES)
    assert len(metrics["history"]) == 2 and metrics["test_images"] == 64
    model = dagnet.load(run / "model.safetensors")
    assert model.metadata["task"] == "mnist" and model.metadata["model"] == "cnn"
    assert model.metadata["input_shape"] == [1, 28, 28]
    assert model.metadata["builder"] == metrics["builder"]
    # The saved model, loaded in a fresh graph, predicts what the run measured.
    model, preprocessing = load_digit_model(run / "model.safetensors")
    _, _, test_images, test_labels = (read_idx(data / f"{name}.gz") for name in FILE_NAMES)
    X = model_inputs(model, preprocessing, test_images)
    assert X.shape == (64, 1, 28, 28)
    accuracy = np.mean(model.predict(X).argmax(axis=1) == test_labels)
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-12)


def test_predict_reads_digits_with_a_conv_model(run, data, tmp_path, capsys):
    images = read_idx(data / f"{FILE_NAMES[2]}.gz")
    write_idx(tmp_path / "digits.idx", images[:5])
    capsys.readouterr()
    assert main(["predict", str(run / "model.safetensors"), str(tmp_path / "digits.idx"),
                 "--json"]) == 0
    predictions = json.loads(capsys.readouterr().out)["predictions"]
    model, preprocessing = load_digit_model(run / "model.safetensors")
    expected = model.predict(model_inputs(model, preprocessing, images[:5])).argmax(axis=1)
    assert [p["digit"] for p in predictions] == expected.tolist()


def lenet5_file(data, folder):
    """A LeNet-5 as `dagnet mnist --model lenet5` saves it, untrained."""
    train_images = read_idx(data / f"{FILE_NAMES[0]}.gz")
    args = argparse.Namespace(model="lenet5", dtype="float32", seed=0, components=None,
                              train_size=None, **{k: None for k in ALL_OPTIONS})
    apply_recipe(args)
    model, _, _ = new_model(args, train_images, np.random.default_rng(0))
    return model.save(folder / "lenet5.safetensors")


@pytest.mark.parametrize("kind", ["lenet5", "cnn"])
def test_conv_models_export_to_onnx_with_their_preprocessing(run, data, tmp_path, kind):
    onnx, ort = require("onnx"), require("onnxruntime")
    source = run / "model.safetensors" if kind == "cnn" else lenet5_file(data, tmp_path)
    path = tmp_path / f"{kind}.onnx"
    assert main(["export", str(source), "--to", str(path)]) == 0
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    images = read_idx(data / f"{FILE_NAMES[2]}.gz")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (theirs,) = session.run(None, {"pixels": images.reshape(-1, 784).astype(np.float32)})
    model, preprocessing = load_digit_model(source)
    ours = model.predict(model_inputs(model, preprocessing, images))
    assert theirs.dtype == np.float32 and np.max(np.abs(ours - theirs)) <= 1e-5


def test_a_resumed_cnn_continues_bit_for_bit(run, data, tmp_path, monkeypatch):
    """Dropout masks, running statistics, Adam and the cosine schedule all continue: one
    epoch, then --resume to two, gives the two-epoch run's weights exactly."""
    monkeypatch.setattr(mnist_command, "_draw", no_figures)
    assert main(["mnist", *SMALL, "--epochs", "2", "--data", str(data), "--out",
                 str(tmp_path), "--quiet", "--threads", "1"]) == 0
    whole, resumed = (dagnet.load(folder / "model.safetensors") for folder in (tmp_path, run))
    for a, b in zip(whole.parameter_nodes, resumed.parameter_nodes):
        np.testing.assert_array_equal(a.w, b.w)
    for a, b in zip(*([n for n in m.nodes if isinstance(n, BatchNormNode)]
                      for m in (whole, resumed))):
        np.testing.assert_array_equal(a.running_var, b.running_var)
    records = [json.loads((folder / "metrics.json").read_text()) for folder in (tmp_path, run)]
    assert [h["loss"] for h in records[0]["history"]] == [h["loss"] for h in
                                                          records[1]["history"]]


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
