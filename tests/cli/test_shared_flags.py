"""Every training command has the same flags with the same meaning and default, as the
README says; --config and --json work on each."""

from __future__ import annotations

import argparse
import json
import re

import pytest

from dagnet.cli import build_parser, leaf_parser, main
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
TRAINING = [["xor"], ["disk"], ["mnist"], ["reber"], ["charrnn", "train"], ["gpt", "train"]]
COMPARISONS = [["lr-sweep"], ["reber-compare"], ["optimizers"], ["trajectories"]]
SHARED = {"--seed": 0, "--out": None, "--dtype": "float32", "--quiet": False,
          "--json": False, "--config": None, "--resume": None, "--data": None,
          "--profile": False}


def parser_of(command: list[str]) -> argparse.ArgumentParser:
    return leaf_parser(build_parser(), command)


def defaults(parser: argparse.ArgumentParser) -> dict[str, object]:
    return {flag: action.default for flag, action in parser._option_string_actions.items()}


def available(command: list[str]) -> bool:
    return set(command) <= set(build_parser()._subparsers._group_actions[0].choices) | {
        "train"}


@pytest.mark.parametrize("command", TRAINING + COMPARISONS, ids=" ".join)
def test_the_shared_flags_have_one_meaning_and_default(command):
    if not available(command[:1]):
        pytest.skip(f"dagnet {command[0]} is not a command yet")
    found = defaults(parser_of(command))
    shared = dict(SHARED)
    if command in COMPARISONS:
        shared.pop("--resume")
        assert "--resume" not in found
    if command in (["trajectories"], ["reber-compare"], ["lr-sweep"], ["xor"], ["disk"],
                   ["reber"]):
        shared.pop("--data")  # generated data
    for flag, default in shared.items():
        assert flag in found, f"dagnet {' '.join(command)} lacks {flag}"
        assert found[flag] == default, (command, flag, found[flag])
    for flag in ("--optimizer", "--lr") if command != ["trajectories"] else ():
        if command not in COMPARISONS:
            assert flag in found, (command, flag)


def test_the_readme_names_the_flags_every_training_command_has():
    paragraph = README.split("Every training command (", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`(--[a-z][a-z-]*)", paragraph))
    assert {"--seed", "--out", "--dtype", "--data", "--resume", "--optimizer", "--lr",
            "--quiet", "--json", "--config", "--debug", "--profile"} <= named
    for command in TRAINING:
        if available(command[:1]):
            flags = defaults(parser_of(command))
            generated = {"--data"} if command[0] in ("xor", "disk", "reber") else set()
            for flag in named - {"--version"} - generated:
                assert flag in flags, f"README: dagnet {' '.join(command)} takes {flag}"


def test_config_file_and_json_summary(tmp_path, capsys):
    config = tmp_path / "xor.toml"
    config.write_text('epochs = 50\nlayers = [4, 1]\nseed = 3\n')
    assert main(["xor", "--config", str(config), "--quiet", "--json",
                 "--out", str(tmp_path / "run")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["command"] == "xor" and summary["seed"] == 3
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["layers"] == [4, 1] and record["final"]["step"] == 50
    # Flags on the command line win over the file.
    assert main(["xor", "--config", str(config), "--seed", "5", "--quiet",
                 "--out", str(tmp_path / "run2")]) == 0
    assert json.loads((tmp_path / "run2" / "metrics.json").read_text())["seed"] == 5


@pytest.mark.parametrize("content, message", [
    ("epochs = 'many'\n", "epochs = 'many'"), ("wings = 3\n", "'wings' is not an option"),
    ("epochs = \n", "not valid TOML")])
def test_a_bad_config_file_is_one_line(tmp_path, capsys, content, message):
    config = tmp_path / "bad.toml"
    config.write_text(content)
    assert main(["xor", "--config", str(config), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert re.fullmatch(r"dagnet \d+\.\d+\.\d+\n", capsys.readouterr().out)
