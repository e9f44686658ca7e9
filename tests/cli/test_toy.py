"""dagnet xor, disk and lr-sweep: end to end, reproducible, meeting the targets, failing well."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import dagnet
from dagnet.cli import build_parser, main
from dagnet.cli.toy import train_xor
from dagnet.data import toy

# Differ from run to run by nature; everything else in metrics.json must not.
TIMES = {"seconds", "training_seconds"}


def run(tmp_path, *argv, name="run"):
    out = tmp_path / name
    code = main([*argv, "--out", str(out), "--no-progress"])
    return code, out


def metrics(folder) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def assert_png(path):
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 300


def without_times(m: dict) -> dict:
    m = {k: v for k, v in m.items() if k not in TIMES}
    for key in ("history",):
        m[key] = [{k: v for k, v in h.items() if k not in TIMES} for h in m[key]]
    for r in m.get("runs", []):
        r["history"] = [{k: v for k, v in h.items() if k not in TIMES} for h in r["history"]]
    return m


def same_weights(a, b) -> bool:
    """The two runs' models hold bit-identical weights.

    Not the file's bytes: safetensors writes the metadata keys in a varying order.
    """
    first, second = dagnet.load(a / "model.safetensors"), dagnet.load(b / "model.safetensors")
    return all(p.w.tobytes() == q.w.tobytes()
               for p, q in zip(first.parameter_nodes, second.parameter_nodes, strict=True))


def test_xor_default_run_learns_xor_and_writes_everything(tmp_path):
    code, out = run(tmp_path, "xor")
    assert code == 0
    for name in ("decision_boundary.png", "learning_curve.png"):
        assert_png(out / name)
    m = metrics(out)
    assert m["command"] == "xor" and m["seed"] == 0 and m["layers"] == [4, 4, 1]
    assert m["activation"] == "tanh" and m["init_scale"] == 0.1
    assert m["accuracy"] == 1.0  # the target: the seeded default run gets all four right
    assert m["seconds"] > 0 and m["final_cost"] < 0.01
    assert [h["epoch"] for h in m["history"]] == list(range(1, 2001))
    assert {"epoch", "cost", "accuracy"} <= set(m["history"][0])
    assert m["history"][-1]["cost"] < m["history"][0]["cost"]
    # The saved model is the trained network: it reproduces the recorded outputs.
    model = dagnet.load(out / "model.safetensors")
    X, Y = toy.xor()
    (outputs,) = model.propagate([X])
    np.testing.assert_allclose(outputs[:, 0], list(m["outputs"].values()))
    assert model.metadata["command"] == "xor"


@pytest.mark.parametrize("argv,scale", [([], 0.1), (["--activation", "relu"], 1.0),
                                        (["--activation", "sigmoid"], 1.0),
                                        (["--init-scale", "0.5"], 0.5)])
def test_xor_scales_the_first_layer_by_activation(argv, scale):
    # One step of a negligible rate: the weights are still the initial ones.
    common = ["xor", "--epochs", "1", "--lr", "1e-12", "--no-progress"]
    args = build_parser().parse_args([*common, *argv])
    graph, _, _ = train_xor(args)
    assert args.init_scale == scale
    unscaled, _, _ = train_xor(build_parser().parse_args([*common, *argv[:2],
                                                          "--init-scale", "1"]))
    ratio = graph.parameter_nodes[0].w / unscaled.parameter_nodes[0].w
    np.testing.assert_allclose(ratio, scale, rtol=1e-9)


def test_same_seed_same_run_bit_for_bit(tmp_path):
    argv = ["xor", "--epochs", "300", "--seed", "5"]
    _, a = run(tmp_path, *argv, name="a")
    _, b = run(tmp_path, *argv, name="b")
    _, c = run(tmp_path, "xor", "--epochs", "300", "--seed", "6", name="c")
    assert without_times(metrics(a)) == without_times(metrics(b))
    assert same_weights(a, b) and not same_weights(a, c)
    assert dagnet.load(a / "model.safetensors").metadata["seed"] == 5
    assert (a / "decision_boundary.png").read_bytes() == (b / "decision_boundary.png").read_bytes()


def test_disk_is_reproducible_and_its_seed_changes_the_data(tmp_path):
    argv = ["disk", "--epochs", "2", "--train-points", "300", "--test-points", "100"]
    _, a = run(tmp_path, *argv, name="a")
    _, b = run(tmp_path, *argv, name="b")
    _, c = run(tmp_path, *argv, "--seed", "1", name="c")
    assert without_times(metrics(a)) == without_times(metrics(b))
    assert same_weights(a, b)
    assert metrics(a)["class_1_fraction"] != metrics(c)["class_1_fraction"]


def test_xor_smallest_network_learns_in_most_seeds():
    X, Y = toy.xor()
    solved = []
    for seed in range(10):
        # What `dagnet xor --layers 2 1 --seed S` trains, without drawing its figures.
        args = build_parser().parse_args(["xor", "--layers", "2", "1", "--seed", str(seed),
                                          "--no-progress"])
        graph, _, history = train_xor(args)
        assert len(history) == 2000
        solved.append(bool(np.all((graph.propagate([X])[0] > 0.5) == (Y > 0.5))))
    assert sum(solved) >= 7, f"[2, 1] solved XOR for seeds {np.flatnonzero(solved)}"


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_disk_default_run_reaches_97_percent_on_fresh_points(tmp_path, activation):
    code, out = run(tmp_path, "disk", "--activation", activation)
    assert code == 0
    m = metrics(out)
    assert m["accuracy"] >= 0.97 and m["test_points"] == 1000
    assert m["history"][-1]["test_accuracy"] == m["accuracy"]
    assert 0.45 < m["class_1_fraction"] < 0.55
    assert m["optimizer"]["schedule"]["name"] == "cosine"
    for name in ("decision_boundary.png", "learning_curve.png"):
        assert_png(out / name)
    model = dagnet.load(out / "model.safetensors")
    X, Y = toy.disk(1000, np.random.default_rng(99))  # other fresh points
    (p,) = model.propagate([X])
    assert np.mean((p > 0.5) == (Y > 0.5)) >= 0.97


def test_lr_sweep_records_convergence_and_divergence_without_crashing(tmp_path):
    code, out = run(tmp_path, "lr-sweep", "--epochs", "300", "--lrs", "1", "0.001", "100",
                    "1e308")
    assert code == 0
    assert_png(out / "lr_sweep.png")
    m = metrics(out)
    runs = {r["lr"]: r for r in m["runs"]}
    assert list(runs) == [0.001, 1.0, 100.0, 1e308]
    assert runs[1.0]["status"] == "converged" and runs[1.0]["accuracy"] == 1.0
    assert runs[0.001]["status"] == "slow"
    # lr 100 overshoots: the cost ends far above where it started.
    assert runs[100.0]["status"] == "diverged"
    assert runs[100.0]["final_cost"] > runs[100.0]["initial_cost"]
    # lr 1e308 overflows the weights: the cost becomes NaN, recorded with where it happened.
    assert runs[1e308]["status"] == "diverged" and runs[1e308]["final_cost"] is None
    assert re.fullmatch(r"the cost became nan at epoch (\d+), step 1 of 1",
                        runs[1e308]["reason"])
    assert len(runs[1e308]["history"]) == int(runs[1e308]["reason"].split()[-5][:-1]) - 1
    assert m["converged"] == [1.0] and m["diverged"] == [100.0, 1e308]
    assert m["best_lr"] == 1.0 and m["accuracy"] == 1.0
    assert m["final_cost"] == runs[1.0]["final_cost"]
    assert (out / "model.safetensors").exists() and (out / "decision_boundary.png").exists()


def test_a_nan_cost_stops_xor_with_one_line_naming_epoch_and_step(tmp_path, capsys):
    code, out = run(tmp_path, "xor", "--lr", "1e308")
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # no RuntimeWarning from NumPy either
    assert re.match(r"dagnet xor: error: the cost became nan at epoch \d+, step 1 of 1: try a "
                    r"lower learning rate \(it is 1e\+308\) \(--debug names", err[0])


@pytest.mark.parametrize("argv,message", [
    (["xor", "--lr", "-1"], "learning_rate must be in"),
    (["xor", "--layers", "4", "2"], "--layers must end with 1"),
    (["disk", "--init-scale", "0"], "--init-scale must be a positive"),
    (["lr-sweep", "--lr", "1"], "give them with --lrs"),
    (["lr-sweep", "--lrs", "1", "-2"], "--lrs must be positive"),
])
def test_bad_options_give_one_line_and_exit_1(tmp_path, capsys, argv, message):
    code, _ = run(tmp_path, *argv)
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_bad_lr_from_the_shell_is_one_line_without_traceback(tmp_path):
    command = [sys.executable, "-m", "dagnet", "xor", "--lr", "-1", "--out", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == ("dagnet xor: error: learning_rate must be in (0.0, inf), "
                                     "got -1.0")
    assert "Traceback" not in result.stderr
    debug = subprocess.run(command + ["--debug"], capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1 and "Traceback" in debug.stderr
