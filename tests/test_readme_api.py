"""The README's own-data example: at most 10 lines, integer labels, fit, evaluate, save,
load, predict — and it runs."""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def own_data_example() -> str:
    section = README.split("## Train on your own arrays", 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def test_the_example_is_ten_lines_with_every_step():
    code = own_data_example()
    lines = [line for line in code.splitlines() if line.strip()]
    assert len(lines) <= 10
    for step in (".fit(", "validation_data=", ".evaluate(", ".save(", "dagnet.load(",
                 ".predict("):
        assert step in code, step
    assert "astype(int)" in code  # integer labels, not one-hot rows


def test_the_example_runs_and_learns(tmp_path):
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(own_data_example(), "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    metrics_line, predictions = out.getvalue().splitlines()
    metrics = ast.literal_eval(metrics_line)
    assert set(metrics) == {"loss", "accuracy"} and metrics["accuracy"] > 0.9
    assert re.fullmatch(r"\[[0-2]( [0-2]){4}\]", predictions)
    assert (tmp_path / "model.safetensors").exists()
