"""The command line stays thin: at most 1,400 lines, functions read at a glance (50 lines
outside argparse declarations), and one training loop in the package (the Trainer's)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "dagnet"
CLI = sorted((PACKAGE / "cli").glob("*.py"))
DECLARATIONS = {"add_argument", "add_parser", "add_argument_group", "set_defaults",
                "add_subparsers", "add_mutually_exclusive_group"}


def declaration_lines(function: ast.FunctionDef) -> set[int]:
    """Lines of the statements that only declare arguments (parser.add_argument(...))."""
    lines = set()
    for node in ast.walk(function):
        if isinstance(node, (ast.Expr, ast.Assign)) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Attribute) and func.attr in DECLARATIONS:
                lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def test_the_cli_is_at_most_1400_lines():
    total = sum(len(path.read_text().splitlines()) for path in CLI)
    assert total <= 1400, f"dagnet/cli has {total} lines"


@pytest.mark.parametrize("path", CLI, ids=lambda p: p.name)
def test_no_cli_function_exceeds_50_lines_outside_argument_declarations(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            body = set(range(node.lineno, node.end_lineno + 1)) - declaration_lines(node)
            assert len(body) <= 50, f"{path.name}: {node.name} has {len(body)} lines"


def test_the_package_has_one_training_loop():
    """Only the Trainer calls a model's train_step in a loop: no other module of the
    package (the benchmarks aside) drives training itself."""
    callers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
                    node.func.attr in ("train_step", "backpropagate")):
                callers.append(str(path.relative_to(PACKAGE)))
    # distributed.py: DataParallel.train_step hands each rank's share to the model's, once.
    assert set(callers) <= {"training/trainer.py", "models/graph_model.py", "models/rnn.py",
                            "gradcheck.py", "models/gpt.py", "distributed.py"}, callers
