"""``dagnet charrnn train`` and ``sample``: files, checkpoints, exact resumption (also after
Ctrl-C in a real process), divergence, bad input and bad values in one line, flat memory,
sampling."""

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

from dagnet.cli import main
from dagnet.io import read_safetensors
from dagnet.models.charrnn import CharRNN
from dagnet.training import check_record
from tests.conftest import ROOT

SMALL = ["--hidden", "16", "--seq-length", "10", "--batch-size", "8", "--sample-length", "30"]
WORDS = ["the", "king", "queen", "my", "lord", "good", "night", "sweet", "prince", "and"]
TIMING = ("train_seconds", "examples_per_second")


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


def without_timing(history):
    return [{k: v for k, v in entry.items() if k not in TIMING} for entry in history]


def test_train_writes_checkpoints_metrics_and_the_loss_curve(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(corpus, out, "--max-iterations", 120, "--eval-every", 40, "--json") == 0
    m = metrics_of(out)
    check_record(m)
    assert m["iterations"] == 120 and m["stop_reason"] == "done"
    assert [h["step"] for h in m["history"]] == [40, 80, 120]
    assert m["val_loss"] == min(h["val_loss"] for h in m["history"]) == m["best"]["val_loss"]
    assert m["val_bits_per_char"] == pytest.approx(m["val_loss"] / np.log(2))
    assert m["val_loss"] < 0.8 * np.log(m["vocabulary_size"])   # it learned something
    assert m["final"] == m["history"][-1] and m["final_val_loss"] == m["final"]["val_loss"]
    assert m["parameters"] == CharRNN.load(out / m["best_checkpoint"]).n_parameters
    assert m["chars_per_second"] > 0 and m["seq_length"] == 10 and m["batch_size"] == 8
    assert m["optimizer"]["name"] == "RMSProp" and m["optimizer"]["rho"] == 0.95
    assert m["optimizer"]["clip_value"] == 5.0 and m["optimizer"]["base_learning_rate"] == 0.01
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert log == m["history"]
    # char-rnn's names; only the best and the latest are kept
    names = {m["best_checkpoint"], m["last_checkpoint"]}
    for name in names:
        assert re.fullmatch(r"lm_lstm_epoch\d+\.\d\d_\d+\.\d{4}\.safetensors", name)
    best = m["best"]
    assert m["best_checkpoint"] == f"lm_lstm_epoch{best['epoch']:.2f}_{best['val_loss']:.4f}" \
                                   ".safetensors"
    assert checkpoints(out) == sorted(names)
    assert m["files"]["checkpoint"] == m["last_checkpoint"]
    with Image.open(out / m["files"]["loss_curve"]) as image:
        assert image.format == "PNG"
    captured = capsys.readouterr()
    assert len(re.findall(r"^step \d+ \(epoch [\d.]+\): validation loss", captured.err,
                          re.MULTILINE)) == 3
    assert captured.err.count("\n---\n") == 6  # a sample at each validation
    assert json.loads(captured.out)["val_loss"] == m["val_loss"]


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_other_cells_train_and_sample(corpus, tmp_path, capsys, cell):
    out = tmp_path / cell
    assert train(corpus, out, "--cell", cell, "--layers", 3, "--embedding", 5,
                 "--max-iterations", 30, "--eval-every", 30, "--quiet") == 0
    m = metrics_of(out)
    assert m["model"]["cell"] == cell and m["model"]["hidden"] == [16, 16, 16]
    assert m["best_checkpoint"].startswith(f"lm_{cell}_epoch")
    capsys.readouterr()
    assert main(["charrnn", "sample", str(out / m["best_checkpoint"]), "--length", "50"]) == 0
    assert len(capsys.readouterr().out) in (50, 51)  # 50 characters, a newline if none ends them


def test_char_rnn_defaults_and_seed_streams(corpus, tmp_path):
    out = tmp_path / "defaults"
    assert main(["charrnn", "train", "--data", str(corpus), "--out", str(out), "--quiet",
                 "--seq-length", "10", "--batch-size", "8", "--max-iterations", "1"]) == 0
    m = metrics_of(out)
    assert m["seed"] == 0 and m["model"]["dtype"] == "float32"
    assert (m["model"]["cell"], m["model"]["hidden"], m["model"]["dropout"]) == (
        "lstm", [128, 128], 0.0)
    assert (m["optimizer"]["name"], m["optimizer"]["learning_rate"], m["optimizer"]["rho"],
            m["optimizer"]["clip_value"]) == ("RMSProp", 2e-3, 0.95, 5.0)
    options = CharRNN.load(out / m["last_checkpoint"]).metadata["checkpoint"]["options"]
    assert (options["lr_decay"], options["lr_decay_after"], options["epochs"],
            options["eval_every"], options["sample_length"]) == (0.97, 10, 50, 250, 200)
    # As before the Trainer: weights from SeedSequence(seed).spawn(2)[0], dropout from [1].
    init, dropout = np.random.SeedSequence(123).spawn(2)
    old = CharRNN("abc", [8, 8], rng=np.random.default_rng(init))
    new = CharRNN.seeded(123, "abc", [8, 8])
    for a, b in zip(old.parameter_nodes, new.parameter_nodes):
        np.testing.assert_array_equal(a.w, b.w)
    assert new.rng.random() == np.random.default_rng(dropout).random()


def test_resumed_run_equals_the_uninterrupted_run_bit_for_bit(corpus, tmp_path):
    # 7 training batches an epoch: 13 steps stop mid-epoch (the carried state matters),
    # the epoch boundary at 7 resets it, and the learning rate halves from epoch 1.
    text = tmp_path / "short.txt"
    text.write_text(corpus.read_text()[:5000])
    options = ["--eval-every", 5, "--dropout", 0.3, "--embedding", 4, "--seq-length", 30,
               "--batch-size", 20, "--lr-decay", 0.5, "--lr-decay-after", 1, "--quiet"]
    assert train(text, tmp_path / "whole", "--max-iterations", 20, *options) == 0
    assert train(text, tmp_path / "half", "--max-iterations", 13, *options) == 0
    first = tmp_path / "half" / metrics_of(tmp_path / "half")["last_checkpoint"]
    assert main(["charrnn", "train", "--resume", str(first), "--max-iterations", "20",
                 "--quiet"]) == 0
    whole, half = metrics_of(tmp_path / "whole"), metrics_of(tmp_path / "half")
    assert half["iterations"] == 20 and "--resume" in half["argv"]
    assert half["last_checkpoint"] == whole["last_checkpoint"]
    assert_same_checkpoint(tmp_path / "whole" / whole["last_checkpoint"],
                           tmp_path / "half" / half["last_checkpoint"])
    # steps 5, 10, 15, 20 are in epochs 0, 1, 2, 2: the rate 0.01 halves every epoch
    assert [h["learning_rate"] for h in whole["history"]] == [0.01, 0.005, 0.0025, 0.0025]
    # The first run validated when it stopped, so its step-15 entry's mean loss covers
    # steps 14 and 15 only.
    assert [h["step"] for h in half["history"]] == [5, 10, 13, 15, 20]
    assert half["history"][3]["val_loss"] == whole["history"][2]["val_loss"]
    assert without_timing(half["history"][4:]) == without_timing(whole["history"][3:])
    assert checkpoints(tmp_path / "half") == sorted({half["best_checkpoint"],
                                                     half["last_checkpoint"]})


def assert_same_checkpoint(a, b):
    tensors_a, header_a = read_safetensors(a)
    tensors_b, header_b = read_safetensors(b)
    assert sorted(tensors_a) == sorted(tensors_b)
    assert any(k.startswith("extra/optimizer/") for k in tensors_a)
    assert any(k.startswith("extra/state/") for k in tensors_a)
    for key in tensors_a:
        np.testing.assert_array_equal(tensors_a[key], tensors_b[key], err_msg=key)
    run_a = json.loads(header_a["metadata"])["checkpoint"]
    run_b = json.loads(header_b["metadata"])["checkpoint"]
    assert run_a["optimizer"] == run_b["optimizer"] and run_a["rng"] == run_b["rng"]
    assert run_a["trainer"]["step"] == run_b["trainer"]["step"]
    assert run_a["trainer"]["data"] == run_b["trainer"]["data"]


def test_resume_refuses_contradicting_options_and_works_from_another_folder(
        corpus, tmp_path, monkeypatch, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "play.txt").write_text(corpus.read_text())
    monkeypatch.chdir(tmp_path / "a")   # a relative --data
    assert main(["charrnn", "train", "--data", "play.txt", "--out", "run", *SMALL,
                 "--max-iterations", "4", "--eval-every", "4", "--quiet"]) == 0
    checkpoint = tmp_path / "a" / "run" / metrics_of(tmp_path / "a" / "run")["last_checkpoint"]
    monkeypatch.chdir(tmp_path)
    for flag, value in [("--hidden", "32"), ("--batch-size", "4"), ("--lr", "0.1")]:
        assert main(["charrnn", "train", "--resume", str(checkpoint), flag, value]) == 1
        err = capsys.readouterr().err
        assert f"{flag} {value} contradicts the checkpoint" in err and err.count("\n") == 1
    assert main(["charrnn", "train", "--resume", str(checkpoint), "--max-iterations", "6",
                 "--hidden", "16", "--quiet"]) == 0
    m = metrics_of(tmp_path / "a" / "run")
    assert m["iterations"] == 6 and m["data"]["path"] == str(tmp_path / "a" / "play.txt")


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
    assert m["stop_reason"] == "interrupted" and m["iterations"] > 50
    stop = m["iterations"]
    last = out / m["last_checkpoint"]
    assert m["history"][-1]["step"] == stop and "val_loss" in m["history"][-1]
    # Resume for 3 more updates: the same as a run never interrupted.
    result = subprocess.run(command("train", "--resume", last, "--max-iterations", stop + 3,
                                    "--quiet"),
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert train(corpus, tmp_path / "whole", "--max-iterations", stop + 3,
                 "--eval-every", 50, "--quiet") == 0
    whole = metrics_of(tmp_path / "whole")
    assert_same_checkpoint(tmp_path / "whole" / whole["last_checkpoint"],
                           out / metrics_of(out)["last_checkpoint"])


def test_a_diverging_run_stops_with_one_line_and_a_record(corpus, tmp_path, capsys):
    out = tmp_path / "diverging"
    assert train(corpus, out, "--max-iterations", 200, "--optimizer", "gd", "--lr", 1e4,
                 "--clip-value", 1e9, "--eval-every", 100, "--quiet") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert re.match(r"dagnet charrnn: error: the training loss became \S+ at epoch [\d.]+, "
                    r"step \d+: .*training diverged", err[0])
    assert metrics_of(out)["stop_reason"] == "diverged"


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


@pytest.mark.parametrize("arguments", [
    ["train", "--seed", "-1"], ["train", "--time-budget", "0"], ["train", "--time-budget", "inf"],
    ["train", "--max-iterations", "2.5"], ["train", "--layers", "4"], ["train", "--dropout", "1"],
    ["train", "--lr-decay", "1.5"], ["train", "--train-fraction", "0"],
    ["train", "--eval-every", "0"], ["train", "--sample-length", "-1"],
    ["train", "--dtype", "int8"], ["train", "--epochs", "nan"], ["train", "--out", ""],
    ["sample", "x.safetensors", "--length", "-5"],
    ["sample", "x.safetensors", "--temperature", "-1"],
    ["sample", "x.safetensors", "--seed", "-1"]])
def test_bad_values_are_refused_by_the_parser_in_one_line(arguments, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["charrnn", *arguments])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: argument" in err.strip().splitlines()[-1]


def test_resume_refuses_a_text_with_other_characters(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(corpus, out, "--max-iterations", 5, "--eval-every", 5, "--quiet") == 0
    checkpoint = out / metrics_of(out)["last_checkpoint"]
    before = checkpoint.read_bytes()
    other = tmp_path / "other.txt"
    other.write_text(corpus.read_text() + "Zounds! 7 §\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["charrnn", "train", "--resume", str(checkpoint), "--data", str(other),
                 "--max-iterations", "10", "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "vocabulary mismatch" in err and "'!' '7' 'Z' '§'" in err
    assert checkpoint.read_bytes() == before and checkpoints(out) == [checkpoint.name]


def test_resume_on_another_text_of_the_same_characters_warns_and_starts_its_streams_over(
        corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(corpus, out, "--max-iterations", 7, "--eval-every", 7, "--quiet") == 0
    checkpoint = out / metrics_of(out)["last_checkpoint"]
    lines = corpus.read_text().splitlines(keepends=True)
    other = tmp_path / "shuffled.txt"
    other.write_text("".join(lines[::-1]), encoding="utf-8")
    capsys.readouterr()
    assert main(["charrnn", "train", "--resume", str(checkpoint), "--data", str(other),
                 "--max-iterations", "9", "--quiet"]) == 0
    assert "is not the text" in capsys.readouterr().err
    m = metrics_of(out)
    assert m["iterations"] == 9 and m["data"]["path"] == str(other)
    run = CharRNN.load(out / m["last_checkpoint"]).metadata["checkpoint"]
    assert run["trainer"]["data"] == {"epoch": 0, "position": 2}  # two batches into it


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
             "--eval-every", "100", "--quiet"], capture_output=True, text=True, cwd=ROOT,
            timeout=300, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
        assert result.returncode == 0, result.stderr
        peaks[iterations] = int(result.stdout.split()[-1])
    assert peaks[1000] <= 1.10 * peaks[100], peaks


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    assert train(corpus, out, "--max-iterations", 150, "--eval-every", 150, "--quiet") == 0
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
    assert set(text) <= set(CharRNN.load(trained).vocabulary.chars) | {"\n"}
    assert sample(capsys, trained, "--length", 300, "--prime", "KING:", "--seed", 3)[1] == text
    assert sample(capsys, trained, "--length", 300, "--prime", "KING:", "--seed", 4)[1] != text


def test_temperature_zero_takes_the_most_likely_character(trained, capsys):
    a = sample(capsys, trained, "--temperature", 0, "--seed", 1, "--prime", "the ")[1]
    b = sample(capsys, trained, "--temperature", 0, "--seed", 2, "--prime", "the ")[1]
    assert a == b
    net = CharRNN.load(trained)
    state = net.initial_state(1)
    for s in net.vocabulary.encode("the "):
        logits, state = net.step([s], state)
    assert a[4] == net.vocabulary.chars[int(np.argmax(logits[0]))]


def test_unknown_prime_characters_are_named_in_a_warning(trained, capsys):
    code, text, err = sample(capsys, trained, "--length", 20, "--prime", "KING: 42€")
    assert code == 0 and text.startswith("KING: ")
    assert "warning" in err and "'2' '4' '€'" in err


def test_length_zero_prints_nothing(trained, capsys):
    assert sample(capsys, trained, "--length", 0) == (0, "", "")
    assert sample(capsys, trained, "--length", 0, "--prime", "KING:") == (0, "", "")


def test_sample_names_a_file_that_is_not_a_model(tmp_path, capsys):
    path = tmp_path / "notes.safetensors"
    path.write_text("hello")
    code, _, err = sample(capsys, path)
    assert code == 1 and f"dagnet charrnn: error: {path}" in err
