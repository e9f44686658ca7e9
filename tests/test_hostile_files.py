"""Hostile files: every case found by adversarial testing (issue 11) now ends in dagnet's own
one-line error, before anything big is allocated; a last test measures the memory and time
every crafted model file costs ``dagnet.load`` in a fresh process."""

from __future__ import annotations

import errno
import inspect
import json
import os
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dagnet
from dagnet import DataError, ModelFileError
from dagnet.data.idx import read_idx
from dagnet.data.mnist import read_digit_image
from dagnet.errors import DagnetError, FileWriteError
from dagnet.files import atomic_write_bytes, remove_stale_temporaries
from dagnet.io import (
    FORMAT,
    graph_spec,
    json_depth,
    read_model_file,
    safetensors_bytes,
)
from dagnet.limits import Limits
from dagnet.models import rnn
from dagnet.models.charrnn import CharRNN
from dagnet.models.rnn import RecurrentNetwork
from tests.hostile_probe import check_charrnn_config, check_recurrent_config
from tests.nodes.cases import CASES

ROOT = Path(__file__).resolve().parents[1]


# -- crafting model files --------------------------------------------------------------

def mlp() -> dagnet.Graph:
    return dagnet.fully_connected([4, 3], n_inputs=2, rng=np.random.default_rng(0))


def write_raw(path: Path, tensors: dict, config_text: str, metadata_text: str = "{}",
              file_format: str = FORMAT) -> Path:
    """A model file whose configuration and metadata are ``*_text`` exactly as given."""
    header = {"format": file_format, "format_version": "1", "config": config_text,
              "metadata": metadata_text}
    path.write_bytes(safetensors_bytes(tensors, header))
    return path


def edited_graph(path: Path, change) -> Path:
    """The MLP's file with ``change(spec, tensors)`` applied to its description."""
    spec, tensors = graph_spec(mlp())
    change(spec, tensors)
    return write_raw(path, tensors, json.dumps(spec))


def node_index(spec: dict, type_name: str) -> int:
    return next(k for k, e in enumerate(spec["nodes"]) if e["type"] == type_name)


def set_config(type_name: str, **config):
    def change(spec, _):
        spec["nodes"][node_index(spec, type_name)]["config"] = config
    return change


def unstack_graph(length: int) -> dagnet.Graph:
    X = dagnet.InputNode(name="X")
    steps = dagnet.nodes.UnstackNode([X], length, name="steps")
    return dagnet.Graph(None, [X], [dagnet.nodes.StackNode([(steps, t) for t in range(length)])])


def with_unstack(length: int):
    def change(spec, _):
        spec["nodes"].append({"type": "UnstackNode", "name": "u", "parents": [[0, 0]],
                              "config": {"length": length}})
    return change


def chain(path: Path, n: int) -> Path:
    """A valid graph of ``n`` TanhNodes in a row: big, but honest."""
    nodes = [{"type": "InputNode", "name": "X", "parents": [], "config": {}}]
    nodes += [{"type": "TanhNode", "name": None, "parents": [[k, 0]], "config": {}}
              for k in range(n)]
    spec = {"nodes": nodes, "inputs": [0], "outputs": [[n, 0]], "expected_outputs": [],
            "cost": None, "parameters": []}
    return write_raw(path, {}, json.dumps(spec, separators=(",", ":")))


def many_unstacks(path: Path, n: int) -> Path:
    """``n`` UnstackNodes of 1024 steps each: within every per-node limit, not in total."""
    nodes = [{"type": "InputNode", "name": "X", "parents": [], "config": {}}]
    nodes += [{"type": "UnstackNode", "name": None, "parents": [[0, 0]],
               "config": {"length": 1024}} for _ in range(n)]
    spec = {"nodes": nodes, "inputs": [0], "outputs": [[1, 0]], "expected_outputs": [],
            "cost": None, "parameters": []}
    return write_raw(path, {}, json.dumps(spec, separators=(",", ":")))


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def deep_in_header(path: Path, levels: int) -> Path:
    text = ('{"a":' + deep(levels) + "}").encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text)
    return path


def charrnn_file(path: Path, hidden: list[int], **config) -> Path:
    """A real char-rnn checkpoint, then its configuration edited (the weights kept)."""
    net = CharRNN("\nabc", hidden=[8], rng=np.random.default_rng(0))
    net.save(path, metadata={"step": 3})
    tensors, header = dagnet.io.read_safetensors(path)
    stored = json.loads(header["config"])
    stored.update(hidden=hidden, **config)
    header["config"] = json.dumps(stored)
    path.write_bytes(safetensors_bytes(tensors, header))
    return path


def recurrent_file(path: Path, **config) -> Path:
    RecurrentNetwork("lstm", 3, 4, 3).save(path)
    tensors, header = dagnet.io.read_safetensors(path)
    stored = json.loads(header["config"])
    stored.update(config)
    header["config"] = json.dumps(stored)
    path.write_bytes(safetensors_bytes(tensors, header))
    return path


def symlink(path: Path, target: str) -> Path:
    if not os.path.exists(target):
        pytest.skip(f"{target} does not exist here")
    path.symlink_to(target)
    return path


def fifo(path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(path)
    return path


def sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)  # no disk space used
    return path


def lying_table(path: Path) -> Path:
    header = json.dumps({"w": {"dtype": "F64", "shape": [10**6, 10**6],
                               "data_offsets": [0, 8 * 10**12]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 64)
    return path


def i64_weights(spec, tensors):
    tensors["layer1/W"] = tensors["layer1/W"].astype(np.int64)


def gradient_node_in_body(spec, _):
    spec["nodes"].append({"type": "GradientNode", "name": "g", "parents": [[0, 0]],
                          "config": {"value": 1.0}})


def duplicate_parameters(spec, _):
    spec["parameters"].append(spec["parameters"][0])


def boolean_parent(spec, _):
    spec["nodes"][-1]["parents"][0][0] = True


def non_string_name(spec, _):
    spec["nodes"][1]["name"] = {"not": "a name"}


# name -> (how ``dagnet.load`` or the schema check reads it, builder, expected message)
CRAFTED = {
    "nb_outputs 1e7 in a TanhNode": (
        "graph", lambda p: edited_graph(p, set_config("TanhNode", nb_outputs=10**7)),
        r"config\.nodes\[\d+\]\.config: unknown key 'nb_outputs'"),
    "nb_outputs 1e8 in a TanhNode": (
        "graph", lambda p: edited_graph(p, set_config("TanhNode", nb_outputs=10**8)),
        r"unknown key 'nb_outputs'"),
    "UnstackNode of 1e7 steps": (
        "graph", lambda p: edited_graph(p, with_unstack(10**7)),
        r"config\.nodes\[\d+\]\.config\.length: expected an integer in \[1, 1024\], got "
        r"10000000 \(Limits\.max_node_io"),
    "UnstackNode length true": (
        "graph", lambda p: edited_graph(p, with_unstack(True)),
        r"config\.length: expected an integer in \[1, 1024\], got true"),
    "SplitNode of 200000 blocks": (
        "graph", lambda p: edited_graph(p, lambda s, _: s["nodes"].append(
            {"type": "SplitNode", "name": None, "parents": [[0, 0]],
             "config": {"sizes": [1] * 200_000}})),
        r"config\.sizes: expected 1 to 1024 items, got 200000 \(Limits\.max_node_io\)"),
    "10000 UnstackNodes of 1024 steps": (
        "graph", lambda p: many_unstacks(p, 10_000),
        r"config\.nodes: 10240001 node outputs in all, more than Limits\.max_nodes"),
    "100000 levels of JSON in the header": (
        "graph", lambda p: deep_in_header(p, 100_000),
        r": header: JSON nested 100001 levels deep, more than Limits\.max_json_depth = 64"),
    "100000 levels of JSON in the configuration": (
        "graph", lambda p: write_raw(p, {}, deep(100_000)),
        r": config: JSON nested 100000 levels deep"),
    "100000 levels of JSON in the metadata": (
        "graph", lambda p: write_raw(p, {}, "{}", '{"a":' + deep(100_000) + "}"),
        r": metadata: JSON nested 100001 levels deep"),
    "a scalar of NaN": (
        "graph", lambda p: write_raw(p, {}, '{"nodes": [], "x": NaN}'),
        r"config: not JSON \(NaN is not a number JSON allows\)"),
    "a scalar of 400 digits": (
        "graph", lambda p: edited_graph(p, lambda s, _: s["nodes"].append(
            {"type": "ScalarMultiplicationNode", "name": None, "parents": [[0, 0]],
             "config": {"scalar": 10**400}})),
        r"config\.scalar: expected a finite number, got 1000000000"),
    "a scalar of 1e999": (
        "graph", lambda p: write_raw(p, {}, '{"nodes": [], "x": 1e999}'),
        r"config: not JSON \(the number 1e999 is not finite\)"),
    "a key twice": (
        "graph", lambda p: write_raw(p, {}, '{"nodes": [], "nodes": []}'),
        r"config: not JSON \(the key 'nodes' appears twice in one object\)"),
    "weights stored as I64": (
        "graph", lambda p: edited_graph(p, i64_weights),
        r"tensor 'layer1/W' holds int64 values; the weights of a model are float32 "
        r"or float64"),
    "weights stored as F16": (
        "graph", lambda p: edited_graph(p, lambda s, t: t.update(
            {"layer1/W": t["layer1/W"].astype(np.float16)})),
        r"tensor 'layer1/W' holds float16 values"),
    "a GradientNode in the body": (
        "graph", lambda p: edited_graph(p, gradient_node_in_body),
        r"\.type: a GradientNode is attached to the cost by Graph"),
    "duplicate parameters": (
        "graph", lambda p: edited_graph(p, duplicate_parameters),
        r"config\.parameters: node \d+ is listed twice"),
    "a boolean as parent index": (
        "graph", lambda p: edited_graph(p, boolean_parent),
        r"parents\[0\]\[0\]: node \d+ reads node true, which does not come before it"),
    "a name that is not a string": (
        "graph", lambda p: edited_graph(p, non_string_name),
        r"config\.nodes\[1\]\.name: expected a string or null, got \{\"not\": \"a name\"\}"),
    "a LinearNode with two inputs": (
        "graph", lambda p: edited_graph(p, lambda s, _: s["nodes"][node_index(
            s, "LinearNode")]["parents"].pop()),
        r"parents: a LinearNode reads 3 input\(s\), got 2"),
    "an output that does not exist": (
        "graph", lambda p: edited_graph(p, lambda s, _: s["outputs"][0].__setitem__(1, 5)),
        r"config\.outputs\[0\]\[1\]: node \d+ has 1 output\(s\), numbered from 0; got 5"),
    "a weight no node uses": (
        "graph", lambda p: edited_graph(p, lambda s, t: t.update({"stray": np.ones(2)})),
        r"tensor 'stray' is the weight of no ParameterNode"),
    "header claims 1e12 bytes": (
        "graph", lambda p: p.write_bytes(struct.pack("<Q", 10**12) + b"{}") and p,
        r"its header claims 1000000000000 bytes"),
    "a 1e12-element tensor in 64 bytes": (
        "graph", lambda p: lying_table(p),
        r"header\['w'\]\.data_offsets: bytes 0 to 8000000000000 of the tensor data, the "
        r"file holds 64"),
    "header metadata that is not an object of strings": (
        "graph", lambda p: p.write_bytes(struct.pack("<Q", 24) + b'{"__metadata__": 5}     ')
        and p, r"header\.__metadata__: expected an object of strings, got 5"),
    "a symbolic link to /dev/zero": (
        "graph", lambda p: symlink(p, "/dev/zero"),
        r": is a character device, not a regular file"),
    "a FIFO": (
        "graph", lambda p: fifo(p), r": is a FIFO \(named pipe\), not a regular file"),
    "a folder": ("graph", lambda p: p.mkdir() or p, r": is a folder, not a regular file"),
    "a 1 GiB + 1 byte file": (
        "graph", lambda p: sparse(p, (1 << 30) + 1),
        r": 1073741825 bytes, more than Limits\.max_file_bytes = 1073741824"),
    "char-rnn hidden [8000]": (
        "charrnn", lambda p: charrnn_file(p, [8000]),
        r"tensor 'layer1/W' is float32\[4, 32\], the configuration implies "
        r"float32\[4, 32000\]"),
    "char-rnn hidden [1000000]": (
        "charrnn", lambda p: charrnn_file(p, [1_000_000]),
        r"config\.hidden\[0\]: expected an integer in \[1, 65536\], got 1000000 "
        r"\(Limits\.max_layer_size"),
    "char-rnn dropout true": (
        "charrnn", lambda p: charrnn_file(p, [8], dropout=True),
        r"config\.dropout: expected a number in \[0, 1\), got true"),
    "char-rnn unsorted vocabulary": (
        "charrnn", lambda p: charrnn_file(p, [8], vocabulary="cba\n"),
        r"config\.vocabulary: expected distinct characters in sorted order"),
    "recurrent hidden [8000]": (
        "recurrent", lambda p: recurrent_file(p, hidden=[8000]),
        r"tensor 'layer1/W' is float64\[3, 16\], the configuration implies "
        r"float64\[3, 32000\]"),
    "recurrent n_inputs 3.0": (
        "recurrent", lambda p: recurrent_file(p, n_inputs=3.0),
        r"config\.n_inputs: expected an integer in \[1, 65536\], got 3\.0"),
    "recurrent unknown key": (
        "recurrent", lambda p: recurrent_file(p, nb_outputs=10**7),
        r"config: unknown key 'nb_outputs'"),
}


def load_as(kind: str, path: Path):
    """Load ``path`` the way the probe does (the schema check first for the models)."""
    if kind == "graph":
        return dagnet.load(path)
    file_format, check, cls = {
        "recurrent": ("dagnet-recurrent", check_recurrent_config, RecurrentNetwork),
        "charrnn": ("dagnet-charrnn", check_charrnn_config, CharRNN)}[kind]
    content = read_model_file(path, file_format, 1, kind)
    check(path, content.config, content.weights)
    return cls.load(path)


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_a_crafted_file_is_refused_in_one_line_naming_file_and_key(tmp_path, name):
    kind, build, message = CRAFTED[name]
    path = build(tmp_path / "model.safetensors")
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match=message) as info:
        load_as(kind, path)
    assert time.perf_counter() - start < 5
    text = str(info.value)
    assert text.startswith(str(path) + ": ") and "\n" not in text and len(text) < 400


def test_the_crafted_model_files_are_small(tmp_path):
    for name, (_, build, _) in CRAFTED.items():
        path = build(tmp_path / name.replace(" ", "_").replace("/", "_"))
        if path.is_file() and not path.is_symlink() and name != "a 1 GiB + 1 byte file":
            assert path.stat().st_size < 1 << 20, name


# -- what users with big models do -------------------------------------------------------

def test_a_limit_can_be_raised_for_a_model_that_needs_it(tmp_path):
    path = dagnet.save(unstack_graph(1500), tmp_path / "long.safetensors")
    with pytest.raises(ModelFileError, match=r"got 1500 \(Limits\.max_node_io; raise it"):
        dagnet.load(path)
    graph = dagnet.load(path, limits=Limits(max_node_io=2048))
    x = np.arange(1500 * 2.0).reshape(1500, 1, 2)
    np.testing.assert_array_equal(graph.propagate([x])[0], x)
    with pytest.raises(ModelFileError, match=r"more than Limits\.max_file_bytes = 100;"):
        dagnet.load(path, limits=Limits(max_file_bytes=100))


def test_limits_must_be_positive_integers():
    with pytest.raises(ValueError, match=r"Limits\.max_nodes must be a positive integer"):
        Limits(max_nodes=0)
    with pytest.raises(ValueError, match=r"Limits\.max_json_depth"):
        Limits(max_json_depth=True)


def test_an_honest_graph_of_eleven_thousand_nodes_loads(tmp_path):
    path = chain(tmp_path / "chain.safetensors", 11_000)
    assert path.stat().st_size < 1 << 20
    graph = dagnet.load(path)
    (y,) = graph.propagate([np.full((2, 3), 0.5)])
    assert y.shape == (2, 3) and np.all((0 < y) & (y < 0.5))


# -- the schema tables agree with the nodes and the models -------------------------------

@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_node_type_passes_its_schema_and_comes_back_the_same(tmp_path, case):
    inputs = [dagnet.InputNode(name=f"x{i}") for i in range(len(case.inputs(
        np.random.default_rng(0), 3, 4)))]
    node = case.make(inputs)
    graph = dagnet.Graph(None, inputs, [(node, k) for k in range(node.nb_outputs)])
    loaded = dagnet.load(dagnet.save(graph, tmp_path / "m.safetensors"))
    (twin,) = [n for n in loaded.nodes if type(n) is type(node)]
    assert twin.nb_outputs == node.nb_outputs and twin.config() == node.config()
    assert len(twin.parents) == len(node.parents)


def test_every_node_type_declares_its_config_keys():
    for name, cls in dagnet.NODE_TYPES.items():
        if cls.__module__.startswith("dagnet."):
            keys = set(inspect.signature(cls.__init__).parameters) - {
                "self", "parents", "name", "value", "w", "nb_outputs", "rng"}  # rng: not saved
            assert keys <= set(cls.config_schema), (name, keys)


@pytest.mark.parametrize("cell", sorted(rnn.CELL_TYPES))
@pytest.mark.parametrize("inputs,fused", [("dense", True), ("indices", True),
                                          ("dense", False)])
def test_every_recurrent_network_passes_its_check(tmp_path, cell, inputs, fused):
    net = RecurrentNetwork(cell, 3, [4, 5], 2, inputs=inputs, fused=fused,
                           dtype=np.float32)
    path = net.save(tmp_path / "rnn.safetensors")
    content = read_model_file(path, RecurrentNetwork.file_format, 1, "recurrent network")
    check_recurrent_config(path, content.config, content.weights)


@pytest.mark.parametrize("cell", sorted(rnn.CELL_TYPES))
@pytest.mark.parametrize("hidden,embedding", [([6], None), ([6, 5, 4], 3)])
def test_every_charrnn_passes_its_check(tmp_path, cell, hidden, embedding):
    net = CharRNN("\n ab", hidden=hidden, cell=cell, embedding=embedding, dropout=0.25)
    path = net.save(tmp_path / "c.safetensors", metadata={"step": 1},
                    extra_tensors={"optimizer/0/m": np.zeros(2, np.float16)})
    content = read_model_file(path, CharRNN.file_format, 1, "char-rnn")
    check_charrnn_config(path, content.config, content.weights)


def _charrnn_content(tmp_path):
    path = CharRNN("\nab", hidden=[4], embedding=2).save(tmp_path / "c.safetensors")
    return path, read_model_file(path, CharRNN.file_format, 1, "char-rnn")


@pytest.mark.parametrize("change,message", [
    (lambda c, w: c.update(hidden=[4, 4, 4, 4]), r"config\.hidden: expected 1 to 3 items"),
    (lambda c, w: c.update(vocabulary="\naab"), r"distinct characters in sorted order"),
    (lambda c, w: c.update(vocabulary=""), r"config\.vocabulary: expected a string of 1"),
    (lambda c, w: c.update(embedding=0), r"config\.embedding: expected an integer in \[1,"),
    (lambda c, w: c.update(dropout=1.0), r"config\.dropout: expected a number in \[0, 1\)"),
    (lambda c, w: c.update(dtype="float16"), r"config\.dtype: expected one of 'float32'"),
    (lambda c, w: c.update(cell="transformer"), r"config\.cell: expected one of 'rnn'"),
    (lambda c, w: c.pop("dropout"), r"config: missing key 'dropout'"),
    (lambda c, w: w.pop("layer1/U"), r"tensor 'layer1/U': the configuration implies it, the "
                                     r"file does not hold it"),
    (lambda c, w: w.update(extra=w["output/b"]), r"tensor 'extra' is not a weight of"),
    (lambda c, w: w.update({"output/b": w["output/b"].astype(np.float64)}),
     r"tensor 'output/b' is float64\[3\], the configuration implies float32\[3\]"),
])
def test_a_wrong_charrnn_configuration_is_refused_before_building(tmp_path, change, message):
    path, content = _charrnn_content(tmp_path)
    change(content.config, content.weights)
    with pytest.raises(ModelFileError, match=message):
        check_charrnn_config(path, content.config, content.weights)


def test_composed_cells_with_symbol_indices_are_refused(tmp_path):
    path = RecurrentNetwork("gru", 3, 4, 3).save(tmp_path / "r.safetensors")
    content = read_model_file(path, RecurrentNetwork.file_format, 1, "recurrent network")
    content.config.update(fused=False, inputs="indices")
    with pytest.raises(ModelFileError, match=r"config\.fused: composed cells"):
        check_recurrent_config(path, content.config, content.weights)
    content.config.update(fused=True, hidden=list(range(1, 70)))
    with pytest.raises(ModelFileError, match=r"expected 1 to 64 items, got 69 \(Limits\."
                                             r"max_layers\)"):
        check_recurrent_config(path, content.config, content.weights)


def test_the_charrnn_check_is_fast_even_for_a_huge_claim(tmp_path):
    path = charrnn_file(tmp_path / "c.safetensors", [65_536, 65_536, 65_536])
    content = read_model_file(path, CharRNN.file_format, 1, "char-rnn")
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ModelFileError, match=r"tensor 'layer1/W'"):
            check_charrnn_config(path, content.config, content.weights)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 0.5 and peak < 1 << 20


# -- the bounded reader ------------------------------------------------------------------

def test_json_depth_ignores_brackets_inside_strings():
    assert json_depth(b'{"a": [1, {"b": "[[[[{{"}], "c": "\\"]]"}') == 3
    assert json_depth("[]" * 10) == 1 and json_depth("") == 0
    assert json_depth("[" * 3_000_000) == 3_000_000


def _reference_depth(value) -> int:
    if isinstance(value, (list, dict)):
        items = value.values() if isinstance(value, dict) else value
        return 1 + max((_reference_depth(item) for item in items), default=0)
    return 0


_NASTY_TEXT = st.text(alphabet='[]{}"\\ aé\n', max_size=8)
_JSON_VALUES = st.recursive(st.none() | st.integers() | _NASTY_TEXT,
                            lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(_NASTY_TEXT, inner, max_size=3), max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(value=_JSON_VALUES, chunk=st.sampled_from([3, 7, 1 << 20]), ascii=st.booleans())
def test_json_depth_is_the_depth_of_any_json_whatever_the_chunks(value, chunk, ascii):
    text = json.dumps(value, ensure_ascii=ascii)
    original = dagnet.io._CHUNK
    dagnet.io._CHUNK = chunk  # small chunks: the state carried between them is tested
    try:
        assert json_depth(text) == _reference_depth(value)
    finally:
        dagnet.io._CHUNK = original


@pytest.mark.parametrize("text", [b'"' + b'\\"' * 500_000, b'"' + b"\\" * 1_000_000,
                                  b'"[' * 500_000], ids=["escaped quotes", "backslashes",
                                                         "open strings"])
def test_json_depth_takes_linear_time_on_a_megabyte_of_tricks(text):
    start = time.perf_counter()
    json_depth(text)
    assert time.perf_counter() - start < 3


def test_a_safetensors_table_with_a_gap_or_an_unknown_dtype_is_refused(tmp_path):
    def craft(table, data=b"\0" * 16):
        header = json.dumps(table).encode()
        path = tmp_path / "t.safetensors"
        path.write_bytes(struct.pack("<Q", len(header)) + header + data)
        return path

    gap = {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
           "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}
    with pytest.raises(ModelFileError, match=r"header\['b'\]\.data_offsets: tensors must "
                                             r"follow each other.*expected 4, got 8"):
        dagnet.io.read_safetensors(craft(gap))
    with pytest.raises(ModelFileError, match=r"dtype: unknown dtype 'BF16'"):
        dagnet.io.read_safetensors(craft({"a": {"dtype": "BF16", "shape": [8],
                                                "data_offsets": [0, 16]}}))
    with pytest.raises(ModelFileError, match=r"the tensors take 8 bytes, the file holds 16"):
        dagnet.io.read_safetensors(craft({"a": {"dtype": "U8", "shape": [8],
                                                "data_offsets": [0, 8]}}))
    tensors, _ = dagnet.io.read_safetensors(craft({"a": {"dtype": "I16", "shape": [2, 4],
                                                         "data_offsets": [0, 16]}}))
    assert tensors["a"].dtype == np.int16 and tensors["a"].shape == (2, 4)


def test_reading_costs_the_tensors_and_not_twice_the_file(tmp_path):
    graph = dagnet.fully_connected([512], 1024, rng=np.random.default_rng(0))
    path = dagnet.save(graph, tmp_path / "big.safetensors")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        dagnet.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert size > 4 << 20 and peak < 1.25 * size


# -- images and IDX files ----------------------------------------------------------------

def png_header(path: Path, width: int, height: int) -> Path:
    """The first bytes of a grayscale PNG of width x height: enough for Pillow to open it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1) * 8)  # a few rows: the rest would be zeros
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat))
    return path


@pytest.mark.parametrize("side", [12_000, 30_000])
def test_a_huge_image_is_refused_from_its_header(tmp_path, side):
    path = png_header(tmp_path / f"digit{side}.png", side, side)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=rf"digit{side}\.png: .*{side * side}") as info:
            read_digit_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20 and "\n" not in str(info.value)
    if side == 12_000:
        assert "an image of 12000x12000 pixels (144000000), more than " \
               "Limits.max_image_pixels = 16777216" in str(info.value)


def test_the_image_limit_can_be_raised(tmp_path):
    from PIL import Image as image
    pixels = np.zeros((60, 50), np.uint8)
    pixels[10:50, 20:30] = 255
    path = tmp_path / "one.png"
    image.fromarray(pixels).save(path)
    with pytest.raises(DataError, match=r"50x60 pixels \(3000\), more than Limits\."
                                        r"max_image_pixels = 1000"):
        read_digit_image(path, limits=Limits(max_image_pixels=1000))
    assert read_digit_image(path, limits=Limits(max_image_pixels=3000)).shape == (28, 28)


def test_a_big_image_is_reduced_first_and_gives_the_same_digit(tmp_path):
    from PIL import Image as image
    rows, cols = np.mgrid[0:1500, 0:1300]
    zero = np.abs(np.hypot(rows - 700, cols - 650) - 350) < 60
    pixels = np.where(zero, 20, 235).astype(np.uint8)
    image.fromarray(pixels).save(tmp_path / "zero.png")
    reduced = read_digit_image(tmp_path / "zero.png").astype(int)
    full = dagnet.data.mnist.centre_digit(pixels.astype(float)).astype(int)
    assert np.abs(reduced - full).max() <= 16 and np.abs(reduced - full).mean() < 2


def test_an_image_that_is_not_a_regular_file_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"pipe\.png: is a FIFO"):
        read_digit_image(fifo(tmp_path / "pipe.png"))
    with pytest.raises(DataError, match=r"zero\.png: is a character device"):
        read_digit_image(symlink(tmp_path / "zero.png", "/dev/zero"))


def test_an_idx_gzip_bomb_stops_at_the_limit(tmp_path):
    import gzip

    header = b"\x00\x00\x08\x03" + struct.pack(">3I", 100_000, 28, 28)
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(header + b"\0" * (100_000 * 784)))
    assert path.stat().st_size < 1 << 20
    with pytest.raises(DataError, match=r"bomb\.gz: its header declares shape \(100000, 28, "
                                        r"28\) \(78400000 payload bytes\), more than "
                                        r"Limits\.max_data_bytes = 1000000"):
        read_idx(path, limits=Limits(max_data_bytes=10**6))
    with pytest.raises(DataError, match=r"pipe: is a FIFO"):
        read_idx(fifo(tmp_path / "pipe"))


# -- writing: full disks and killed writers ----------------------------------------------

def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = dagnet.save(mlp(), tmp_path / "model.safetensors")
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(dagnet.files.os, "fsync", full)
    with pytest.raises(FileWriteError, match=r"model\.safetensors: cannot write it \(No space "
                                             r"left on device\); free some space") as info:
        dagnet.save(mlp(), path)
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_a_real_write_failure_names_the_file(tmp_path):
    import resource
    if not hasattr(resource, "RLIMIT_FSIZE"):
        pytest.skip("no file size limit here")
    target = tmp_path / "big.bin"
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "from dagnet.files import atomic_write_bytes\n"
        "from dagnet.errors import FileWriteError\n"
        "try:\n"
        f"    atomic_write_bytes({str(target)!r}, bytes(100_000))\n"
        "except FileWriteError as exc:\n"
        "    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert out.stdout.startswith(f"{target}: cannot write it (File too large)"), out
    assert list(tmp_path.iterdir()) == []


def test_the_temporary_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "model.safetensors"
    script = (
        "import os, time\n"
        "import dagnet.files as files\n"
        "files.os.replace = lambda a, b: time.sleep(60)  # killed before the rename\n"
        f"files.atomic_write_bytes({str(target)!r}, b'half a model')\n")
    writer = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob(".model.safetensors.*.tmp")):
            assert time.monotonic() < deadline and writer.poll() is None
            time.sleep(0.05)
        (stale,) = tmp_path.glob(".model.safetensors.*.tmp")
        assert stale.name.startswith(f".model.safetensors.{writer.pid}.")
        assert remove_stale_temporaries(target) == []  # its writer still runs: kept
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    old = tmp_path / ".model.safetensors.abcd1234.tmp"  # before the pid was in the name
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    others = [tmp_path / ".model.safetensors.bak.1.abc.tmp", tmp_path / "model.safetensors.1"]
    for other in others:
        other.write_bytes(b"keep")
    atomic_write_bytes(target, b"whole")
    assert target.read_bytes() == b"whole" and not stale.exists() and not old.exists()
    assert all(other.exists() for other in others)


# -- memory and time, measured in a fresh process ----------------------------------------

def probe(mode: str, request) -> dict:
    out = subprocess.run([sys.executable, "-m", "tests.hostile_probe", mode],
                         input=json.dumps(request), capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_no_crafted_model_file_costs_more_than_300_mb_or_5_s(tmp_path):
    from tests.hostile_probe import sample_models

    requests = [{"kind": kind, "path": str(path), "name": f"normal {kind}"}
                for kind, path in sample_models(tmp_path / "normal").items()]
    for k, (name, (kind, build, _)) in enumerate(sorted(CRAFTED.items())):
        try:
            path = build(tmp_path / f"crafted{k}.safetensors")
        except pytest.skip.Exception:
            continue
        requests.append({"kind": kind, "path": str(path), "name": name})
    honest = chain(tmp_path / "chain.safetensors", 11_000)
    requests.append({"kind": "graph", "path": str(honest), "name": "normal: 11000-node chain"})
    results = probe("files", requests)["results"]
    normal = {r["kind"]: r["peak_growth"] for r in results[:3]}
    print("\ncrafted file: outcome, seconds, peak memory growth over a normal load (MB)")
    for request, result in zip(requests, results):
        extra = (result["peak_growth"] - normal[result["kind"]]) / 1e6
        print(f"  {request['name']}: {result['outcome']}, {result['seconds']:.3f} s, "
              f"{extra:+.1f} MB")
        expected = "loaded" if request["name"].startswith("normal") else "refused"
        assert result["outcome"] == expected, result
        assert result["seconds"] < 5 and extra < 300, result


@pytest.mark.parametrize("error", [ModelFileError, DataError, FileWriteError])
def test_every_new_error_is_a_dagnet_error(error):
    assert issubclass(error, DagnetError)
