"""``dagnet reproduce``: a whole tiny-budget run on generated data, its page, skipped and
failing experiments, re-runs into the same folder, and the docs it regenerates."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dagnet.cli.toy
from dagnet.cli import main
from dagnet.errors import DagnetError
from dagnet.reproduce.docs import load_results, render_block, update_docs
from dagnet.reproduce.experiments import EXPERIMENTS, PARTS, display_command, select
from dagnet.training.record import check_record
from tests.cli.test_mnist import fake_mnist

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class PageChecker(HTMLParser):
    """Checks that tags balance and collects what the page references."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.doctype = [], [], None
        self.images, self.links, self.ids, self.tags = [], [], [], []
        self.text = []

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "img":
            self.images.append(attrs.get("src"))
        if tag == "a":
            self.links.append(attrs.get("href"))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            self.errors.append(f"end tag for void element <{tag}>")
        elif not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def check_page(path: Path) -> PageChecker:
    checker = PageChecker()
    checker.feed(path.read_text(encoding="utf-8"))
    checker.close()
    assert checker.doctype is not None and checker.doctype.lower() == "doctype html"
    assert checker.errors == [] and checker.stack == []
    assert checker.tags[0] == "html" and checker.tags.count("body") == 1
    assert checker.tags.count("title") == 1
    assert len(checker.ids) == len(set(checker.ids)), "duplicate ids"
    return checker


def write_tiny_data(folder: Path) -> Path:
    """MNIST-format digits (a bright bar gives each label away) and a small play."""
    (folder / "mnist").mkdir(parents=True)
    fake_mnist(folder / "mnist", np.random.default_rng(0), n_train=300, n_test=100)
    (folder / "tinyshakespeare").mkdir()
    text = "".join(f"SPEAKER {k % 3}:\nTo be, or not to be: line {k} <&>.\n\n"
                   for k in range(60))
    (folder / "tinyshakespeare" / "input.txt").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    data = write_tiny_data(tmp_path_factory.mktemp("data"))
    out = tmp_path_factory.mktemp("reproduce")
    code = main(["reproduce", "--budget", "tiny", "--data", str(data), "--out", str(out)])
    return code, out


def test_a_tiny_run_runs_every_experiment_and_writes_a_well_formed_page(tiny_run):
    code, out = tiny_run
    assert code == 0
    run = json.loads((out / "metrics.json").read_text())
    check_record(run)  # reproduce's own record follows the run-record schema
    assert run["command"] == "reproduce" and run["budget"] == "tiny"
    assert run["stop_reason"] == "done" and run["files"]["page"] == "index.html"
    assert list(run["experiments"]) == [e.name for e in EXPERIMENTS]
    for name, record in run["experiments"].items():
        assert record["status"] == "ok", (name, record)
        assert (out / name / "metrics.json").is_file() and record["seconds"] > 0
        assert run["files"][name] == f"{name}/metrics.json"
    assert run["final"]["name"] == EXPERIMENTS[-1].name and run["train_seconds"] > 0
    page = check_page(out / "index.html")
    assert page.images, "no figure on the page"
    for src in page.images + [h for h in page.links if not h.startswith(("#", "http"))]:
        assert (out / src).is_file(), f"the page references {src}, which does not exist"
    shown = {src for src in page.images}
    for experiment in EXPERIMENTS:  # every figure of every experiment is on the page
        for figure in sorted((out / experiment.name).glob("*.png")):
            assert f"{experiment.name}/{figure.name}" in shown


def test_the_page_has_the_headline_table_with_numbers_from_the_runs(tiny_run):
    _, out = tiny_run
    text = (out / "index.html").read_text(encoding="utf-8")
    section = re.search(r'<section id="headlines">(.*?)</section>', text, re.DOTALL).group(1)
    header = re.findall(r"<th>(.*?)</th>", section)
    assert header[1:3] == ["tutorial&#x27;s figure", "dagnet&#x27;s figure"]
    assert header[-1] == "command"
    rows = [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", section, re.DOTALL)[1:]]
    by_quantity = {row[0]: row for row in rows}
    xor = json.loads((out / "xor-tanh" / "metrics.json").read_text())
    row = by_quantity["XOR, [4, 4, 1] tanh: points right"]
    assert row[1] == "100%" and row[2] == f"{100 * xor['accuracy']:.0f}%"
    assert row[4] == "dagnet xor --activation tanh --epochs 300"
    mnist = json.loads((out / "mnist-10" / "metrics.json").read_text())
    row = by_quantity["MNIST, [10], 1 epoch: test accuracy"]
    assert row[1] == "91.5%" and row[2] == f"{100 * mnist['test_accuracy']:.2f}%"
    assert row[4] == ("dagnet mnist --layers 10 --dtype float32 --epochs 1 --batch-size 128 "
                      "--lr 2")
    charrnn = json.loads((out / "charrnn" / "metrics.json").read_text())
    row = next(r for q, r in by_quantity.items() if "validation loss" in q)
    assert row[0].startswith("char-rnn, 2 × 16 LSTM")
    assert row[1].startswith("≈ 1.4") and row[2] == f"{charrnn['val_loss']:.3f}"
    tutorial_figures = {row[1] for row in rows}
    assert {"100%", "91.5%", "97.8% (10 epochs)", "≈ 100%"} <= tutorial_figures


def test_the_page_shows_generated_text_timings_environment_and_the_budget(tiny_run):
    _, out = tiny_run
    text = (out / "index.html").read_text(encoding="utf-8")
    sample = (out / "charrnn" / "sample.txt").read_text(encoding="utf-8")
    assert len(sample) >= 100 and html.escape(sample) in text
    assert "smoke test" in text and "--budget tiny" in text
    assert f"<td>{np.__version__}</td>" in text
    for section in ("timings", "environment"):
        assert f'<section id="{section}">' in text
    run = json.loads((out / "metrics.json").read_text())
    assert run["machine"]["cpu_count"] >= 1 and run["machine"]["numpy"] == np.__version__


def test_missing_data_is_reported_as_skipped_not_a_crash(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    code = main(["reproduce", "--budget", "tiny", "--data", str(empty), "--out", str(out),
                 "--only", "xor-tanh", "mnist-10", "optimizers-mnist", "charrnn"])
    assert code == 0
    records = json.loads((out / "metrics.json").read_text())["experiments"]
    assert records["xor-tanh"]["status"] == "ok"
    for name in ("mnist-10", "optimizers-mnist"):
        assert records[name]["status"] == "skipped"
        assert "MNIST not found" in records[name]["reason"] and str(empty) in records[name][
            "reason"]
    assert records["charrnn"]["status"] == "skipped"
    assert "tiny Shakespeare not found" in records["charrnn"]["reason"]
    page = check_page(out / "index.html")
    text = "".join(page.text)
    assert "Skipped: MNIST not found" in text and "Skipped: tiny Shakespeare not found" in text
    assert "skipped mnist-10, optimizers-mnist, charrnn" in capsys.readouterr().err


def test_a_failing_experiment_is_reported_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    def crash(args):
        raise RuntimeError("a bug in xor")

    def refuse(args):
        raise DagnetError("the disk refuses")

    monkeypatch.setattr(dagnet.cli.toy, "run_xor", crash)
    monkeypatch.setattr(dagnet.cli.toy, "run_disk", refuse)
    out = tmp_path / "out"
    code = main(["reproduce", "--budget", "tiny", "--out", str(out),
                 "--only", "xor-tanh", "disk-tanh", "lr-sweep"])
    assert code == 1
    err = capsys.readouterr().err
    assert "[1/3] xor-tanh: failed" in err and "[3/3] lr-sweep: ok" in err
    run = json.loads((out / "metrics.json").read_text())
    check_record(run)
    assert run["stop_reason"] == "error"
    records = run["experiments"]
    assert records["xor-tanh"]["error"] == "RuntimeError: a bug in xor"
    assert records["disk-tanh"]["error"] == "dagnet disk: error: the disk refuses"
    assert records["lr-sweep"]["status"] == "ok"
    assert "Traceback" in (out / "xor-tanh" / "log.txt").read_text()
    text = "".join(check_page(out / "index.html").text)
    assert "RuntimeError: a bug in xor" in text and "dagnet disk: error: the disk refuses" in text

    # Re-running experiments into the folder keeps the others' records.
    monkeypatch.undo()
    assert main(["reproduce", "--budget", "tiny", "--out", str(out), "--only", "xor-tanh"]) == 0
    assert main(["reproduce", "--budget", "tiny", "--out", str(out), "--only", "disk-tanh"]) == 0
    run = json.loads((out / "metrics.json").read_text())
    assert [r["status"] for r in run["experiments"].values()] == ["ok"] * 3
    assert run["stop_reason"] == "done" and run["argv"][-2:] == ["--only", "disk-tanh"]
    assert {name for name in run["files"] if name != "page"} == set(run["experiments"])
    assert len(run["invocations"]) == 3 and not (out / "xor-tanh" / "log.txt").read_text(
        ).count("Traceback")
    assert main(["reproduce", "--out", str(out), "--report-only"]) == 0
    check_page(out / "index.html")


def test_bad_invocations_are_one_line_errors(tmp_path, capsys):
    assert main(["reproduce", "--only", "nothing", "--out", str(tmp_path / "a")]) == 1
    assert "--only: no experiment or part 'nothing'" in capsys.readouterr().err
    foreign = tmp_path / "b"
    (foreign / "xor-tanh").mkdir(parents=True)
    (foreign / "xor-tanh" / "mine.txt").write_text("keep me")
    assert main(["reproduce", "--budget", "tiny", "--out", str(foreign), "--only",
                 "xor-tanh"]) == 1
    assert "did not write" in capsys.readouterr().err
    assert (foreign / "xor-tanh" / "mine.txt").read_text() == "keep me"
    assert main(["reproduce", "--report-only", "--out", str(tmp_path / "c")]) == 1


def test_ctrl_c_stops_the_run_with_its_record_and_exit_130(tmp_path, monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(dagnet.cli.toy, "run_disk", interrupted)
    out = tmp_path / "out"
    assert main(["reproduce", "--budget", "tiny", "--out", str(out),
                 "--only", "lr-sweep", "xor-tanh", "disk-tanh"]) == 130
    run = json.loads((out / "metrics.json").read_text())
    check_record(run)
    assert run["stop_reason"] == "interrupted"
    assert {name: r["status"] for name, r in run["experiments"].items()} == {
        "xor-tanh": "ok", "disk-tanh": "interrupted"}  # lr-sweep, after it, did not run
    check_page(out / "index.html")


@pytest.mark.parametrize("option", [["--seed", "-1"], ["--seed", "x"], ["--budget", "huge"],
                                    ["--out", ""], ["--only"], ["--quick", "--budget", "tiny"]])
def test_bad_arguments_are_refused_by_the_parser(option, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["reproduce", *option] + (["--out", str(tmp_path)] if "--out" not in option
                                       else []))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err
    assert not (tmp_path / "metrics.json").exists()


def test_charrnn_keeps_the_seed_of_its_figures_unless_one_is_given():
    from dagnet.reproduce.experiments import BY_NAME, Context

    for budget in ("tiny", "full"):
        argv = BY_NAME["charrnn"].argv(Context(budget))
        assert argv[argv.index("--seed") + 1] == "123"
    argv = BY_NAME["charrnn"].argv(Context("full", seed=5))
    assert argv.count("--seed") == 1 and argv[argv.index("--seed") + 1] == "5"
    assert "--seed" not in BY_NAME["xor-tanh"].argv(Context("full"))
    for name in ("mnist-10", "mnist-128-64-10"):
        argv = BY_NAME[name].argv(Context("full"))
        assert argv[argv.index("--dtype") + 1] == "float32"


def test_selection_and_displayed_commands():
    assert [e.name for e in select(["part2"])] == ["mnist-10", "mnist-128-64-10"]
    assert [e.name for e in select(["charrnn", "xor-relu"])] == ["xor-relu", "charrnn"]
    assert select(None) == EXPERIMENTS and set(e.part for e in EXPERIMENTS) == set(PARTS)
    with pytest.raises(KeyError):
        select(["part9"])
    argv = ["mnist", "--layers", "10", "--data", "/d", "--out", "/r/x", "--quiet"]
    assert display_command(argv) == "dagnet mnist --layers 10"
    assert (display_command(["charrnn", "sample", "/r/charrnn/best.safetensors"], Path("/r"))
            == "dagnet charrnn sample charrnn/best.safetensors")


def test_docs_blocks_and_figures_come_from_the_run(tiny_run, tmp_path):
    _, out = tiny_run
    docs = tmp_path / "docs"
    docs.mkdir()
    page = docs / PARTS[1][1]
    page.write_text("# Part 1\n\nProse.\n\n<!-- reproduce: xor-tanh -->\nstale\n"
                    "<!-- /reproduce: xor-tanh -->\n\nMore prose.\n", encoding="utf-8")
    run = json.loads((out / "metrics.json").read_text())
    shown = ["xor-tanh", "mnist-10", "charrnn"]
    run["experiments"] = {name: run["experiments"][name] for name in reversed(shown)}
    assert update_docs(out, run, docs) == [page]
    results = load_results(docs)
    assert list(results["experiments"]) == shown  # in the table's order
    text = page.read_text(encoding="utf-8")
    assert "stale" not in text and text.startswith("# Part 1\n\nProse.\n\n")
    assert text.endswith("\n\nMore prose.\n") and render_block("xor-tanh", results) in text
    assert "dagnet xor --activation tanh --epochs 300" in text
    for name, entry in results["experiments"].items():
        for figure in entry["figures"]:
            with Image.open(docs / "results" / name / figure) as image:
                assert round(image.info["dpi"][0]) == 100
    sample = results["experiments"]["charrnn"]["sample"]
    assert sample == (out / "charrnn" / "sample.txt").read_text(encoding="utf-8")[:1200]
    assert "*Not measured yet" in render_block("nothing-yet", results)


def test_the_budgets_shrink_what_takes_minutes_and_the_page_says_which_ran():
    from dagnet.reproduce.experiments import BY_NAME, Context
    from dagnet.reproduce.report import budget_note

    full, quick = Context("full"), Context("quick")
    assert "--epochs" in BY_NAME["charrnn"].argv(full)
    argv = BY_NAME["charrnn"].argv(quick)
    assert argv[argv.index("--max-iterations") + 1] == "1500" and "--time-budget" in argv
    assert BY_NAME["xor-tanh"].argv(quick) == BY_NAME["xor-tanh"].argv(full)
    assert BY_NAME["mnist-10"].argv(quick) == BY_NAME["mnist-10"].argv(full)

    def run(*budgets):
        return {"budget": budgets[0], "experiments": {
            f"e{k}": {"status": "ok", "budget": b} for k, b in enumerate(budgets)}}

    assert budget_note(run("full", "full")) == ""
    assert budget_note(run("quick", "quick")).startswith("This is the quick version")
    assert "different budgets (full, quick)" in budget_note(run("quick", "full"))
