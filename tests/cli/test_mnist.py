"""``dagnet mnist`` and ``dagnet predict``: a real training run, its outputs, and prediction
from IDX files and ordinary images."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import dagnet
from dagnet.cli import main
from dagnet.data import mnist as mnist_data
from dagnet.data.idx import write_idx
from dagnet.data.mnist import ENV_VARIABLE, FILE_NAMES, Preprocessing, load_mnist
from tests.conftest import SHARED_DATA, require_data
from tests.data.conftest import unused_local_url

MNIST = SHARED_DATA / "mnist"
FIGURES = ["learning_curves.png", "weights.png", "deep_features.png", "confusion_matrix.png",
           "errors.png"]


@pytest.fixture(scope="module")
def one_layer_run(tmp_path_factory):
    """The tutorial's first target: one softmax layer, batch 128, one epoch, float32."""
    data = require_data(MNIST)
    out = tmp_path_factory.mktemp("mnist10")
    code = main(["mnist", "--layers", "10", "--epochs", "1", "--batch-size", "128", "--lr", "2",
                 "--seed", "0", "--dtype", "float32", "--data", str(data), "--out", str(out),
                 "--quiet"])
    assert code == 0
    return out


def test_one_softmax_layer_one_epoch_reaches_the_tutorials_91_5_percent(one_layer_run):
    metrics = json.loads((one_layer_run / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.915
    assert metrics["accuracy"] == metrics["test_accuracy"]
    for key in ("command", "seed", "wall_seconds", "train_seconds", "final", "history",
                "train_accuracy"):
        assert key in metrics
    (entry,) = metrics["history"]
    assert entry["epoch"] == 1 and entry["train_seconds"] > 0 and entry["loss"] > 0
    assert metrics["final"] == entry and metrics["stop_reason"] == "done"
    log = [json.loads(line) for line in (one_layer_run / "metrics.jsonl").read_text().splitlines()]
    assert log == metrics["history"]
    assert entry["test_accuracy"] == metrics["test_accuracy"]
    assert 0.85 < entry["train_accuracy"] < 1
    assert metrics["dtype"] == "float32" and metrics["train_images"] == 60000
    confusion = np.array(metrics["confusion_matrix"])
    assert confusion.sum() == 10000
    assert np.trace(confusion) == round(metrics["test_accuracy"] * 10000)
    for name in FIGURES:
        with Image.open(one_layer_run / name) as image:
            assert image.format == "PNG" and min(image.size) >= 150
    assert sorted(metrics["figures"]) == sorted(FIGURES)


def test_the_saved_model_keeps_its_preprocessing_and_float32(one_layer_run):
    model = dagnet.load(one_layer_run / "model.safetensors")
    assert model.metadata["task"] == "mnist" and model.metadata["layers"] == [10]
    assert all(node.w.dtype == np.float32 for node in model.parameter_nodes)
    preprocessing = Preprocessing.from_model(model.metadata["preprocessing"],
                                             model.extra_tensors)
    train_images, _, test_images, test_labels = load_mnist(MNIST, download=False)
    np.testing.assert_allclose(preprocessing.mean, train_images.reshape(60000, -1).mean(0))
    X = preprocessing.transform(test_images, np.float32)
    accuracy = np.mean(model.predict(X).argmax(axis=1) == test_labels)
    metrics = json.loads((one_layer_run / "metrics.json").read_text())
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-12)


def fake_mnist(folder, rng, n_train=400, n_test=100):
    """Random digits in the MNIST format: enough to exercise the command quickly."""
    labels = rng.integers(0, 10, n_train + n_test).astype(np.uint8)
    images = rng.integers(0, 60, (n_train + n_test, 28, 28)).astype(np.uint8)
    for k in range(10):  # a bright bar whose row gives the label away
        images[labels == k, 2 + 2 * k, 4:24] = 255
    arrays = [images[:n_train], labels[:n_train], images[n_train:], labels[n_train:]]
    for name, array in zip(FILE_NAMES, arrays):
        write_idx(folder / f"{name}.gz", array)
    return folder


def test_same_seed_same_run_bit_for_bit(tmp_path, rng):
    data = fake_mnist(tmp_path / "data", rng)
    runs = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        assert main(["mnist", "--layers", "16", "10", "--epochs", "2", "--lr", "0.5",
                     "--batch-size", "50", "--seed", "3", "--preprocessing", "whiten",
                     "--data", str(data), "--out", str(out), "--quiet", "--3d"]) == 0
        runs.append(out)
    first, second = (dagnet.load(out / "model.safetensors") for out in runs)
    for a, b in zip(first.parameter_nodes, second.parameter_nodes):
        assert a.w.dtype == np.float32
        np.testing.assert_array_equal(a.w, b.w)
    metrics = [json.loads((out / "metrics.json").read_text()) for out in runs]
    assert [h["loss"] for h in metrics[0]["history"]] == [h["loss"] for h in metrics[1]["history"]]
    assert metrics[0]["test_accuracy"] > 0.9  # the bars are easy to learn
    other = tmp_path / "other-seed"
    main(["mnist", "--layers", "16", "10", "--epochs", "1", "--seed", "4", "--data",
          str(data), "--out", str(other), "--quiet"])
    assert not np.array_equal(dagnet.load(other / "model.safetensors").parameter_nodes[0].w,
                              first.parameter_nodes[0].w)


def test_bad_arguments_and_missing_data_are_one_line_errors(tmp_path, monkeypatch, capsys):
    assert main(["mnist", "--layers", "128", "64", "--out", str(tmp_path / "a")]) == 1
    assert "--layers must end with 10" in capsys.readouterr().err
    assert main(["mnist", "--components", "5", "--out", str(tmp_path / "b")]) == 1
    assert "--components applies to --preprocessing whiten" in capsys.readouterr().err
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    monkeypatch.setattr(mnist_data, "MIRRORS", (unused_local_url(),))
    assert main(["mnist", "--data", str(tmp_path / "nothing"), "--out",
                 str(tmp_path / "c"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dagnet mnist: error: MNIST not found") and err.count("\n") == 1
    assert "Traceback" not in err and f"${ENV_VARIABLE} is not set" in err
    assert not (tmp_path / "c").exists()  # no empty run folder left behind


# -- predict -------------------------------------------------------------------------

def test_predict_an_idx_file_as_json(one_layer_run, tmp_path, capsys):
    _, _, test_images, test_labels = load_mnist(MNIST, download=False)
    write_idx(tmp_path / "digits.idx", test_images[:25])
    model_path = one_layer_run / "model.safetensors"
    assert main(["predict", str(model_path), str(tmp_path / "digits.idx"), "--json",
                 "--top", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    predictions = result["predictions"]
    assert [p["index"] for p in predictions] == list(range(25))
    model = dagnet.load(model_path)
    prep = Preprocessing.from_model(model.metadata["preprocessing"], model.extra_tensors)
    expected = model.predict(prep.transform(test_images[:25], np.float32)).argmax(axis=1)
    assert [p["digit"] for p in predictions] == list(expected)
    assert np.mean(expected == test_labels[:25]) >= 0.8
    for p in predictions:
        assert len(p["top"]) == 2 and p["top"][0]["probability"] >= p["top"][1]["probability"]
        assert p["probability"] == p["top"][0]["probability"]


def photograph(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An MNIST digit as a user's picture: dark ink on light paper, scaled up,
    off-centre in a larger canvas, with a little noise."""
    scale = int(rng.integers(4, 9))
    big = np.asarray(Image.fromarray(digit).resize((28 * scale, 28 * scale),
                                                   Image.Resampling.BILINEAR), np.float64)
    canvas = np.full((300, 260), 0.0)
    top, left = int(rng.integers(0, 300 - 28 * scale)), int(rng.integers(0, 260 - 28 * scale))
    canvas[top:top + big.shape[0], left:left + big.shape[1]] = big
    paper = 230 - canvas * (200 / 255) + rng.normal(0, 3, canvas.shape)
    return np.clip(paper, 0, 255).astype(np.uint8)


def test_predict_reads_pictures_centred_like_mnist(one_layer_run, tmp_path, capsys):
    rng = np.random.default_rng(0)
    _, _, test_images, test_labels = load_mnist(MNIST, download=False)
    files = []
    for k in range(40):
        path = tmp_path / f"digit{k}.{'png' if k % 2 else 'jpg'}"
        Image.fromarray(photograph(test_images[k], rng)).save(path, quality=95)
        files.append(str(path))
    out = tmp_path / "out"
    assert main(["predict", str(one_layer_run / "model.safetensors"), *files, "--json",
                 "--out", str(out)]) == 0
    predictions = json.loads(capsys.readouterr().out)["predictions"]
    digits = np.array([p["digit"] for p in predictions])
    # Centred like MNIST, the pictures read as the original digits do (on 500 of them,
    # 97% of the one-layer model's answers are the same).
    model = dagnet.load(one_layer_run / "model.safetensors")
    prep = Preprocessing.from_model(model.metadata["preprocessing"], model.extra_tensors)
    on_originals = model.predict(prep.transform(test_images[:40], np.float32)).argmax(axis=1)
    assert np.mean(digits == on_originals) >= 0.9
    assert np.mean(digits == test_labels[:40]) >= 0.85
    assert json.loads((out / "metrics.json").read_text())["command"] == "predict"
    with Image.open(out / "inputs.png") as image:
        assert image.format == "PNG"


def test_predict_plain_text_output(one_layer_run, tmp_path, capsys):
    _, _, test_images, _ = load_mnist(MNIST, download=False)
    path = tmp_path / "seven.png"
    Image.fromarray(255 - test_images[0]).resize((100, 100)).save(path)
    assert main(["predict", str(one_layer_run / "model.safetensors"), str(path)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{path}: 7  (7: ")


def test_predict_errors(one_layer_run, tmp_path, capsys):
    model = str(one_layer_run / "model.safetensors")
    (tmp_path / "notes.txt").write_text("hello")
    Image.fromarray(np.full((50, 50), 200, np.uint8)).save(tmp_path / "blank.png")
    write_idx(tmp_path / "wide.idx", np.zeros((2, 28, 30), np.uint8))
    cases = {
        str(tmp_path / "notes.txt"): "not an image Pillow can read",
        str(tmp_path / "blank.png"): "blank.png: no digit found",
        str(tmp_path / "wide.idx"): "predict reads 28x28 uint8 images",
        str(tmp_path / "missing.png"): "missing.png: no such file",
    }
    for path, message in cases.items():
        assert main(["predict", model, path]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    other = tmp_path / "xor.safetensors"
    dagnet.save(dagnet.fully_connected([2, 1], 2), other)
    assert main(["predict", str(other), str(tmp_path / "blank.png")]) == 1
    assert "not an MNIST model" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["center", "standardize", "whiten"])
def test_float32_stays_float32_through_preprocessing_training_and_evaluation(rng, method):
    from dagnet.viz.mnist import forward_with_features

    images = rng.integers(0, 256, (96, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, 96).astype(np.uint8)
    prep = Preprocessing.fit(images, method, n_components=40)
    X = prep.transform(images, np.float32)
    model = dagnet.fully_connected([16, 8, 10], prep.n_features, "tanh", "softmax", rng=rng,
                                   dtype=np.float32)
    for name in ("sgd", "adam"):
        model.fit(X, labels, epochs=1, batch_size=32, optimizer=name, learning_rate=0.01,
                  seed=0)
        for node in model.nodes + model.parameter_nodes:
            for array in (node.y or []) + (node.dJdx or []):
                if array is not None:
                    assert array.dtype == np.float32, (name, node.describe())
    probabilities, features = forward_with_features(model, X)
    assert probabilities.dtype == np.float32 and features.dtype == np.float32


def test_resume_continues_bit_for_bit_and_refuses_contradicting_options(tmp_path, rng,
                                                                         capsys):
    data = fake_mnist(tmp_path / "data", rng)
    common = ["--layers", "16", "10", "--batch-size", "64", "--optimizer", "adam", "--lr",
              "0.01", "--data", str(data), "--quiet"]
    assert main(["mnist", *common, "--epochs", "3", "--out", str(tmp_path / "whole")]) == 0
    assert main(["mnist", *common, "--epochs", "1", "--out", str(tmp_path / "part")]) == 0
    checkpoint = str(tmp_path / "part" / "model.safetensors")
    # Options not given again come from the checkpoint (batch size, optimizer, layers).
    assert main(["mnist", "--epochs", "3", "--data", str(data), "--quiet", "--resume",
                 checkpoint]) == 0
    whole = dagnet.load(tmp_path / "whole" / "model.safetensors")
    resumed = dagnet.load(checkpoint)
    for a, b in zip(whole.parameter_nodes, resumed.parameter_nodes):
        np.testing.assert_array_equal(a.w, b.w)
    records = [json.loads((tmp_path / k / "metrics.json").read_text()) for k in ("whole", "part")]
    assert records[0]["history"] == [{**h, "train_seconds": records[0]["history"][i][
        "train_seconds"], "examples_per_second": records[0]["history"][i][
        "examples_per_second"]} for i, h in enumerate(records[1]["history"])]
    capsys.readouterr()
    assert main(["mnist", "--layers", "32", "10", "--data", str(data), "--epochs", "4",
                 "--resume", checkpoint, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "--layers 32 10 contradicts the checkpoint" in err and err.count("\n") == 1


@pytest.mark.parametrize("flag, value", [("--seed", "-1"), ("--epochs", "0"),
                                         ("--batch-size", "two"), ("--dtype", "int8"),
                                         ("--lr", "nan"), ("--out", "")])
def test_bad_values_are_refused_by_the_parser_in_one_line(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["mnist", flag, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("usage") is False
