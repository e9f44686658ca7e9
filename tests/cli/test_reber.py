"""``dagnet reber`` and ``dagnet reber-compare``: they learn, write their files, are
reproducible, resume bit for bit, and fail with one line."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
from PIL import Image

from dagnet.cli import main
from dagnet.data import reber
from dagnet.experiments import reber as experiment
from dagnet.models.rnn import RecurrentNetwork

TIMING = ("train_seconds", "examples_per_second")


def read_metrics(folder):
    return json.loads((folder / "metrics.json").read_text())


def without_timing(entries):
    return [{k: v for k, v in entry.items() if k not in TIMING} for entry in entries]


def weights(folder):
    return [p.w for p in RecurrentNetwork.load(folder / "model.safetensors").parameter_nodes]


def test_rnn_with_4_units_learns_the_reber_grammar(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["reber", "--cell", "rnn", "--strings", "10000", "--test-strings", "400",
                 "--checkpoints", "2", "--out", str(out)]) == 0
    metrics = read_metrics(out)
    assert metrics["accuracy"] >= 0.99 and metrics["stop_reason"] == "done"
    assert metrics["hidden"] == 4 and metrics["strings_seen"] == 10000
    assert metrics["updates"] == 10000 // 16
    # Measured before training, then every 313 updates of 16 strings, and at the end.
    points = [metrics["untrained"], *metrics["history"]]
    assert [p["strings"] for p in points] == [0, 5008, 10000]
    assert points[0]["test_accuracy"] < 0.5 <= points[-1]["test_accuracy"]
    assert metrics["history"][-1]["test_accuracy"] == metrics["accuracy"]
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert logged == metrics["history"]
    for name in ("learning_curve.png", "deep_states.png"):
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.size[0] > 500
    assert metrics["files"]["learning_curve"] == "learning_curve.png"
    # The model file gives back the same predictions on the same fresh strings.
    net = RecurrentNetwork.load(out / "model.safetensors")
    assert net.metadata["symbols"] == reber.SYMBOLS
    assert net.metadata["accuracy"] == metrics["accuracy"]
    task = experiment.ReberTask(test_strings=400)
    accuracy = experiment.Accuracy(experiment.test_strings(task, 0), task, net.dtype)
    assert accuracy(net)["accuracy"] == metrics["accuracy"]
    assert f"{metrics['accuracy']:.1%} of strings correct" in capsys.readouterr().err


def test_same_seed_same_run(tmp_path):
    runs = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        assert main(["reber", "--cell", "gru", "--embedded", "--hidden", "5", "--strings",
                     "400", "--test-strings", "100", "--checkpoints", "2", "--seed", "3",
                     "--out", str(out), "--quiet"]) == 0
        runs.append(read_metrics(out))
    assert without_timing(runs[0]["history"]) == without_timing(runs[1]["history"])
    assert "test_penultimate_accuracy" in runs[0]["history"][-1]
    assert "penultimate_accuracy" in runs[0] and runs[0]["grammar"] == "embedded Reber"
    for a, b in zip(weights(tmp_path / "run0"), weights(tmp_path / "run1")):
        np.testing.assert_array_equal(a, b)


def test_one_string_at_a_time_with_composed_cells(tmp_path):
    out = tmp_path / "run"
    assert main(["reber", "--cell", "lstm", "--batch-size", "1", "--unfused", "--strings",
                 "30", "--test-strings", "20", "--checkpoints", "1", "--dtype", "float64",
                 "--optimizer", "gd", "--lr", "0.1", "--lr-schedule", "constant",
                 "--out", str(out), "--quiet"]) == 0
    metrics = read_metrics(out)
    assert metrics["updates"] == 30 and metrics["fused"] is False
    assert metrics["optimizer"]["name"] == "gd" and metrics["optimizer"]["schedule"] is None
    assert RecurrentNetwork.load(out / "model.safetensors").cells[0].W.w.dtype == np.float64


def interrupt_at_the_second_measurement(monkeypatch):
    """Ctrl-C while the accuracy is measured after the first training updates (the first
    measurement is the untrained net's, before the Trainer runs)."""
    measure = experiment.Accuracy.__call__
    calls = []

    def measure_then_interrupt(self, model):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return measure(self, model)

    monkeypatch.setattr(experiment.Accuracy, "__call__", measure_then_interrupt)


def test_ctrl_c_saves_a_checkpoint_that_resumes_bit_for_bit(tmp_path, monkeypatch, capsys):
    options = ["--cell", "lstm", "--embedded", "--hidden", "6", "--strings", "320",
               "--test-strings", "50", "--checkpoints", "4", "--seed", "5", "--quiet"]
    assert main(["reber", *options, "--out", str(tmp_path / "whole")]) == 0
    with monkeypatch.context() as patch:
        interrupt_at_the_second_measurement(patch)
        assert main(["reber", *options, "--out", str(tmp_path / "cut")]) == 130
    cut = read_metrics(tmp_path / "cut")
    assert cut["stop_reason"] == "interrupted" and cut["updates"] == 6  # after its step
    assert "continue with --resume" in capsys.readouterr().err
    # Every other option comes from the checkpoint; --checkpoints may change (same here).
    assert main(["reber", "--resume", str(tmp_path / "cut" / "model.safetensors"),
                 "--checkpoints", "4", "--quiet"]) == 0
    whole, resumed = read_metrics(tmp_path / "whole"), read_metrics(tmp_path / "cut")
    for a, b in zip(weights(tmp_path / "whole"), weights(tmp_path / "cut")):
        np.testing.assert_array_equal(a, b)
    for key in ("accuracy", "penultimate_accuracy", "strings_seen", "updates", "untrained"):
        assert resumed[key] == whole[key]
    # The same measurements at the same steps, plus the one where Ctrl-C stopped the run.
    by_step = {h["step"]: h["test_accuracy"] for h in resumed["history"]}
    assert [h["step"] for h in resumed["history"]] == [5, 6, 10, 15, 20]
    assert all(by_step[h["step"]] == h["test_accuracy"] for h in whole["history"])


def test_resume_refuses_options_that_contradict_the_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["reber", "--strings", "32", "--test-strings", "10", "--out", str(out),
                 "--quiet"]) == 0
    checkpoint = str(out / "model.safetensors")
    for flag, value in (("--cell", "gru"), ("--batch-size", "8"), ("--lr", "0.5")):
        assert main(["reber", "--resume", checkpoint, flag, value]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{flag} {value} contradicts the checkpoint" in err


def test_a_diverged_run_keeps_its_record(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["reber", "--strings", "64", "--test-strings", "10", "--optimizer", "gd",
                 "--lr", "1e38", "--lr-schedule", "constant", "--out", str(out),
                 "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dagnet reber: error") and err.count("\n") == 1
    assert read_metrics(out)["stop_reason"] == "diverged"


def test_compare_trains_every_cell_with_similar_sizes(tmp_path):
    out = tmp_path / "compare"
    assert main(["reber-compare", "--strings", "160", "--seeds", "2", "--test-strings", "40",
                 "--checkpoints", "2", "--out", str(out), "--quiet"]) == 0
    compare = json.loads((out / "compare.json").read_text())
    cells = compare["cells"]
    assert list(cells) == ["rnn", "gru", "lstm"]
    sizes = [cells[c]["parameters"] for c in cells]
    assert max(sizes) < 1.1 * min(sizes)
    assert cells["lstm"]["hidden"] == 16
    for cell in cells.values():
        assert [r["seed"] for r in cell["runs"]] == [0, 1]
        assert [h["strings"] for h in cell["runs"][0]["history"]] == [80, 160]
        assert cell["runs"][0]["untrained"]["strings"] == 0
    metrics = read_metrics(out)
    assert metrics["cells"]["gru"]["accuracies"] == [r["accuracy"]
                                                      for r in cells["gru"]["runs"]]
    assert metrics["seeds"] == [0, 1] and metrics["stop_reason"] == "done"
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(e["cell"], e["seed"]) for e in logged[::2]] == [
        (cell, seed) for cell in ("rnn", "gru", "lstm") for seed in (0, 1)]
    with Image.open(out / "compare.png") as image:
        assert image.format == "PNG"


def test_inapplicable_optimizer_options_fail_with_one_line(tmp_path, capsys):
    code = main(["reber", "--strings", "10", "--out", str(tmp_path / "run"), "--quiet",
                 "--optimizer", "gd", "--beta1", "0.5"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.count("\n") == 0 and "--beta1 does not apply" in err
    assert err.startswith("dagnet reber: error")


@pytest.mark.parametrize("arguments", [
    ["reber", "--strings", "0"], ["reber", "--batch-size", "2.5"], ["reber", "--seed", "-1"],
    ["reber", "--threshold", "1.5"], ["reber", "--threshold", "0"],
    ["reber", "--threshold", "nan"], ["reber", "--test-strings", "inf"],
    ["reber", "--checkpoints", "x"], ["reber", "--hidden", "-4"], ["reber", "--cell", "tcn"],
    ["reber-compare", "--seeds", "0"], ["reber-compare", "--parameters", "-3"],
    ["reber-compare", "--resume", "model.safetensors"],  # a sweep does not resume
])
def test_bad_values_are_refused_by_the_parser(arguments, capsys):
    with pytest.raises(SystemExit) as exc:
        main(arguments)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]  # argparse's error line, after the usage
    assert last.startswith("dagnet") and ": error: " in last
