"""Model files: weights in safetensors, the configuration as JSON in its metadata.

``save(graph, path)`` writes every node (its type, name, parents and constructor
arguments) in topological order and every parameter as a tensor;
``load(path)`` rebuilds a working Graph without the script that built it.
Loading parses JSON and instantiates only the node types of
``dagnet.nodes.NODE_TYPES``: a model file never runs code.  Writes are atomic.

A model file is untrusted input, so reading checks before it allocates
(limits in ``dagnet.limits.Limits``, every reader takes ``limits=``):

* the file is opened only if it is a regular file no bigger than
  ``max_file_bytes``; its header is read only if it fits ``max_header_bytes``;
* every JSON text (header, configuration, metadata) is scanned for its nesting
  depth before it is parsed, and NaN, infinities and duplicate keys are refused;
* the table of tensors must describe the data exactly (known dtypes, shapes that
  match their byte ranges, no gap, no overlap), and each tensor is read straight
  into its own array: reading costs the size of the tensors, nothing more;
* weights are float32 or float64;
* the configuration is checked against its schema (types, ranges, the sizes it
  implies, the shapes of the tensors actually in the file) before any node or
  layer is built: ``check_graph_spec``, ``check_recurrent_config`` and
  ``check_charrnn_config``.  Errors name the file and the key, e.g.
  ``m.safetensors: config.nodes[3].config.length: expected an integer in
  [1, 1024], got 10000000 (Limits.max_node_io)``.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dagnet.errors import DagnetError, ModelFileError
from dagnet.files import atomic_write_bytes, open_regular_file
from dagnet.graph import Graph
from dagnet.limits import DEFAULT_LIMITS, Limits
from dagnet.node import (
    NODE_TYPES,
    GradientNode,
    InputNode,
    Node,
    ParameterNode,
    parent_nodes,
    post_order,
)
from dagnet.schema import about, integer, json_object, list_of, show

FORMAT = "dagnet"
FORMAT_VERSION = 1

# NumPy dtype -> safetensors dtype name.
_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64",
           "int32": "I32", "int16": "I16", "int8": "I8", "uint64": "U64", "uint32": "U32",
           "uint16": "U16", "uint8": "U8", "bool": "BOOL"}
_NUMPY_DTYPES = {code: np.dtype(name).newbyteorder("<") for name, code in _DTYPES.items()}
# What the weights of a model may hold: every node computes in float32 or float64.
WEIGHT_DTYPES = ("float32", "float64")


def safetensors_bytes(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """The bytes of a safetensors file holding ``tensors`` and string ``metadata``.

    Written here rather than by the safetensors library, whose writer orders the
    metadata by hash: the same model must give the same bytes, run after run.
    Tensors go in name order; the JSON header has sorted keys and is padded with
    spaces to a multiple of 8 bytes, as the format recommends.
    """
    header: dict = {"__metadata__": dict(sorted(metadata.items()))} if metadata else {}
    chunks, offset = [], 0
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        dtype = _DTYPES.get(array.dtype.name)
        if dtype is None:
            raise ValueError(f"tensor {name!r} has dtype {array.dtype}, which a model file "
                             "cannot hold")
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def write_safetensors(path: str | os.PathLike, tensors: dict[str, np.ndarray],
                      metadata: dict[str, str]) -> Path:
    """Atomically write ``tensors`` and string ``metadata`` as a safetensors file."""
    return atomic_write_bytes(path, safetensors_bytes(tensors, metadata))



# -- checking JSON values: every error names the key's path ---------------------------

# -- bounded JSON ----------------------------------------------------------------------

_CHUNK = 1 << 20
_BYTE = {c: ord(c) for c in '[]{}"\\'}


def json_depth(text: bytes | str) -> int:
    """How deeply the arrays and objects of the JSON ``text`` nest, without parsing it.

    Brackets inside strings do not count: a quote opens or closes a string unless an
    odd run of backslashes precedes it.  The scan is vectorized over 1 MB chunks,
    each carrying the state of the one before (open string, depth, trailing
    backslashes): linear time, bounded memory, no recursion.  For broken JSON the
    result may be any number; json.loads refuses such text anyway.
    """
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    data = np.frombuffer(text, dtype=np.uint8)
    depth = deepest = quotes = backslashes = 0
    for start in range(0, len(data), _CHUNK):
        chunk = data[start:start + _CHUNK]
        where = np.arange(len(chunk), dtype=np.int64)
        # Index of the last byte that is not a backslash, up to each position; the
        # backslashes that ended the previous chunk sit just before index 0.
        plain = np.maximum.accumulate(np.where(chunk != _BYTE["\\"], where, -1 - backslashes))
        before = np.concatenate(([-1 - backslashes], plain[:-1]))
        real = (chunk == _BYTE['"']) & ((where - 1 - before) % 2 == 0)
        outside = (np.cumsum(real) + quotes) % 2 == 0
        steps = ((chunk == _BYTE["["]) | (chunk == _BYTE["{"])).astype(np.int64)
        steps -= (chunk == _BYTE["]"]) | (chunk == _BYTE["}"])
        levels = np.cumsum(steps * outside) + depth
        deepest = max(deepest, int(levels.max()))
        depth, quotes = int(levels[-1]), quotes + int(real.sum())
        backslashes = len(chunk) - 1 - int(plain[-1])
    return deepest


def _parse_json(text: bytes | str, where: str, limits: Limits):
    """The JSON value of ``text``; its depth is checked first, NaN, infinities and
    duplicate keys are refused."""
    depth = json_depth(text)
    if depth > limits.max_json_depth:
        raise ModelFileError(f"{where}: JSON nested {depth} levels deep, more than "
                             f"Limits.max_json_depth = {limits.max_json_depth}")
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, object_pairs_hook=_no_duplicate_keys,
                          parse_constant=_no_constant, parse_float=_finite_float)
    except UnicodeDecodeError:
        raise ModelFileError(f"{where}: not JSON (not UTF-8 text)") from None
    except ValueError as exc:  # JSONDecodeError, or one of the hooks below
        raise ModelFileError(f"{where}: not JSON ({exc})") from None


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {show(key)} appears twice in one object")
            seen.add(key)
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is not finite")
    return value


# -- reading safetensors ---------------------------------------------------------------

def read_safetensors(path: str | os.PathLike, limits: Limits | None = None
                     ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and metadata of a safetensors file; ModelFileError naming the file if bad.

    Reads a regular file only, within ``limits`` (see the module docstring); the
    tensors are read one by one into their own arrays.
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    path = Path(path)
    f, size = open_regular_file(path, ModelFileError, "model file")
    with f:
        if size > limits.max_file_bytes:
            raise ModelFileError(f"{path}: {size} bytes, more than Limits.max_file_bytes = "
                                 f"{limits.max_file_bytes}; pass limits=Limits("
                                 "max_file_bytes=...) to read bigger models")
        header, data_bytes = _read_header(f, path, size, limits)
        with about(path):
            metadata = header.pop("__metadata__", {})
            if type(metadata) is not dict or any(type(v) is not str for v in metadata.values()):
                raise ModelFileError("header.__metadata__: expected an object of strings, got "
                                     f"{show(metadata)}")
            table = _tensor_table(header, data_bytes)
        tensors = {name: _read_tensor(f, path, name, dtype, shape)
                   for name, dtype, shape in table}
    return tensors, metadata


def _read_header(f, path: Path, size: int, limits: Limits) -> tuple[dict, int]:
    """The JSON header of an open safetensors file, and how many bytes of tensors follow."""
    if size < 8:
        raise ModelFileError(f"{path}: not a model file (only {size} bytes)")
    (header_size,) = struct.unpack("<Q", f.read(8))
    if header_size > size - 8:
        raise ModelFileError(f"{path}: not a safetensors model file, or truncated (its header "
                             f"claims {header_size} bytes, the file has {size - 8})")
    if header_size > limits.max_header_bytes:
        raise ModelFileError(f"{path}: a header of {header_size} bytes, more than "
                             f"Limits.max_header_bytes = {limits.max_header_bytes}")
    raw = f.read(header_size)
    if len(raw) != header_size:
        raise ModelFileError(f"{path}: truncated while reading its header")
    with about(path):
        header = _parse_json(raw, "header", limits)
        if type(header) is not dict:
            raise ModelFileError(f"header: expected a JSON object, got {show(header)}")
    return header, size - 8 - header_size


def _tensor_table(header: dict, data_bytes: int) -> list[tuple[str, np.dtype, tuple]]:
    """(name, dtype, shape) of every tensor in file order, once the header's table is
    known to describe the ``data_bytes`` after it exactly: no gap, no overlap."""
    entries = []
    for name, entry in header.items():
        where = f"header[{show(name)}]"
        json_object(entry, where, {"dtype", "shape", "data_offsets"})
        code = entry["dtype"]
        if type(code) is not str or code not in _NUMPY_DTYPES:
            raise ModelFileError(f"{where}.dtype: unknown dtype {show(code)} (dagnet reads "
                                 f"{', '.join(_NUMPY_DTYPES)})")
        dtype = _NUMPY_DTYPES[code]
        dims = list_of(entry["shape"], f"{where}.shape", 0, 32)
        shape = tuple(integer(d, f"{where}.shape[{i}]", 0) for i, d in enumerate(dims))
        offsets = list_of(entry["data_offsets"], f"{where}.data_offsets", 2, 2)
        begin, end = (integer(o, f"{where}.data_offsets[{i}]", 0)
                      for i, o in enumerate(offsets))
        if begin > end:
            raise ModelFileError(f"{where}.data_offsets: [{begin}, {end}] ends before it "
                                 "starts")
        if end > data_bytes:
            raise ModelFileError(f"{where}.data_offsets: bytes {begin} to {end} of the tensor "
                                 f"data, the file holds {data_bytes} after its header "
                                 "(truncated?)")
        nbytes = math.prod(shape) * dtype.itemsize
        if math.prod(max(d, 1) for d in shape) * dtype.itemsize > 1 << 62 or (
                nbytes != end - begin):
            raise ModelFileError(f"{where}: shape {list(shape)} of {code} needs {nbytes} bytes, "
                                 f"its data_offsets [{begin}, {end}] hold {end - begin}")
        entries.append((begin, end, name, dtype, shape))
    entries.sort(key=lambda e: e[:3])
    position = 0
    for begin, end, name, _, _ in entries:
        if begin != position:
            raise ModelFileError(f"header[{show(name)}].data_offsets: tensors must follow "
                                 f"each other without gap or overlap; expected {position}, "
                                 f"got {begin}")
        position = end
    if position != data_bytes:
        raise ModelFileError(f"header: the tensors take {position} bytes, the file holds "
                             f"{data_bytes} after its header (truncated, or trailing bytes)")
    return [(name, dtype, shape) for _, _, name, dtype, shape in entries]


def _read_tensor(f, path: Path, name: str, dtype: np.dtype, shape: tuple) -> np.ndarray:
    """The next ``dtype`` tensor of ``shape`` in ``f``, read into its own array."""
    array = np.empty(shape, dtype)
    view = array.reshape(-1).view(np.uint8)
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            raise ModelFileError(f"{path}: truncated while reading tensor {name!r} (the file "
                                 "shrank while it was read)")
        got += n
    return array if dtype.isnative else array.astype(dtype.newbyteorder("="))


# -- model files -----------------------------------------------------------------------

@dataclass
class ModelFile:
    """A model file's content: the JSON configuration and metadata, the weights by name,
    and the extra tensors (preprocessing, optimizer state...) by name."""

    config: dict
    metadata: dict
    weights: dict[str, np.ndarray]
    extra_tensors: dict[str, np.ndarray]
    file_format: str | None = None
    format_version: str | None = None


def write_model_file(path: str | os.PathLike, file_format: str, version: int, config: dict,
                     weights: dict[str, np.ndarray], metadata: dict | None = None,
                     extra_tensors: dict[str, np.ndarray] | None = None) -> Path:
    """Atomically write a model file: ``config`` and ``metadata`` as JSON in the header,
    ``weights`` and ``extra_tensors`` (kept apart under ``extra/``) as tensors."""
    tensors = dict(weights)
    for key, value in (extra_tensors or {}).items():
        tensors[f"extra/{key}"] = np.asarray(value)
    header = {"format": file_format, "format_version": str(version),
              "config": json.dumps(config, sort_keys=True),
              "metadata": json.dumps(metadata or {}, sort_keys=True)}
    return write_safetensors(path, tensors, header)


def read_model_file(path: str | os.PathLike, file_format: str | None, version: int | None,
                    what: str = "dagnet model", limits: Limits | None = None) -> ModelFile:
    """The content of a model file of ``file_format`` (None: any), its version checked
    (None: any), its weights float32 or float64; the configuration is JSON, not yet
    checked against its schema.

    ``what`` names the kind of model in the errors ("dagnet model", "recurrent network").
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    tensors, header = read_safetensors(path, limits)
    if file_format is None and type(header.get("format")) is not str:
        raise ModelFileError(f"{path}: not a dagnet model (no 'format' in its metadata)")
    if file_format is not None and header.get("format") != file_format:
        raise ModelFileError(f"{path}: not a {what} (no 'format: {file_format}' in its "
                             "metadata)")
    if version is not None and header.get("format_version") != str(version):
        raise ModelFileError(f"{path}: {what} format version "
                             f"{show(header.get('format_version'))}; this dagnet reads "
                             f"version {version}")
    with about(path):
        json_object(header, "header.__metadata__", {"format", "format_version", "config"},
                {"metadata"})
        config = _parse_json(header["config"], "config", limits)
        metadata = _parse_json(header.get("metadata", "{}"), "metadata", limits)
        for where, value in (("config", config), ("metadata", metadata)):
            if type(value) is not dict:
                raise ModelFileError(f"{where}: expected a JSON object, got {show(value)}")
        weights = {k: v for k, v in tensors.items() if not k.startswith("extra/")}
        for name, w in weights.items():
            if w.dtype.name not in WEIGHT_DTYPES:
                raise ModelFileError(f"tensor {name!r} holds {w.dtype} values; the weights "
                                     f"of a model are {' or '.join(WEIGHT_DTYPES)}")
    return ModelFile(config, metadata, weights,
                     {k[len("extra/"):]: v for k, v in tensors.items()
                      if k.startswith("extra/")},
                     header["format"], header["format_version"])


def assign_weights(path: str | os.PathLike, parameter_nodes: Sequence[ParameterNode],
                   weights: dict[str, np.ndarray]) -> None:
    """Give each parameter the tensor of its name from a model file; ModelFileError naming
    the file and the tensor when one is missing or of another shape or dtype."""
    for node in parameter_nodes:
        w = weights.get(node.name)
        if w is None or w.shape != node.w.shape or w.dtype != node.w.dtype:
            got = "missing" if w is None else f"{w.dtype}{list(w.shape)}"
            raise ModelFileError(f"{path}: tensor {node.name!r} should be "
                                 f"{node.w.dtype}{list(node.w.shape)}, got {got}")
        node.w = np.array(w)


# -- graphs ----------------------------------------------------------------------------

def tensor_names(parameter_nodes: Sequence[ParameterNode]) -> dict[ParameterNode, str]:
    """One tensor name per parameter: its node name (``layer1/W``) where that is unique and
    not reserved, else ``parameters/<k>``."""
    counts: dict[str | None, int] = {}
    for node in parameter_nodes:
        counts[node.name] = counts.get(node.name, 0) + 1
    return {node: node.name if (node.name and counts[node.name] == 1
                                and not node.name.startswith(("extra/", "parameters/")))
            else f"parameters/{k}" for k, node in enumerate(parameter_nodes)}


def graph_spec(graph: Graph) -> tuple[dict, dict[str, np.ndarray]]:
    """The JSON description of ``graph`` and its parameters keyed by tensor name."""
    roots = graph.nodes + graph.parameter_nodes
    order = [n for n in post_order(roots, parent_nodes) if n is not graph.gradient_node]
    index = {node: k for k, node in enumerate(order)}
    tensors: dict[str, np.ndarray] = {}
    names = tensor_names([node for node in order if isinstance(node, ParameterNode)])
    nodes = []
    for node in order:
        type_name = type(node).__name__
        if NODE_TYPES.get(type_name) is not type(node) or isinstance(node, GradientNode):
            raise DagnetError(f"cannot save {node.describe()}: {type_name} is not a node type "
                              "a model file holds (decorate its class with "
                              "@dagnet.register_node; a GradientNode is attached by Graph, "
                              "never saved)")
        entry = {"type": type_name, "name": node.name,
                 "parents": [[index[p], i] for p, i in node.parents],
                 "config": node.config()}
        if isinstance(node, ParameterNode):
            entry["tensor"] = names[node]
            tensors[entry["tensor"]] = node.w
        state = node.state_arrays()
        if state:  # running statistics: tensors of their own, not weights
            entry["state"] = {key: f"state/{index[node]}/{key}" for key in state}
            tensors.update({entry["state"][key]: value for key, value in state.items()})
        nodes.append(entry)
    spec = {
        "nodes": nodes,
        "inputs": [index[n] for n in graph.input_nodes],
        "outputs": [[index[n], i] for n, i in graph.output_nodes],
        "expected_outputs": [index[n] for n in graph.expected_output_nodes],
        "cost": None if graph.cost_node is None else index[graph.cost_node],
        "parameters": [index[n] for n in graph.parameter_nodes],
    }
    return spec, tensors


def save(graph: Graph, path: str | os.PathLike, metadata: dict | None = None,
         extra_tensors: dict[str, np.ndarray] | None = None) -> Path:
    """Write ``graph`` (architecture and weights) to ``path`` atomically.

    ``metadata`` (JSON-ready) and ``extra_tensors`` (say, the preprocessing mean
    or optimizer state) travel with it and come back as ``graph.metadata`` and
    ``graph.extra_tensors`` after ``load``.
    """
    spec, tensors = graph_spec(graph)
    return write_model_file(path, FORMAT, FORMAT_VERSION, spec, tensors, metadata,
                            extra_tensors)


def load(path: str | os.PathLike, limits: Limits | None = None,
         graph_class: type[Graph] = Graph) -> Graph:
    """Rebuild the Graph saved in ``path`` (as ``graph_class``, a Graph subclass); raises
    ModelFileError naming the file if bad.

    The description is checked whole (``check_graph_spec``) before the first node
    is built; ``limits`` (default ``Limits()``) bounds what the file may claim.
    """
    path = Path(path)
    content = read_model_file(path, FORMAT, FORMAT_VERSION, "dagnet model", limits)
    return graph_from_content(path, content, graph_class, limits)


def graph_from_content(path: Path, content: ModelFile, graph_class: type[Graph] = Graph,
                       limits: Limits | None = None) -> Graph:
    """The Graph a model file's ``content`` describes, checked first (see ``load``)."""
    check_graph_spec(path, content.config, content.weights, limits)
    try:
        graph = _build(content.config, content.weights, graph_class)
    except DagnetError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        # Not reached by a file check_graph_spec accepts; kept as a last line of defence.
        raise ModelFileError(f"{path}: corrupt model description ({type(exc).__name__}: "
                             f"{exc})") from None
    graph.metadata = content.metadata
    graph.extra_tensors = content.extra_tensors
    return graph


def check_graph_spec(path: str | os.PathLike, spec: dict, weights: dict[str, np.ndarray],
                     limits: Limits | None = None) -> None:
    """Check a graph's description (``config`` of a dagnet model file) before it is built.

    Every node: a known type (no GradientNode), a string name or null, parents that
    come before it with as many inputs as its type reads and existing output
    indices, exactly the config keys its type saves (types and ranges checked),
    for a ParameterNode a weight tensor of its own.  The graph: every weight used,
    inputs and expected outputs are distinct InputNodes, parameters distinct
    ParameterNodes, outputs and cost existing nodes, the counts within ``limits``.
    ModelFileError names ``path`` and the key (``config.nodes[3].parents[0]``).
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    with about(path):
        json_object(spec, "config", {"nodes", "inputs", "outputs", "expected_outputs", "cost",
                                 "parameters"})
        entries = list_of(spec["nodes"], "config.nodes", 1, limits.max_nodes, "max_nodes")
        outputs: list[int] = []
        owners: dict[str, int] = {}
        for k, entry in enumerate(entries):
            outputs.append(_check_node(entry, k, outputs, weights, owners, limits))
        if sum(outputs) > limits.max_nodes:
            raise ModelFileError(f"config.nodes: {sum(outputs)} node outputs in all, more "
                                 f"than Limits.max_nodes = {limits.max_nodes}")
        unused = sorted(weights.keys() - owners.keys())
        if unused:
            raise ModelFileError(f"tensor {unused[0]!r} is the weight of no ParameterNode")
        _check_graph_ends(spec, [entry["type"] for entry in entries], outputs, limits)


def _check_node(entry, k: int, outputs: list[int], weights: dict[str, np.ndarray],
                owners: dict[str, int], limits: Limits) -> int:
    """Check node ``k`` of a graph description; its number of outputs."""
    where = f"config.nodes[{k}]"
    type_name = json_object(entry, where, {"type"},
                            {"name", "parents", "config", "tensor", "state"})["type"]
    if type_name == "GradientNode":
        raise ModelFileError(f"{where}.type: a GradientNode is attached to the cost by Graph; "
                             "a model file does not hold one")
    if type(type_name) is not str or type_name not in NODE_TYPES:
        raise ModelFileError(f"{where}.type: unknown type {show(type_name)} (a node type "
                             "is registered with @dagnet.register_node)")
    cls = NODE_TYPES[type_name]
    is_parameter = type_name == "ParameterNode"
    json_object(entry, where, {"type", "name", "parents", "config"} | ({"tensor"} if is_parameter
                                                                    else set()), {"state"})
    if entry["name"] is not None and type(entry["name"]) is not str:
        raise ModelFileError(f"{where}.name: expected a string or null, got "
                             f"{show(entry['name'])}")
    _check_parents(entry["parents"], f"{where}.parents", cls, k, outputs, limits)
    config = json_object(entry["config"], f"{where}.config", set(cls.config_schema))
    for key, check in cls.config_schema.items():
        check(config[key], f"{where}.config.{key}", limits)
    cls.check_config(config, f"{where}.config")
    if is_parameter:
        tensor = entry["tensor"]
        if type(tensor) is not str or tensor not in weights:
            raise ModelFileError(f"{where}.tensor: the ParameterNode {show(entry['name'])} "
                                 f"has no tensor {show(tensor)} in the file")
        if tensor in owners:
            raise ModelFileError(f"{where}.tensor: tensor {tensor!r} is already the weight of "
                                 f"node {owners[tensor]}")
        owners[tensor] = k
    for key, tensor in json_object(entry.get("state", {}), f"{where}.state",
                                   set(entry.get("state", {}))).items():
        if type(tensor) is not str or tensor not in weights or tensor in owners:
            raise ModelFileError(f"{where}.state.{key}: no tensor {show(tensor)} of its own in "
                                 "the file")
        owners[tensor] = k
    return cls.outputs_for(config)


def _check_parents(parents, where: str, cls: type[Node], k: int, outputs: list[int],
                   limits: Limits) -> None:
    list_of(parents, where, 0, limits.max_node_io, "max_node_io")
    for i, pair in enumerate(parents):
        parent, i_output = list_of(pair, f"{where}[{i}]", 2, 2)
        if type(parent) is not int or not 0 <= parent < k:
            raise ModelFileError(f"{where}[{i}][0]: node {k} reads node {show(parent)}, which "
                                 "does not come before it")
        _output_index(i_output, f"{where}[{i}][1]", parent, outputs)
    wanted = cls.n_inputs
    if wanted is None:
        bad, count = not parents, "one or more"
    else:
        counts = (wanted,) if isinstance(wanted, int) else tuple(wanted)
        bad, count = len(parents) not in counts, " or ".join(map(str, counts))
    if bad:
        raise ModelFileError(f"{where}: a {cls.__name__} reads {count} input(s), got "
                             f"{len(parents)}")


def _output_index(value, where: str, k: int, outputs: list[int]) -> int:
    if type(value) is not int or not 0 <= value < outputs[k]:
        raise ModelFileError(f"{where}: node {k} has {outputs[k]} output(s), numbered from 0; "
                             f"got {show(value)}")
    return value


def _check_graph_ends(spec: dict, types: list[str], outputs: list[int], limits: Limits
                      ) -> None:
    """Check the inputs, outputs, expected outputs, cost and parameters of a graph."""
    def node(value, where: str, kind: str | None = None) -> int:
        if type(value) is not int or not 0 <= value < len(types):
            raise ModelFileError(f"{where}: the graph refers to node {show(value)}, which "
                                 f"does not exist (it has {len(types)} nodes)")
        if kind is not None and types[value] != kind:
            raise ModelFileError(f"{where}: node {value} is a {types[value]}, not a {kind}")
        return value

    for key, kind, high, option in (
            ("inputs", "InputNode", limits.max_node_io, "max_node_io"),
            ("expected_outputs", "InputNode", limits.max_node_io, "max_node_io"),
            ("parameters", "ParameterNode", limits.max_nodes, "max_nodes")):
        where = f"config.{key}"
        seen: set[int] = set()
        for i, value in enumerate(list_of(spec[key], where, 0, high, option)):
            if node(value, f"{where}[{i}]", kind) in seen:
                raise ModelFileError(f"{where}: node {value} is listed twice")
            seen.add(value)
    pairs = list_of(spec["outputs"], "config.outputs", 0, limits.max_node_io, "max_node_io")
    for i, pair in enumerate(pairs):
        k, i_output = list_of(pair, f"config.outputs[{i}]", 2, 2)
        _output_index(i_output, f"config.outputs[{i}][1]", node(k, f"config.outputs[{i}][0]"),
                      outputs)
    if spec["cost"] is not None:
        node(spec["cost"], "config.cost")


def _build(spec: dict, weights: dict[str, np.ndarray], graph_class: type[Graph] = Graph
           ) -> Graph:
    """The Graph of a description ``check_graph_spec`` accepted."""
    built: list[Node] = []
    for entry in spec["nodes"]:
        cls, name = NODE_TYPES[entry["type"]], entry["name"]
        if cls is ParameterNode:
            node = ParameterNode(weights[entry["tensor"]], name=name)
        elif cls is InputNode:
            node = InputNode(name=name)
        else:
            parents = [(built[parent], i_output) for parent, i_output in entry["parents"]]
            node = cls(parents, **entry["config"], name=name)
            node.load_state_arrays({key: weights[tensor]
                                    for key, tensor in entry.get("state", {}).items()})
        built.append(node)
    cost = spec["cost"]
    return graph_class(built, [built[k] for k in spec["inputs"]],
                 [(built[k], i) for k, i in spec["outputs"]],
                 [built[k] for k in spec["expected_outputs"]],
                 None if cost is None else built[cost],
                 [built[k] for k in spec["parameters"]])
