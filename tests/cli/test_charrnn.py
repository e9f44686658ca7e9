"""``dagnet charrnn train`` and ``sample``: files, checkpoints, exact resumption (also after
Ctrl-C in a real process), divergence, bad input in one line, flat memory, sampling."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from dagnet.cli import build_parser, main
from dagnet.cli.charrnn import _check_arguments, learning_rate_factor
from dagnet.cli.common import make_optimizer
from dagnet.io import read_safetensors
from dagnet.models.charrnn import CharRNN
from tests.conftest import ROOT

SMALL = ["--hidden", "16", "--seq-length", "10", "--batch-size", "8", "--no-progress",
         "--sample-length", "30"]
WORDS = ["the", "king", "queen", "my", "lord", "good", "night", "sweet", "prince", "and"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """About 20,000 characters of play-like text, the same every time."""
    rng = np.random.default_rng(0)
    lines = []
    while sum(map(len, lines)) < 20000:
        speaker = ["HAMLET", "OPHELIA", "KING"][rng.integers(3)]
        words = " ".join(WORDS[k] for k in rng.integers(0, len(WORDS), rng.integers(3, 9)))
        lines.append(f"{speaker}:\n{words.capitalize()}.\n\n")
    path = tmp_path_factory.mktemp("corpus") / "play.txt"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def metrics_of(folder):
    return json.loads((folder / "metrics.json").read_text())


def train(corpus, out, *extra):
    return main(["charrnn", "train", "--data", str(corpus), "--out", str(out), *SMALL,
                 "--lr", "0.01", *map(str, extra)])


def checkpoints(folder):
    return sorted(p.name for p in folder.glob("lm_*.safetensors"))


def test_train_writes_checkpoints_metrics_and_the_loss_curve(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(corpus, out, "--max-iterations", 120, "--eval-every", 40, "--layers", 2) == 0
    m = metrics_of(out)
    assert m["iterations"] == 120 and m["stopped_by"] == "max-iterations"
    assert [h["iteration"] for h in m["history"]] == [40, 80, 120]
    assert m["val_loss"] == min(h["val_loss"] for h in m["history"])
    assert m["val_bits_per_char"] == pytest.approx(m["val_loss"] / np.log(2))
    assert m["val_loss"] < 0.8 * np.log(m["vocabulary_size"])   # it learned something
    assert m["parameters"] == CharRNN.load(out / m["best_checkpoint"])[0].n_parameters
    assert m["chars_per_second"] > 0 and m["seq_length"] == 10 and m["batch_size"] == 8
    assert m["optimizer"]["name"] == "RMSProp" and m["optimizer"]["rho"] == 0.95
    assert m["optimizer"]["clip_value"] == 5.0 and m["optimizer"]["base_learning_rate"] == 0.01
    # char-rnn's names; only the best and the latest are kept
    for h in m["history"]:
        assert re.fullmatch(r"lm_lstm_epoch\d+\.\d\d_\d+\.\d{4}\.safetensors", h["checkpoint"])
        assert h["checkpoint"] == (f"lm_lstm_epoch{h['epoch']:.2f}_{h['val_loss']:.4f}"
                                   ".safetensors")
    assert checkpoints(out) == sorted({m["best_checkpoint"], m["last_checkpoint"]})
    with Image.open(out / "loss_curve.png") as image:
        assert image.format == "PNG"
    err = capsys.readouterr().err
    assert len(re.findall(r"^iteration \d+ \(epoch [\d.]+\): validation loss", err,
                          re.MULTILINE)) == 3
    assert err.count("\n---\n") == 6  # a sample at each validation


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_other_cells_train_and_sample(corpus, tmp_path, capsys, cell):
    out = tmp_path / cell
    assert train(corpus, out, "--cell", cell, "--layers", 3, "--embedding", 5,
                 "--max-iterations", 30, "--eval-every", 30) == 0
    m = metrics_of(out)
    assert m["model"]["cell"] == cell and m["model"]["hidden"] == [16, 16, 16]
    assert m["best_checkpoint"].startswith(f"lm_{cell}_epoch")
    capsys.readouterr()
    assert main(["charrnn", "sample", str(out / m["best_checkpoint"]), "--length", "50"]) == 0
    assert len(capsys.readouterr().out) in (50, 51)  # 50 characters, a newline if none ends them


def test_char_rnn_defaults():
    args = build_parser().parse_args(["charrnn", "train"])
    assert (args.layers, args.hidden, args.seq_length, args.batch_size) == (2, 128, 50, 50)
    assert (args.lr_decay, args.lr_decay_after, args.dropout) == (0.97, 10, 0.0)
    _check_arguments(args)
    net = CharRNN("ab", [args.hidden] * args.layers)
    optimizer = make_optimizer(args, net.parameter_nodes)
    assert type(optimizer).__name__ == "RMSProp"
    assert (optimizer.learning_rate, optimizer.rho, optimizer.clip_value) == (2e-3, 0.95, 5.0)
    # ×0.97 at the end of every epoch from epoch 10 on
    factors = [learning_rate_factor(k, 0.97, 10) for k in range(13)]
    assert factors[:10] == [1.0] * 10 and factors[10:] == [0.97, 0.97 ** 2, 0.97 ** 3]
    args = build_parser().parse_args(["charrnn", "train", "--optimizer", "adam"])
    _check_arguments(args)
    assert type(make_optimizer(args, net.parameter_nodes)).__name__ == "Adam"


def test_resumed_run_equals_the_uninterrupted_run_bit_for_bit(corpus, tmp_path):
    options = ["--eval-every", 5, "--dropout", 0.3, "--embedding", 4, "--layers", 2]
    # 9 iterations cross an epoch boundary (the carried state resets there)
    assert train(corpus, tmp_path / "whole", "--max-iterations", 9, *options) == 0
    assert train(corpus, tmp_path / "half", "--max-iterations", 5, *options) == 0
    first = metrics_of(tmp_path / "half")["last_checkpoint"]
    assert main(["charrnn", "train", "--resume", str(tmp_path / "half" / first),
                 "--max-iterations", "9", "--eval-every", "5", "--no-progress",
                 "--sample-length", "0"]) == 0
    whole, half = metrics_of(tmp_path / "whole"), metrics_of(tmp_path / "half")
    assert half["iterations"] == 9 and half["resumed_from"]
    assert half["last_checkpoint"] == whole["last_checkpoint"]
    assert_same_checkpoint(tmp_path / "whole" / whole["last_checkpoint"],
                           tmp_path / "half" / half["last_checkpoint"])
    assert half["history"] == whole["history"]


def assert_same_checkpoint(a, b, same_history=True):
    tensors_a, header_a = read_safetensors(a)
    tensors_b, header_b = read_safetensors(b)
    assert sorted(tensors_a) == sorted(tensors_b)
    assert any(k.startswith("extra/optimizer/") for k in tensors_a)
    assert any(k.startswith("extra/state/") for k in tensors_a)
    for key in tensors_a:
        np.testing.assert_array_equal(tensors_a[key], tensors_b[key], err_msg=key)
    meta_a, meta_b = json.loads(header_a["metadata"]), json.loads(header_b["metadata"])
    assert meta_a["optimizer"] == meta_b["optimizer"]
    assert meta_a["dropout_rng"] == meta_b["dropout_rng"]
    assert meta_a["run"]["iteration"] == meta_b["run"]["iteration"]
    if same_history:
        assert meta_a["run"]["history"] == meta_b["run"]["history"]


def command(*arguments):
    return [sys.executable, "-m", "dagnet", "charrnn", *map(str, arguments)]


def test_ctrl_c_saves_a_checkpoint_that_resumes_exactly(corpus, tmp_path):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    out = tmp_path / "interrupted"
    process = subprocess.Popen(
        command("train", "--data", corpus, "--out", out, *SMALL, "--lr", 0.01,
                "--eval-every", 50, "--epochs", 1000),
        stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    for line in process.stderr:  # the first validation: training is under way
        if "validation loss" in line:
            break
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    err = process.stderr.read()
    assert process.wait(timeout=60) == 130
    assert "Traceback" not in err and "continue with --resume" in err
    m = metrics_of(out)
    assert m["stopped_by"] == "interrupted" and m["iterations"] > 50
    stop = m["iterations"]
    last = out / m["last_checkpoint"]
    assert m["history"][-1]["iteration"] == stop
    # Resume for 3 more updates: the same as a run never interrupted.
    result = subprocess.run(command("train", "--resume", last, "--max-iterations", stop + 3,
                                    "--no-progress", "--sample-length", 0),
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert train(corpus, tmp_path / "whole", "--max-iterations", stop + 3,
                 "--eval-every", 50) == 0
    whole = metrics_of(tmp_path / "whole")
    # (the interrupted run validated once more, when it stopped: its history differs)
    assert_same_checkpoint(tmp_path / "whole" / whole["last_checkpoint"],
                           out / metrics_of(out)["last_checkpoint"], same_history=False)


def test_a_diverging_run_stops_with_one_line(corpus, tmp_path, capsys):
    out = tmp_path / "diverging"
    assert train(corpus, out, "--max-iterations", 200, "--optimizer", "gd", "--lr", 1e4,
                 "--clip-value", 1e9, "--eval-every", 100) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert re.match(r"dagnet charrnn: error: the training loss became \S+ at iteration \d+ "
                    r".*diverged; lower --lr", err[-1])


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a binary file"),
    (b"To be or not to be\n" * 8, r"has 152 characters: too short for two batches \(one to "
                                 r"train, one to validate\) of 8 streams × 10 characters"),
    (b"caf\xe9\n" * 500, "not UTF-8 text"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, content, message):
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    out = tmp_path / "run"
    assert train(path, out, "--max-iterations", 5) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(message, err)
    assert err.startswith(f"dagnet charrnn: error: {path}") or "too short" in err
    assert not out.exists()


def test_resume_refuses_a_text_with_other_characters(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(corpus, out, "--max-iterations", 5, "--eval-every", 5) == 0
    checkpoint = out / metrics_of(out)["last_checkpoint"]
    before = checkpoint.read_bytes()
    other = tmp_path / "other.txt"
    other.write_text(corpus.read_text() + "Zounds! 7 §\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["charrnn", "train", "--resume", str(checkpoint), "--data", str(other),
                 "--max-iterations", "10", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "vocabulary mismatch" in err and "'!' '7' 'Z' '§'" in err
    assert checkpoint.read_bytes() == before and checkpoints(out) == [checkpoint.name]


def test_resume_on_another_text_of_the_same_characters_warns_and_starts_its_streams_over(
        corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(corpus, out, "--max-iterations", 7, "--eval-every", 7) == 0
    checkpoint = out / metrics_of(out)["last_checkpoint"]
    lines = corpus.read_text().splitlines(keepends=True)
    other = tmp_path / "shuffled.txt"
    other.write_text("".join(lines[::-1]), encoding="utf-8")
    capsys.readouterr()
    assert main(["charrnn", "train", "--resume", str(checkpoint), "--data", str(other),
                 "--max-iterations", "9", "--no-progress", "--sample-length", "0"]) == 0
    assert "is not the text" in capsys.readouterr().err
    m = metrics_of(out)
    assert m["iterations"] == 9 and m["data"]["path"] == str(other)
    _, metadata, _ = CharRNN.load(out / m["last_checkpoint"])
    assert metadata["run"]["position"] == 2  # two batches into the new text


def test_peak_memory_does_not_grow_with_the_run(corpus, tmp_path):
    # VmHWM, the process's own peak: ru_maxrss would carry over pytest's through exec.
    script = ("import sys\nfrom dagnet.cli import main\ncode = main(sys.argv[1:])\n"
              "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
              "print(peak[0].split()[1])\nsys.exit(code)\n")
    peaks = {}
    for iterations in (100, 1000):
        result = subprocess.run(
            [sys.executable, "-c", script, "charrnn", "train", "--data", str(corpus), "--out",
             str(tmp_path / str(iterations)), *SMALL, "--max-iterations", str(iterations),
             "--eval-every", "100"], capture_output=True, text=True, cwd=ROOT, timeout=300,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
        assert result.returncode == 0, result.stderr
        peaks[iterations] = int(result.stdout.split()[-1])
    assert peaks[1000] <= 1.10 * peaks[100], peaks


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    assert train(corpus, out, "--max-iterations", 150, "--eval-every", 150) == 0
    return out / metrics_of(out)["best_checkpoint"]


def sample(capsys, checkpoint, *arguments):
    code = main(["charrnn", "sample", str(checkpoint), *map(str, arguments)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_sample_is_seeded_and_starts_with_the_prime(trained, capsys):
    code, text, err = sample(capsys, trained, "--length", 300, "--prime", "KING:",
                             "--seed", 3)
    assert code == 0 and err == ""
    assert text.startswith("KING:") and len(text.rstrip("\n")) >= 300
    assert set(text) <= set(CharRNN.load(trained)[0].vocabulary.chars) | {"\n"}
    assert sample(capsys, trained, "--length", 300, "--prime", "KING:", "--seed", 3)[1] == text
    assert sample(capsys, trained, "--length", 300, "--prime", "KING:", "--seed", 4)[1] != text


def test_temperature_zero_takes_the_most_likely_character(trained, capsys):
    a = sample(capsys, trained, "--temperature", 0, "--seed", 1, "--prime", "the ")[1]
    b = sample(capsys, trained, "--temperature", 0, "--seed", 2, "--prime", "the ")[1]
    assert a == b
    net = CharRNN.load(trained)[0]
    state = net.initial_state(1)
    for s in net.vocabulary.encode("the "):
        logits, state = net.step([s], state)
    assert a[4] == net.vocabulary.chars[int(np.argmax(logits[0]))]


def test_unknown_prime_characters_are_named_in_a_warning(trained, capsys):
    code, text, err = sample(capsys, trained, "--length", 20, "--prime", "KING: 42€")
    assert code == 0 and text.startswith("KING: ")
    assert "warning" in err and "'2' '4' '€'" in err


@pytest.mark.parametrize("arguments, message", [
    (["--temperature", "-1"], "--temperature must be 0 or positive"),
    (["--length", "-5"], "--length must be 0 or positive")])
def test_sample_refuses_bad_options(trained, capsys, arguments, message):
    code, _, err = sample(capsys, trained, *arguments)
    assert code == 1 and message in err


def test_sample_names_a_file_that_is_not_a_model(tmp_path, capsys):
    path = tmp_path / "notes.safetensors"
    path.write_text("hello")
    code, _, err = sample(capsys, path)
    assert code == 1 and f"dagnet charrnn: error: {path}" in err
