"""Model files: round trips, metadata, atomic writes, and clear errors on bad files."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import dagnet
from dagnet import ModelFileError, fully_connected
from dagnet.io import read_safetensors, write_safetensors


@pytest.mark.parametrize("formulation", ["affine", "tutorial"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_gives_the_same_function(tmp_path, rng, formulation, dtype):
    graph = fully_connected([6, 3], 4, "relu", "softmax", rng=rng, dtype=dtype,
                            formulation=formulation)
    X = rng.standard_normal((5, 4)).astype(dtype)
    Y = np.eye(3, dtype=dtype)[[0, 1, 2, 0, 1]]
    (before,) = graph.propagate([X])
    cost_before = graph.backpropagate([Y])
    path = dagnet.save(graph, tmp_path / "model.safetensors")
    loaded = dagnet.load(path)
    (after,) = loaded.propagate([X])
    np.testing.assert_array_equal(before, after)
    assert after.dtype == dtype
    assert loaded.backpropagate([Y]) == cost_before
    assert [p.name for p in loaded.parameter_nodes] == [p.name for p in graph.parameter_nodes]
    assert sorted(type(n).__name__ for n in loaded.nodes) == sorted(
        type(n).__name__ for n in graph.nodes)


def test_every_configurable_node_survives_a_round_trip(tmp_path):
    X = dagnet.InputNode(name="X")
    split = dagnet.SplitNode([X], [2, 3], name="split")
    sel = dagnet.SelectionNode([(split, 1)], 1, 3, name="sel")
    scaled = dagnet.ScalarMultiplicationNode([sel], 0.25, name="scaled")
    both = dagnet.ConcatenationNode([(split, 0), scaled])
    graph = dagnet.Graph(None, [X], [both])
    x = np.arange(10.0).reshape(2, 5)
    loaded = dagnet.load(dagnet.save(graph, tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(loaded.propagate([x])[0], graph.propagate([x])[0])
    names = {n.name: n for n in loaded.nodes}
    assert names["split"].sizes == [2, 3] and names["scaled"].scalar == 0.25


def test_metadata_and_extra_tensors_travel_with_the_model(tmp_path, rng):
    graph = fully_connected([2], 3, rng=rng)
    mean = rng.standard_normal(3)
    path = dagnet.save(graph, tmp_path / "m.safetensors", metadata={"mean_of": "train"},
                       extra_tensors={"preprocessing/mean": mean})
    loaded = dagnet.load(path)
    assert loaded.metadata == {"mean_of": "train"}
    np.testing.assert_array_equal(loaded.extra_tensors["preprocessing/mean"], mean)


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path, rng):
    graph = fully_connected([2], 3, rng=rng)
    path = tmp_path / "m.safetensors"
    dagnet.save(graph, path)
    first = path.read_bytes()
    graph.parameter_nodes[0].w += 1
    dagnet.save(graph, path)  # replaces the old file in one step
    assert path.read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_truncated_file_is_named(tmp_path, rng):
    path = dagnet.save(fully_connected([2], 3, rng=rng), tmp_path / "m.safetensors")
    data = path.read_bytes()
    for cut in (0, 5, 40, len(data) - 3):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match=str(bad.name)):
            dagnet.load(bad)


def test_garbage_missing_and_foreign_files(tmp_path):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(ModelFileError, match="garbage.bin.*not JSON"):
        dagnet.load(garbage)
    with pytest.raises(ModelFileError, match="no such model file"):
        dagnet.load(tmp_path / "absent.safetensors")
    foreign = write_safetensors(tmp_path / "foreign.safetensors", {"w": np.ones(2)}, {})
    with pytest.raises(ModelFileError, match="not a dagnet model"):
        dagnet.load(foreign)


def _rewrite_spec(path, change):
    tensors, header = read_safetensors(path)
    spec = json.loads(header["config"])
    change(spec)
    header["config"] = json.dumps(spec)
    write_safetensors(path, tensors, header)


@pytest.mark.parametrize("change,message", [
    (lambda s: s["nodes"][2].update(type="os.system"), "unknown type 'os.system'"),
    (lambda s: s["nodes"][-1].update(parents=[[99, 0]]), "does not come before it"),
    (lambda s: s["nodes"][-1].update(config={"evil": "__import__('os')"}),
     "unknown key 'evil'"),
    (lambda s: s.update(inputs=[1000]), "does not exist"),
    (lambda s: s["nodes"].__setitem__(1, {"type": "ParameterNode", "name": "W", "parents": [],
                                          "config": {}, "tensor": "parameters/77"}),
     "has no tensor"),
])
def test_a_tampered_description_is_refused_without_running_anything(tmp_path, rng, change,
                                                                     message):
    path = dagnet.save(fully_connected([2], 3, rng=rng), tmp_path / "m.safetensors")
    _rewrite_spec(path, change)
    with pytest.raises(ModelFileError, match=message):
        dagnet.load(path)


def test_header_size_larger_than_file(tmp_path):
    bad = tmp_path / "huge.safetensors"
    bad.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(ModelFileError, match="huge.safetensors.*truncated"):
        dagnet.load(bad)


def test_the_same_model_gives_the_same_bytes(tmp_path):
    def build():
        return fully_connected([4, 2], 3, rng=np.random.default_rng(5))

    first = dagnet.save(build(), tmp_path / "a.safetensors",
                        metadata={"b": 1, "a": [2, 3]}, extra_tensors={"z": np.ones(2),
                                                                       "m": np.zeros(3)})
    second = dagnet.save(build(), tmp_path / "b.safetensors",
                         metadata={"a": [2, 3], "b": 1}, extra_tensors={"m": np.zeros(3),
                                                                        "z": np.ones(2)})
    assert first.read_bytes() == second.read_bytes()


def test_files_are_standard_safetensors(tmp_path, rng):
    from safetensors import safe_open

    graph = fully_connected([3], 2, rng=rng, dtype=np.float32)
    path = dagnet.save(graph, tmp_path / "m.safetensors")
    with safe_open(str(path), framework="np") as f:
        assert f.metadata()["format"] == "dagnet"
        np.testing.assert_array_equal(f.get_tensor("layer1/W"), graph.parameter_nodes[0].w)
