"""``dagnet gpt train`` and ``sample``: files, nanoGPT's defaults, exact resumption (also
after Ctrl-C in a real process), contradicting options, bad values in one line, sampling."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from dagnet.cli import build_parser, leaf_parser, main
from dagnet.cli.gpt import _model
from dagnet.data.text import Vocabulary
from dagnet.io import read_safetensors
from dagnet.models.gpt import GPT
from dagnet.training import check_record
from tests.cli.test_shared_flags import SHARED
from tests.conftest import ROOT

SMALL = ["--layers", "1", "--heads", "2", "--width", "16", "--block-size", "16",
         "--batch-size", "8", "--eval-batches", "2", "--warmup-steps", "5"]
TIMING = ("train_seconds", "examples_per_second")
WORDS = ["the", "king", "queen", "my", "lord", "good", "night", "sweet", "prince", "and"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """About 20,000 characters of play-like text, the same every time."""
    rng = np.random.default_rng(0)
    lines = []
    while sum(map(len, lines)) < 20000:
        words = " ".join(WORDS[k] for k in rng.integers(0, len(WORDS), rng.integers(3, 9)))
        lines.append(f"{['HAMLET', 'KING'][rng.integers(2)]}:\n{words.capitalize()}.\n\n")
    path = tmp_path_factory.mktemp("corpus") / "play.txt"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def metrics_of(folder):
    return json.loads((folder / "metrics.json").read_text())


def train(corpus, out, *extra):
    return main(["gpt", "train", "--data", str(corpus), "--out", str(out), *SMALL,
                 "--lr", "0.01", *map(str, extra)])


def without_timing(history):
    return [{k: v for k, v in entry.items() if k not in TIMING} for entry in history]


def test_train_writes_checkpoints_metrics_and_figures(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(corpus, out, "--max-iterations", 60, "--eval-every", 20, "--json") == 0
    m = metrics_of(out)
    check_record(m)
    assert m["iterations"] == 60 and m["stop_reason"] == "done"
    assert [h["step"] for h in m["history"]] == [20, 40, 60]
    assert m["val_loss"] == min(h["val_loss"] for h in m["history"]) == m["best"]["val_loss"]
    losses = [h["loss"] for h in m["history"]]
    assert losses[-1] < losses[0] and m["val_loss"] < 0.7 * np.log(m["vocabulary_size"])
    assert m["best_checkpoint"] == f"gpt_step{m['best_step']}.safetensors"
    assert sorted(p.name for p in out.glob("gpt_*.safetensors")) == sorted(
        {m["best_checkpoint"], m["last_checkpoint"]}) and m["last_checkpoint"] == \
        "gpt_step60.safetensors"
    assert m["parameters"] == GPT.load(out / m["last_checkpoint"]).n_parameters
    assert m["chars_per_second"] > 0 and m["model"]["block_size"] == 16
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert log == m["history"]
    for role in ("loss_curve", "attention"):
        with Image.open(out / m["files"][role]) as image:
            assert image.format == "PNG"
    captured = capsys.readouterr()
    assert captured.err.count("val_loss") == 3  # a report line per validation
    assert json.loads(captured.out)["val_loss"] == m["val_loss"]


def test_the_defaults_are_nanogpts_cpu_baby_config():
    parser = leaf_parser(build_parser(), ["gpt", "train"])
    args = parser.parse_args([])
    assert (args.layers, args.heads, args.width, args.block_size, args.batch_size,
            args.max_iterations, args.eval_every, args.eval_batches) == (4, 4, 128, 64, 12,
                                                                        2000, 250, 20)
    for flag, default in SHARED.items():
        assert getattr(args, flag[2:].replace("-", "_")) == default, flag
    args.resume = None
    streams = {"weights": np.random.default_rng(0), "dropout": np.random.default_rng(1)}
    model, optimizer = _model(args, argparse.Namespace(debug=False), None,
                              Vocabulary("abc"), streams)
    assert model.config()["width"] == 128 and model.dtype == np.float32
    # nanoGPT's model.py as train.py configures it: exact GELU, no biases, no dropout
    assert (model.config()["gelu"], model.config()["bias"], model.config()["dropout"]) == (
        "none", False, 0.0)
    config = optimizer.config()
    assert type(optimizer).__name__ == "Adam" and (config["learning_rate"], config["beta2"],
                                                   config["clip_norm"]) == (1e-3, 0.99, 1.0)
    # AdamW: torch's weight_decay 0.1 at lr 1e-3 is dagnet's decoupled 1e-4, matrices only
    assert (config["weight_decay"], config["weight_decay_mode"],
            config["weight_decay_vectors"]) == (1e-4, "decoupled", False)
    assert config["schedule"] == {"name": "warmup", "warmup_steps": 100, "inner": {
        "name": "cosine", "total_steps": 1900, "min_factor": 0.1}, "ramp_to_inner": True}
    rates = [optimizer.learning_rate * optimizer.schedule(k) for k in range(2000)]
    assert rates == pytest.approx([nanogpt_lr(k) for k in range(2000)], rel=1e-12)


def nanogpt_lr(it, lr=1e-3, min_lr=1e-4, warmup_iters=100, lr_decay_iters=2000):
    """nanoGPT's get_lr (train.py), the rate of update ``it`` (0, 1, ...)."""
    if it < warmup_iters:
        return lr * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


@pytest.mark.parametrize("dropout", ["0", "0.2"])
def test_resumed_run_equals_the_uninterrupted_run_bit_for_bit(corpus, tmp_path, dropout):
    options = ["--eval-every", 4, "--lr-total-steps", 7, "--quiet",  # the same schedule
               "--dropout", dropout]  # the checkpoint keeps the masks' generator
    assert train(corpus, tmp_path / "whole", "--max-iterations", 12, *options) == 0
    assert train(corpus, tmp_path / "half", "--max-iterations", 6, *options) == 0
    first = tmp_path / "half" / metrics_of(tmp_path / "half")["last_checkpoint"]
    assert main(["gpt", "train", "--resume", str(first), "--max-iterations", "12",
                 "--quiet"]) == 0
    whole, half = metrics_of(tmp_path / "whole"), metrics_of(tmp_path / "half")
    assert half["iterations"] == 12 and "--resume" in half["argv"]
    assert_same_checkpoint(tmp_path / "whole" / whole["last_checkpoint"],
                           tmp_path / "half" / half["last_checkpoint"])
    # the first run validated when it stopped at 6: its next entry covers steps 7 and 8
    assert [h["step"] for h in half["history"]] == [4, 6, 8, 12]
    assert half["history"][2]["val_loss"] == whole["history"][1]["val_loss"]
    assert without_timing(half["history"][3:]) == without_timing(whole["history"][2:])


def assert_same_checkpoint(a, b):
    tensors_a, header_a = read_safetensors(a)
    tensors_b, header_b = read_safetensors(b)
    assert sorted(tensors_a) == sorted(tensors_b)
    assert any(k.startswith("extra/optimizer/") for k in tensors_a)
    for key in tensors_a:
        np.testing.assert_array_equal(tensors_a[key], tensors_b[key], err_msg=key)
    run_a = json.loads(header_a["metadata"])["checkpoint"]
    run_b = json.loads(header_b["metadata"])["checkpoint"]
    assert run_a["optimizer"] == run_b["optimizer"]
    assert run_a["trainer"]["step"] == run_b["trainer"]["step"]
    assert run_a["trainer"]["data"] == run_b["trainer"]["data"]  # the windows' generator


def test_resume_refuses_contradicting_options(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(corpus, out, "--max-iterations", 4, "--eval-every", 4, "--quiet") == 0
    checkpoint = out / metrics_of(out)["last_checkpoint"]
    for flag, value in [("--width", "32"), ("--block-size", "8"), ("--batch-size", "4"),
                        ("--dtype", "float64"), ("--optimizer", "rmsprop")]:
        assert main(["gpt", "train", "--resume", str(checkpoint), flag, value]) == 1
        err = capsys.readouterr().err
        assert f"{flag} {value} contradicts the checkpoint" in err and err.count("\n") == 1
    assert main(["gpt", "train", "--resume", str(checkpoint), "--max-iterations", "6",
                 "--width", "16", "--eval-every", "3", "--quiet"]) == 0
    assert metrics_of(out)["iterations"] == 6


def test_ctrl_c_saves_a_checkpoint_that_resumes(corpus, tmp_path):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    out = tmp_path / "interrupted"
    process = subprocess.Popen(
        [sys.executable, "-m", "dagnet", "gpt", "train", "--data", str(corpus), "--out",
         str(out), *SMALL, "--eval-every", "20", "--max-iterations", "1000000"],
        stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    for line in process.stderr:  # the first validation: training is under way
        if "val_loss" in line:
            break
    process.send_signal(signal.SIGINT)
    err = process.stderr.read()
    assert process.wait(timeout=60) == 130
    assert "Traceback" not in err and "continue with --resume" in err
    m = metrics_of(out)
    assert m["stop_reason"] == "interrupted" and m["iterations"] >= 20
    assert m["history"][-1]["step"] == m["iterations"] and "val_loss" in m["history"][-1]
    assert main(["gpt", "train", "--resume", str(out / m["last_checkpoint"]),
                 "--max-iterations", str(m["iterations"] + 2), "--quiet"]) == 0


def test_a_width_that_does_not_split_into_the_heads_is_one_line(corpus, tmp_path, capsys):
    assert train(corpus, tmp_path / "run", "--width", "18", "--heads", "4") == 1
    err = capsys.readouterr().err.strip()
    assert err == "dagnet gpt: error: --width 18 does not split into --heads 4"


def test_a_text_too_short_for_the_windows_is_one_line(tmp_path, capsys):
    path = tmp_path / "short.txt"
    path.write_text("To be or not to be\n" * 5)
    assert main(["gpt", "train", "--data", str(path), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "too short for windows of 64" in err and "--block-size" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("arguments", [
    ["train", "--seed", "-1"], ["train", "--layers", "0"], ["train", "--heads", "2.5"],
    ["train", "--block-size", "0"], ["train", "--batch-size", "-3"],
    ["train", "--max-iterations", "1e3"], ["train", "--time-budget", "inf"],
    ["train", "--eval-every", "0"], ["train", "--eval-batches", "0"], ["train", "--lr", "nan"],
    ["train", "--dtype", "float16"], ["train", "--out", ""], ["train", "--dropout", "1"],
    ["train", "--dropout", "-0.1"], ["train", "--gelu", "erf"],
    ["sample", "x.safetensors", "--length", "-5"], ["sample", "x.safetensors", "--top-k", "0"],
    ["sample", "x.safetensors", "--temperature", "-1"],
    ["sample", "x.safetensors", "--seed", "-1"]])
def test_bad_values_are_refused_by_the_parser_in_one_line(arguments, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["gpt", *arguments])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: argument" in err.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    assert train(corpus, out, "--max-iterations", 40, "--eval-every", 40, "--quiet") == 0
    return out / metrics_of(out)["last_checkpoint"]


def sample(capsys, checkpoint, *arguments):
    code = main(["gpt", "sample", str(checkpoint), *map(str, arguments)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_sample_at_temperature_zero_is_deterministic_past_the_block_size(trained, capsys):
    code, a, err = sample(capsys, trained, "--temperature", 0, "--seed", 1, "--prime", "KING:",
                          "--length", 40)
    text = GPT.load(trained).generate(40, 0, np.random.default_rng(0), "KING:")
    assert code == 0 and err == "" and a.removesuffix("\n") == ("KING:" + text).removesuffix(
        "\n") and len(text) == 40 > 16  # the block size
    assert sample(capsys, trained, "--temperature", 0, "--seed", 2, "--prime", "KING:",
                  "--length", 40)[1] == a
    assert sample(capsys, trained, "--top-k", 1, "--prime", "KING:", "--length", 40)[1] == a


def test_sample_is_seeded_and_warns_of_unknown_prime_characters(trained, capsys):
    a = sample(capsys, trained, "--length", 30, "--seed", 3)[1]
    assert a == sample(capsys, trained, "--length", 30, "--seed", 3)[1] and len(a) in (30, 31)
    code, text, err = sample(capsys, trained, "--length", 10, "--prime", "KING€")
    assert code == 0 and text.startswith("KING") and "warning" in err and "'€'" in err
