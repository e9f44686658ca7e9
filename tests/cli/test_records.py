"""Every command's metrics.json follows the run-record schema (docs/run-records.md) and
the keys several commands share mean the same thing everywhere.

Each command runs once, with tiny settings, into a module-wide folder; the tests read
the records.  A key checked here: ``accuracy`` / ``test_accuracy`` (fractions; the
test accuracy the history ends with), ``val_loss`` (the best validation loss of the
history), ``chars_per_second`` (characters per second of training), ``history`` (the
logged entries, as metrics.jsonl has them), and ``files`` (names of files that exist).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from dagnet.cli import build_parser, main
from dagnet.data.idx import write_idx
from dagnet.training.record import REQUIRED, check_record
from tests.cli.test_mnist import fake_mnist

ENTRY_KEYS = {"step", "epoch", "loss", "learning_rate", "train_seconds", "examples_per_second"}
TEXT = "".join(f"SPEAKER {k % 3}:\nTo be, or not to be: line {k}.\n\n" for k in range(40))

# name -> the command line (the data folder as {data}); --out is added.
COMMANDS = {
    "xor": ["xor", "--epochs", "40"],
    "disk": ["disk", "--epochs", "2", "--train-points", "200", "--test-points", "100"],
    "lr-sweep": ["lr-sweep", "--epochs", "30", "--lrs", "0.5", "100"],
    "mnist": ["mnist", "--layers", "16", "10", "--epochs", "2", "--batch-size", "50",
              "--data", "{data}/mnist"],
    "predict": ["predict", "{runs}/mnist/model.safetensors", "{data}/digits.idx"],
    "reber": ["reber", "--strings", "96", "--test-strings", "30", "--checkpoints", "2"],
    "reber-compare": ["reber-compare", "--seeds", "1", "--strings", "48", "--test-strings",
                      "20", "--checkpoints", "1", "--cells", "rnn", "lstm"],
    "charrnn": ["charrnn", "train", "--hidden", "8", "--batch-size", "2", "--seq-length", "8",
                "--max-iterations", "6", "--eval-every", "3", "--sample-length", "0",
                "--data", "{data}/input.txt"],
    "optimizers": ["optimizers", "--dataset", "disk", "--epochs", "2", "--train-size", "100",
                   "--optimizers", "gd,adam"],
    "trajectories": ["trajectories", "--optimizers", "gd,adam", "--rosenbrock-steps", "20",
                     "--quadratic-steps", "10"],
    "draw": ["draw", "--example", "xor", "--format", "dot"],
    # The whole tiny series is checked by tests/cli/test_reproduce.py; two experiments here.
    "reproduce": ["reproduce", "--budget", "tiny", "--only", "xor-tanh", "lr-sweep"],
}


def available(command: str) -> bool:
    return command in build_parser()._subparsers._group_actions[0].choices


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Every command run once (in COMMANDS' order: predict reads mnist's model)."""
    data = tmp_path_factory.mktemp("data")
    fake_mnist(data / "mnist", np.random.default_rng(0), n_train=200, n_test=50)
    write_idx(data / "digits.idx", np.random.default_rng(1).integers(
        0, 256, (3, 28, 28)).astype(np.uint8))
    (data / "input.txt").write_text(TEXT, encoding="utf-8")
    root = tmp_path_factory.mktemp("runs")
    folders = {}
    for name, argv in COMMANDS.items():
        if not available(argv[0]):
            continue
        argv = [word.format(data=data, runs=root) for word in argv]
        quiet = [] if name in ("predict", "draw", "reproduce") else ["--quiet"]
        assert main(argv + quiet + ["--out", str(root / name)]) == 0, name
        folders[name] = root / name
    return folders


def record_of(runs: dict[str, Path], name: str) -> dict:
    if name not in runs:
        pytest.skip(f"dagnet {COMMANDS[name][0]} is not a command yet")
    return json.loads((runs[name] / "metrics.json").read_text())


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_record_follows_the_schema(runs, name):
    record = record_of(runs, name)
    check_record(record)
    assert set(REQUIRED) <= set(record)
    assert record["command"] == " ".join(COMMANDS[name][:2 if name == "charrnn" else 1])
    assert record["argv"][:len(COMMANDS[name][:1])] == COMMANDS[name][:1]
    assert record["stop_reason"] == "done" and record["world_size"] == 1
    assert record["wall_seconds"] >= record["train_seconds"] >= 0
    for role, file in record["files"].items():
        assert (runs[name] / file).is_file(), f"{name}: files[{role!r}] = {file} is missing"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_shared_keys_mean_the_same_everywhere(runs, name):
    record = record_of(runs, name)
    history = record.get("history")
    for key in ("accuracy", "test_accuracy"):
        if record.get(key) is not None:
            assert 0 <= record[key] <= 1, (name, key)
    if history is not None:
        assert history and all(ENTRY_KEYS <= set(entry) for entry in history), name
        assert record["final"] == history[-1]
    if record.get("test_accuracy") is not None:
        assert record["test_accuracy"] == history[-1]["test_accuracy"]
        assert record.get("accuracy", record["test_accuracy"]) == record["test_accuracy"]
    if "val_loss" in record:
        losses = [entry["val_loss"] for entry in history if "val_loss" in entry]
        assert record["val_loss"] == min(losses) == record["best"]["val_loss"]
    if "chars_per_second" in record:
        assert math.isfinite(record["chars_per_second"]) and record["chars_per_second"] > 0


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_log_named_in_files_holds_the_history(runs, name):
    record = record_of(runs, name)
    if "log" not in record["files"]:
        assert record.get("history") is None, f"{name}: a history but no metrics.jsonl"
        return
    lines = [json.loads(line) for line in (runs[name] / record["files"]["log"]).read_text(
        ).splitlines()]
    assert lines and all(ENTRY_KEYS <= set(line) for line in lines), name
    if record.get("history") is not None and name != "lr-sweep":  # the sweep logs every lr
        assert lines == record["history"]


def test_reproduce_records_its_experiments_and_their_records(runs):
    record = record_of(runs, "reproduce")
    assert set(record["experiments"]) == {"xor-tanh", "lr-sweep"}
    assert record["final"]["name"] == "lr-sweep" and record["final"]["status"] == "ok"
    for name in record["experiments"]:
        check_record(json.loads((runs["reproduce"] / name / "metrics.json").read_text()))
        assert record["files"][name] == f"{name}/metrics.json"
