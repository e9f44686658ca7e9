"""dagnet draw: DOT always, a rendering when Graphviz is there, a helpful line when not."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

import dagnet
from dagnet.cli import main
from dagnet.training import check_record


def draw(tmp_path, *argv):
    out = tmp_path / "drawing"
    return main(["draw", *argv, "--out", str(out)]), out


@pytest.fixture
def no_graphviz(tmp_path, monkeypatch):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def fake_graphviz(tmp_path, monkeypatch):
    """A ``dot`` program that records its arguments and writes a stand-in picture."""
    folder = tmp_path / "fake-bin"
    folder.mkdir()
    script = folder / "dot"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "args = sys.argv[1:]\n"
        "open(args[args.index('-o') + 1], 'w').write('<svg>' + open(args[-1]).read()[:7])\n"
        f"open({str(folder / 'calls.json')!r}, 'a').write(json.dumps(args) + '\\n')\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))
    return folder


def test_without_graphviz_the_dot_file_is_written_and_install_is_explained(
        tmp_path, no_graphviz, capsys):
    code, out = draw(tmp_path, "--example", "xor")
    assert code == 0
    text = (out / "graph.dot").read_text()
    assert text.startswith('digraph "xor"') and "layer1/W" in text
    assert not (out / "graph.svg").exists()
    message = capsys.readouterr().err
    assert "not installed" in message and "apt install graphviz" in message
    m = json.loads((out / "metrics.json").read_text())
    check_record(m)
    assert m["rendered"] is False and m["files"] == {"dot": "graph.dot"}
    # X, Y, three layers of W, b, linear and activation, and the cost.
    assert m["nodes"] == 15 and m["parameters"] == 6 and m["weights"] == 12 + 20 + 5


def test_with_graphviz_the_picture_is_rendered_from_the_dot_file(tmp_path, fake_graphviz):
    code, out = draw(tmp_path, "--example", "mnist", "--format", "png")
    assert code == 0
    assert (out / "graph.png").read_text() == "<svg>digraph"
    (call,) = [json.loads(line) for line in (fake_graphviz / "calls.json").read_text()
               .splitlines()]
    assert call == ["-Tpng", "-o", str(out / "graph.png"), str(out / "graph.dot")]
    m = json.loads((out / "metrics.json").read_text())
    assert m["rendered"] is True and m["files"] == {"dot": "graph.dot", "picture": "graph.png"}
    assert m["weights"] == 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_real_graphviz_renders_an_svg(tmp_path):
    code, out = draw(tmp_path, "--example", "xor", "--formulation", "tutorial")
    assert code == 0
    svg = (out / "graph.svg").read_text()
    assert "<svg" in svg and "AddBias" in svg


def test_a_saved_model_is_drawn(tmp_path, no_graphviz):
    graph = dagnet.fully_connected([3, 1], 2, rng=np.random.default_rng(0))
    dagnet.save(graph, tmp_path / "tiny.safetensors")
    code, out = draw(tmp_path, str(tmp_path / "tiny.safetensors"), "--format", "dot")
    assert code == 0
    assert (out / "graph.dot").read_text().startswith('digraph "tiny"')
    assert json.loads((out / "metrics.json").read_text())["source"].endswith("tiny.safetensors")


@pytest.mark.parametrize("argv,message", [
    ([], "one of the arguments model --example is required"),
    (["model.safetensors", "--example", "xor"], "argument --example: not allowed with argument "
                                               "model"),
    (["--example", "lenet"], "argument --example: invalid choice: 'lenet'"),
    (["--example", "xor", "--out", ""], "argument --out: must name a folder"),
])
def test_bad_arguments_are_refused_by_the_parser(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(["draw", *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("dagnet draw: error:") and message in err[-1]


def test_a_missing_model_file_gives_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = draw(tmp_path, "missing.safetensors")
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dagnet draw: error:")
    assert "missing.safetensors" in err[0]
    assert not (out / "metrics.json").exists()


def test_a_file_that_is_not_a_model_is_refused_by_name(tmp_path, capsys):
    bad = tmp_path / "notes.safetensors"
    bad.write_bytes(b"\x00" * 3)
    code, _ = draw(tmp_path, str(bad))
    assert code == 1
    assert str(bad) in capsys.readouterr().err
