"""The README is the front door: its example runs, its commands exist, and CI runs exactly
its install and test commands, where a test cannot pass by skipping."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import tomllib

import pytest

import dagnet
from dagnet.cli import build_parser, main
from tests import conftest
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
CI_LINES = [line.strip() for line in
            (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
COMMANDS = set(build_parser()._subparsers._group_actions[0].choices)


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
    named = set(re.findall(r"`dagnet ([a-z][a-z-]*)", README))
    named |= set(re.findall(r"^ +dagnet ([a-z][a-z-]*)", README, flags=re.M))
    assert named and named <= COMMANDS, f"unknown commands in README: {named - COMMANDS}"


def readme_command(heading: str) -> str:
    """The first indented line under ``## heading``: what a reader copies."""
    match = re.search(rf"^## {heading}\n(?:[^#\n].*\n|\n)*?    (\S.*)\n", README, flags=re.M)
    assert match, f"README.md has no command under '## {heading}'"
    return match.group(1).strip()


def test_ci_runs_exactly_the_readme_install_then_test_command():
    install, test = readme_command("Install"), readme_command("Run the tests")
    assert install == 'pip install -e ".[test]"' and test == "python -m pytest -q"
    assert install in CI_LINES and test in CI_LINES, ".ci/run must run the README's commands"
    assert CI_LINES.index(install) < CI_LINES.index(test)


def test_no_test_skips_a_missing_reference_by_itself():
    # pytest.importorskip would let CI pass without the reference; require() fails there.
    bypasses = [path.relative_to(ROOT) for path in (ROOT / "tests").rglob("*.py")
                if re.search(r"importorskip\s*\(", path.read_text("utf-8"))]
    assert not bypasses, f"use tests.conftest.require(module) instead in {bypasses}"


def test_a_missing_reference_skips_locally_and_fails_under_ci(monkeypatch):
    monkeypatch.setitem(conftest.REFERENCES, "dagnet_no_such_module", "compare")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r'pip install -e "\.\[compare\]"'):
        conftest.require("dagnet_no_such_module")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="dagnet_no_such_module"):
        conftest.require("dagnet_no_such_module")
    with pytest.raises(pytest.fail.Exception, match="shared data not found"):
        conftest.require_data(ROOT / "no-such-data")
    with pytest.raises(KeyError, match="REFERENCES"):
        conftest.require("numpy")


def test_every_reference_is_installed_by_a_declared_extra():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(conftest.REFERENCES.values()) <= set(extras)


def test_shared_data_comes_from_dagnet_data_dir_then_beside_the_checkout(monkeypatch, tmp_path):
    monkeypatch.setenv("DAGNET_DATA_DIR", str(tmp_path))
    assert conftest.find_shared_data() == tmp_path
    monkeypatch.setenv("DAGNET_DATA_DIR", str(tmp_path / "absent"))
    assert conftest.find_shared_data() == ROOT.parent / "shared" / "data"


def test_version_lives_in_one_place_and_the_command_prints_it(capsys):
    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    dynamic = PYPROJECT["tool"]["setuptools"]["dynamic"]
    assert dynamic["version"] == {"attr": "dagnet.version.__version__"}
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"dagnet {dagnet.__version__}\n"


def test_the_bash_completion_script_completes_every_command(capsys, tmp_path):
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "dagnet.bash"
    script.write_text(capsys.readouterr().out)
    assert all(re.search(rf"\b{name}\b", script.read_text()) for name in COMMANDS)
    # What Tab offers after "dagnet re", asked of bash itself.
    offered = subprocess.run(
        ["bash", "-c", f'source "{script}"; COMP_WORDS=(dagnet re); COMP_CWORD=1; '
                       '_shtab_dagnet; echo "${COMPREPLY[*]}"'],
        capture_output=True, text=True, check=True).stdout.split()
    assert sorted(offered) == sorted(name for name in COMMANDS if name.startswith("re"))


def test_the_zsh_completion_script_names_every_command(capsys):
    assert main(["completion", "zsh"]) == 0
    script = capsys.readouterr().out
    assert script.startswith("#compdef dagnet")
    # Each command opens a line of the list: name:'help' (shtab 1.7: "name:help").
    assert all(re.search(rf"^ +['\"]?{name}:", script, flags=re.M) for name in COMMANDS)
