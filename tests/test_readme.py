"""The README is the front door: its example runs, its commands exist, CI runs its tests."""

from __future__ import annotations

import contextlib
import io
import re

from dagnet.cli import build_parser
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_python_example_learns_xor():
    code = next(block for block in re.findall(r"```python\n(.*?)```", README, flags=re.S)
                if "xor_x" in block)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    cost, outputs = re.fullmatch(r"cost ([\d.]+), outputs \[(.*)\]\n", out.getvalue()).groups()
    assert float(cost) < 0.05
    assert [round(float(v)) for v in outputs.split()] == [0, 1, 1, 0]


def test_every_command_the_readme_names_exists():
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)
    named = set(re.findall(r"`dagnet ([a-z][a-z-]*)", README))
    named |= set(re.findall(r"^ +dagnet ([a-z][a-z-]*)", README, flags=re.M))
    assert named and named <= commands, f"unknown commands in README: {named - commands}"


def test_ci_runs_exactly_the_readme_test_command():
    match = re.search(r"## Run the tests\n\n +(.+)\n", README)
    assert match, "README.md has no test command under '## Run the tests'"
    command = match.group(1).strip()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert command in [line.strip() for line in ci]
