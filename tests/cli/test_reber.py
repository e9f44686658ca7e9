"""``dagnet reber`` and ``dagnet reber-compare``: they learn, write their files, are
reproducible, and fail with one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from dagnet.cli import main
from dagnet.cli.reber import _streams, evaluate
from dagnet.data import reber
from dagnet.models.rnn import RecurrentNetwork


def read_metrics(folder):
    return json.loads((folder / "metrics.json").read_text())


def test_rnn_with_4_units_learns_the_reber_grammar(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["reber", "--cell", "rnn", "--strings", "10000", "--test-strings", "400",
                 "--checkpoints", "2", "--out", str(out), "--no-progress"]) == 0
    metrics = read_metrics(out)
    assert metrics["accuracy"] >= 0.99
    assert metrics["hidden"] == 4 and metrics["strings_seen"] == 10000
    assert metrics["updates"] == 10000 // 16
    # Measured after the first update that reaches each checkpoint (16 strings each).
    assert [h["strings"] for h in metrics["history"]] == [0, 5008, 10000]
    assert metrics["history"][0]["accuracy"] < 0.5 <= metrics["history"][-1]["accuracy"]
    for name in ("learning_curve.png", "deep_states.png"):
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.size[0] > 500
    # The model file gives back the same predictions on the same fresh strings.
    net = RecurrentNetwork.load(out / "model.safetensors")
    assert net.metadata["symbols"] == reber.SYMBOLS
    test_strings = reber.generate(400, _streams(0)["test"])
    assert evaluate(net, test_strings, False)["accuracy"] == metrics["accuracy"]
    assert f"{metrics['accuracy']:.1%} of strings correct" in capsys.readouterr().err


def test_same_seed_same_run(tmp_path):
    runs = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        assert main(["reber", "--cell", "gru", "--embedded", "--hidden", "5", "--strings",
                     "400", "--test-strings", "100", "--checkpoints", "2", "--seed", "3",
                     "--out", str(out), "--no-progress"]) == 0
        runs.append(read_metrics(out))
    strip = [[{k: v for k, v in h.items() if k != "train_seconds"} for h in r["history"]]
             for r in runs]
    assert strip[0] == strip[1]
    assert "penultimate_accuracy" in runs[0]
    nets = [RecurrentNetwork.load(tmp_path / f"run{k}" / "model.safetensors") for k in (0, 1)]
    for a, b in zip(*(net.parameter_nodes for net in nets)):
        np.testing.assert_array_equal(a.w, b.w)


def test_one_string_at_a_time_with_composed_cells(tmp_path):
    out = tmp_path / "run"
    assert main(["reber", "--cell", "lstm", "--batch-size", "1", "--unfused", "--strings",
                 "30", "--test-strings", "20", "--checkpoints", "1", "--dtype", "float64",
                 "--optimizer", "gd", "--lr", "0.1", "--lr-schedule", "constant",
                 "--out", str(out), "--no-progress"]) == 0
    metrics = read_metrics(out)
    assert metrics["updates"] == 30 and metrics["fused"] is False
    assert metrics["optimizer"]["name"] == "gd" and metrics["optimizer"]["schedule"] is None
    assert RecurrentNetwork.load(out / "model.safetensors").cells[0].W.w.dtype == np.float64


def test_compare_trains_every_cell_with_similar_sizes(tmp_path):
    out = tmp_path / "compare"
    assert main(["reber-compare", "--strings", "160", "--seeds", "2", "--test-strings", "40",
                 "--checkpoints", "2", "--out", str(out), "--no-progress"]) == 0
    compare = json.loads((out / "compare.json").read_text())
    cells = compare["cells"]
    assert list(cells) == ["rnn", "gru", "lstm"]
    sizes = [cells[c]["parameters"] for c in cells]
    assert max(sizes) < 1.1 * min(sizes)
    assert cells["lstm"]["hidden"] == 16
    for cell in cells.values():
        assert [r["seed"] for r in cell["runs"]] == [0, 1]
        assert len(cell["runs"][0]["history"]) == 3
    metrics = read_metrics(out)
    assert metrics["cells"]["gru"]["accuracies"] == [r["accuracy"]
                                                      for r in cells["gru"]["runs"]]
    with Image.open(out / "compare.png") as image:
        assert image.format == "PNG"


@pytest.mark.parametrize("arguments, message", [
    (["--threshold", "1.5"], "--threshold must lie strictly between 0 and 1"),
    (["--optimizer", "gd", "--beta1", "0.5"], "--beta1 does not apply"),
])
def test_bad_options_fail_with_one_line(tmp_path, capsys, arguments, message):
    code = main(["reber", "--strings", "10", "--out", str(tmp_path / "run"), "--no-progress"]
                + arguments)
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.count("\n") == 0 and message in err and err.startswith("dagnet reber: error")


def test_non_positive_counts_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reber", "--strings", "0"])
    assert exc.value.code == 2
    assert "must be a positive integer" in capsys.readouterr().err
