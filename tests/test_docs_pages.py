"""The tutorial pages docs/part*.md: their files and links exist, their numbers are the
generated ones (re-rendered from docs/results/results.json), their Python runs."""

from __future__ import annotations

import contextlib
import io
import re
import shlex

import pytest

from dagnet.cli import build_parser
from dagnet.reproduce.docs import BLOCK, load_results, render_block
from dagnet.reproduce.experiments import EXPERIMENTS, PARTS
from tests.conftest import ROOT

DOCS = ROOT / "docs"
PAGES = [DOCS / page for _, page in PARTS.values()]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
# A command line in a page: a line of a fenced block, or an indented one, that starts "dagnet ".
COMMAND = re.compile(r"^(?: {4,})?dagnet ([a-z].*)$", re.M)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_file_a_page_references_exists(page):
    text = page.read_text(encoding="utf-8")
    targets = [t for t in LINK.findall(text) if not t.startswith(("http://", "https://", "#"))]
    assert targets, f"{page.name} links nothing"
    for target in targets:
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.is_file(), f"{page.name} references {target}, which does not exist"


def test_every_experiment_has_one_block_in_its_part_page():
    for experiment in EXPERIMENTS:
        text = (DOCS / PARTS[experiment.part][1]).read_text(encoding="utf-8")
        names = [m.group("name") for m in BLOCK.finditer(text)]
        assert names.count(experiment.name) == 1, f"{experiment.name}: {names}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_the_blocks_are_exactly_what_the_results_generate(page):
    """Numbers on the pages come from dagnet reproduce --docs, never typed by hand."""
    results = load_results(DOCS)
    text = page.read_text(encoding="utf-8")
    blocks = list(BLOCK.finditer(text))
    assert blocks
    for match in blocks:
        assert match.group(0) == render_block(match.group("name"), results), (
            f"{page.name}: the block of {match.group('name')} differs from what "
            "docs/results/results.json generates; rerun dagnet reproduce --docs docs")


def test_the_results_name_existing_figures_and_known_experiments():
    results = load_results(DOCS)
    known = {e.name for e in EXPERIMENTS}
    for name, entry in results["experiments"].items():
        assert name in known
        for figure in entry["figures"]:
            assert (DOCS / "results" / name / figure).is_file()
    for folder in (DOCS / "results").glob("*/"):
        assert folder.name in results["experiments"], f"stale folder docs/results/{folder.name}"


def test_the_python_of_part1_runs():
    text = (DOCS / PARTS[1][1]).read_text(encoding="utf-8")
    (code,) = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "part1-computational-graphs.md", "exec"), {})
    cost = float(re.match(r"cost ([\d.]+), outputs", printed.getvalue()).group(1))
    assert cost < 0.1  # XOR learned: the summed cross-entropy of the 4 points is small


@pytest.mark.parametrize("page", PAGES + [DOCS / "charrnn.md"], ids=lambda p: p.name)
def test_every_command_line_a_page_shows_parses(page, capsys):
    """The pages' command lines use the flags the commands have now (--data, --dtype...)."""
    text = page.read_text(encoding="utf-8")
    code = "\n".join(re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL)
                     + re.findall(r"^ {4,}dagnet .*$", text, re.M))
    lines = COMMAND.findall(code)
    assert lines, f"{page.name} shows no command"
    parser = build_parser()
    for line in lines:
        try:
            parser.parse_args(shlex.split(line, comments=True))
        except SystemExit:
            pytest.fail(f"{page.name}: `dagnet {line}` does not parse: "
                        f"{capsys.readouterr().err.strip()}")
