"""dagnet xor, disk and lr-sweep: end to end, reproducible, resumable, meeting the targets,
failing well."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import dagnet
from dagnet.cli import main
from dagnet.data import toy as data
from dagnet.experiments import toy
from dagnet.training import Interrupt, check_record

# Differ from run to run by nature (or by folder); everything else in metrics.json must not.
VARYING = {"wall_seconds", "train_seconds", "examples_per_second", "environment", "argv"}


def run(tmp_path, *argv, name="run"):
    out = tmp_path / name
    code = main([*argv, "--out", str(out), "--quiet"])
    return code, out


def metrics(folder) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def assert_png(path):
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 300


def steady(value):
    """``value`` without the keys that vary from run to run, at any depth."""
    if isinstance(value, dict):
        return {k: steady(v) for k, v in value.items() if k not in VARYING}
    if isinstance(value, list):
        return [steady(v) for v in value]
    return value


def weights(folder) -> list[bytes]:
    """The bytes of the model's weights (not the file's: its metadata order varies)."""
    return [p.w.tobytes() for p in dagnet.load(folder / "model.safetensors").parameter_nodes]


def test_xor_default_run_learns_xor_and_writes_everything(tmp_path):
    code, out = run(tmp_path, "xor")
    assert code == 0
    for name in ("decision_boundary.png", "learning_curve.png"):
        assert_png(out / name)
    m = metrics(out)
    check_record(m)
    assert m["command"] == "xor" and m["seed"] == 0 and m["layers"] == [4, 4, 1]
    assert m["activation"] == "tanh" and m["init_scale"] == 0.1 and m["dtype"] == "float32"
    assert m["accuracy"] == 1.0  # the target: the seeded default run gets all four right
    assert m["stop_reason"] == "done" and m["final_cost"] < 0.01
    assert m["files"] == {"checkpoint": "model.safetensors", "log": "metrics.jsonl"}
    # 2,000 one-step epochs are logged every 10 steps: 200 entries, not 2,000.
    assert [h["step"] for h in m["history"]] == list(range(10, 2001, 10))
    assert {"epoch", "loss", "train_loss", "train_accuracy"} <= set(m["history"][0])
    assert m["history"][-1]["loss"] < m["history"][0]["loss"]
    assert m["final"] == m["history"][-1] and m["final"]["train_loss"] == m["final_cost"]
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert log == m["history"]
    # The saved model is the trained network: it reproduces the recorded outputs.
    model = dagnet.load(out / "model.safetensors")
    assert model.parameter_nodes[0].w.dtype == np.float32
    X, _ = data.xor(np.float32)
    np.testing.assert_array_equal(model.predict(X)[:, 0].astype(np.float64),
                                  list(m["outputs"].values()))
    assert model.metadata["command"] == "xor"


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_xor_scales_the_first_layer_by_tanh_only(tmp_path, activation):
    # One step of a negligible rate: the weights are still the initial ones.
    code, out = run(tmp_path, "xor", "--epochs", "1", "--lr", "1e-30", "--activation",
                    activation)
    assert code == 0 and metrics(out)["init_scale"] == 1.0
    initial = toy.toy_network([4, 4, 1], activation, 1.0, toy.streams(0)["init"])
    np.testing.assert_allclose(dagnet.load(out / "model.safetensors").parameter_nodes[0].w,
                               initial.parameter_nodes[0].w, rtol=1e-6)


def test_same_seed_same_run_bit_for_bit(tmp_path):
    argv = ["xor", "--epochs", "300", "--seed", "5"]
    _, a = run(tmp_path, *argv, name="a")
    _, b = run(tmp_path, *argv, name="b")
    _, c = run(tmp_path, "xor", "--epochs", "300", "--seed", "6", name="c")
    assert steady(metrics(a)) == steady(metrics(b))
    assert weights(a) == weights(b) and weights(a) != weights(c)
    assert dagnet.load(a / "model.safetensors").metadata["seed"] == 5
    assert (a / "decision_boundary.png").read_bytes() == (b / "decision_boundary.png").read_bytes()


def test_train_xor_trains_exactly_what_the_command_trains(tmp_path):
    _, out = run(tmp_path, "xor", "--layers", "2", "1", "--seed", "3", "--epochs", "200")
    model, history = toy.train_xor([2, 1], seed=3, epochs=200)
    assert [p.w.tobytes() for p in model.parameter_nodes] == weights(out)
    assert steady(history.entries) == steady(metrics(out)["history"])


def test_disk_is_reproducible_and_its_seed_changes_the_data(tmp_path):
    argv = ["disk", "--epochs", "2", "--train-points", "300", "--test-points", "100"]
    _, a = run(tmp_path, *argv, name="a")
    _, b = run(tmp_path, *argv, name="b")
    _, c = run(tmp_path, *argv, "--seed", "1", name="c")
    assert steady(metrics(a)) == steady(metrics(b))
    assert weights(a) == weights(b)
    assert metrics(a)["class_1_fraction"] != metrics(c)["class_1_fraction"]
    m = metrics(a)
    assert [h["epoch"] for h in m["history"]] == [1, 2]
    assert m["history"][-1]["test_accuracy"] == m["accuracy"] == m["test_accuracy"]
    assert m["best"]["test_loss"] == min(h["test_loss"] for h in m["history"])


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_disk_default_run_reaches_97_percent_on_fresh_points(tmp_path, activation):
    code, out = run(tmp_path, "disk", "--activation", activation)
    assert code == 0
    m = metrics(out)
    assert m["accuracy"] >= 0.97 and m["test_points"] == 1000
    assert m["history"][-1]["test_accuracy"] == m["accuracy"]
    assert 0.45 < m["class_1_fraction"] < 0.55
    assert m["optimizer_config"]["schedule"]["name"] == "cosine"
    for name in ("decision_boundary.png", "learning_curve.png"):
        assert_png(out / name)
    model = dagnet.load(out / "model.safetensors")
    X, Y = data.disk(1000, np.random.default_rng(99))  # other fresh points
    assert np.mean((model.predict(X) > 0.5) == (Y > 0.5)) >= 0.97


# -- resuming ----------------------------------------------------------------------------

def test_xor_resumes_bit_for_bit(tmp_path):
    _, whole = run(tmp_path, "xor", "--epochs", "200", name="whole")
    _, split = run(tmp_path, "xor", "--epochs", "100", name="split")
    assert metrics(split)["final"]["step"] == 100
    assert main(["xor", "--resume", str(split / "model.safetensors"), "--epochs", "200",
                 "--quiet"]) == 0
    assert weights(split) == weights(whole)
    assert steady(metrics(split)) == steady(metrics(whole))


def test_disk_resumes_bit_for_bit_after_ctrl_c_mid_epoch(tmp_path, monkeypatch):
    argv = ["disk", "--epochs", "3", "--train-points", "300", "--test-points", "50",
            "--activation", "relu", "--seed", "2"]
    _, whole = run(tmp_path, *argv, name="whole")
    handle = Interrupt.__call__

    def ctrl_c_at_step_25(self, trainer):  # 10 steps per epoch: in the middle of the third
        self.requested = self.requested or trainer.step == 25
        handle(self, trainer)

    with monkeypatch.context() as patch:
        patch.setattr(Interrupt, "__call__", ctrl_c_at_step_25)
        code, split = run(tmp_path, *argv, name="split")
    assert code == 130
    m = metrics(split)
    assert m["stop_reason"] == "interrupted" and m["final"]["step"] == 25
    assert (split / "model.safetensors").exists() and m["files"]["checkpoint"]
    # Without --epochs the resumed run keeps the checkpoint's 3, and its seed and data.
    assert main(["disk", "--resume", str(split / "model.safetensors"), "--quiet"]) == 0
    assert weights(split) == weights(whole)
    resumed, straight = metrics(split), metrics(whole)
    # The interruption logged its partial epoch (step 25): the rest is the same run.
    assert [h["step"] for h in resumed["history"]] == [10, 20, 25, 30]
    assert [h["step"] for h in straight["history"]] == [10, 20, 30]
    del resumed["history"][2]
    for m in (resumed, straight):
        for entry in (m["final"], m["history"][-1]):
            del entry["loss"]  # the training loss since the last entry: over 5 steps, not 10
    assert steady(resumed) == steady(straight)


@pytest.fixture(scope="module")
def disk_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("disk") / "run"
    assert main(["disk", "--epochs", "1", "--train-points", "100", "--test-points", "10",
                 "--out", str(out), "--quiet"]) == 0
    return out / "model.safetensors"


@pytest.mark.parametrize("argv,flag", [(["--layers", "2", "1"], "--layers"),
                                       (["--dtype", "float64"], "--dtype"),
                                       (["--train-points", "200"], "--train-points"),
                                       (["--seed", "1"], "--seed"),
                                       (["--optimizer", "adam"], "--optimizer")])
def test_options_that_contradict_the_checkpoint_are_refused_by_name(disk_checkpoint, capsys,
                                                                     argv, flag):
    before = disk_checkpoint.read_bytes()
    assert main(["disk", "--resume", str(disk_checkpoint), *argv, "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{flag} " in err[0] and "contradicts the checkpoint" in err[0]
    assert disk_checkpoint.read_bytes() == before


# -- the learning-rate sweep -------------------------------------------------------------

def test_lr_sweep_records_convergence_and_divergence_without_crashing(tmp_path):
    code, out = run(tmp_path, "lr-sweep", "--epochs", "300", "--lrs", "1", "0.001", "100",
                    "1e308")
    assert code == 0
    assert_png(out / "lr_sweep.png")
    m = metrics(out)
    check_record(m)
    runs = {r["lr"]: r for r in m["runs"]}
    assert list(runs) == [0.001, 1.0, 100.0, 1e308]
    assert runs[1.0]["status"] == "converged" and runs[1.0]["accuracy"] == 1.0
    assert runs[0.001]["status"] == "slow"
    # lr 100 overshoots: the cost ends far above where it started.
    assert runs[100.0]["status"] == "diverged"
    assert runs[100.0]["final_cost"] > runs[100.0]["initial_cost"]
    # lr 1e308 overflows the weights: the cost becomes NaN, recorded with where it happened.
    assert runs[1e308]["status"] == "diverged" and runs[1e308]["final_cost"] is None
    step = int(re.fullmatch(r"the training loss became nan at epoch [\d.]+, step (\d+)",
                            runs[1e308]["reason"]).group(1))
    every = toy.log_interval(300)
    assert len(runs[1e308]["history"]) == (step - 1) // every
    assert m["converged"] == [1.0] and m["diverged"] == [100.0, 1e308]
    assert m["best_lr"] == 1.0 and m["accuracy"] == 1.0
    assert m["final_cost"] == runs[1.0]["final_cost"] and m["history"] == runs[1.0]["history"]
    assert m["files"] == {"log": "metrics.jsonl", "model": "model.safetensors"}
    assert dagnet.load(out / "model.safetensors").metadata["learning_rate"] == 1.0
    assert (out / "decision_boundary.png").exists()
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [entry["lr"] for entry in log] == [r["lr"] for r in m["runs"]
                                              for _ in r["history"]]


# -- failing well ------------------------------------------------------------------------

def test_a_nan_cost_stops_xor_with_one_line_naming_epoch_and_step(tmp_path, capsys):
    code, out = run(tmp_path, "xor", "--lr", "1e308")
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err  # no RuntimeWarning from NumPy either
    assert re.match(r"dagnet xor: error: the training loss became nan at epoch [\d.]+, step \d+"
                    r": .*Lower the learning rate \(it is 1e\+308\).*--debug names", err[0])
    assert metrics(out)["stop_reason"] == "diverged"


@pytest.mark.parametrize("argv,message", [
    (["xor", "--init-scale", "0"], "argument --init-scale: must be a positive number, got 0"),
    (["disk", "--init-scale", "nan"], "argument --init-scale: must be a finite number"),
    (["xor", "--epochs", "0"], "argument --epochs: must be a positive integer, got 0"),
    (["xor", "--epochs", "1.5"], "argument --epochs: must be an integer, got '1.5'"),
    (["disk", "--batch-size", "-3"], "argument --batch-size: must be a positive integer"),
    (["disk", "--seed", "-1"], "argument --seed: must be an integer >= 0, got -1"),
    (["xor", "--layers", "4", "0", "1"], "argument --layers: must be a positive integer"),
    (["lr-sweep", "--lrs", "1", "-2"], "argument --lrs: must be a positive number, got -2"),
    (["lr-sweep", "--lrs", "inf"], "argument --lrs: must be a finite number"),
    (["lr-sweep", "--resume", "x"], "unrecognized arguments: --resume x"),
])
def test_bad_values_are_refused_by_the_parser(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        run(tmp_path, *argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv,message", [
    (["xor", "--layers", "4", "2"], "--layers must end with 1, got 4 2"),
    (["lr-sweep", "--lr", "1"], "give them with --lrs"),
])
def test_bad_combinations_give_one_line_and_exit_1(tmp_path, capsys, argv, message):
    code, out = run(tmp_path, *argv)
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()  # no empty run folder left behind


def test_bad_values_from_the_shell_are_one_line_without_traceback(tmp_path):
    for argv in (["xor", "--init-scale", "-1"], ["xor", "--lr", "-1"]):
        result = subprocess.run([sys.executable, "-m", "dagnet", *argv, "--out",
                                 str(tmp_path)], capture_output=True, text=True, timeout=120)
        assert result.returncode in (1, 2) and "Traceback" not in result.stderr
        *_, last = result.stderr.strip().splitlines()
        assert re.match(r"dagnet xor: error: .*(init-scale|learning_rate|lr).*-1", last), last
