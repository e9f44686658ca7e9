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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dagnet.errors import DagnetError, ModelFileError
from dagnet.files import atomic_write_bytes, open_regular_file
from dagnet.graph import Graph
from dagnet.limits import DEFAULT_LIMITS, Limits
from dagnet.node import InputNode, Node, ParameterNode, parent_nodes, post_order
from dagnet.nodes import NODE_TYPES

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

def _show(value) -> str:
    """A JSON value as the file spells it, cut short."""
    if isinstance(value, (bool, int, float, list, dict)) or value is None:
        text = json.dumps(value, ensure_ascii=False)  # true, null: as the file spells them
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _integer(value, where: str, low: int, high: int | None = None,
             option: str | None = None) -> int:
    """``value`` if it is an integer (not a boolean) in [low, high] (high None: no upper
    bound); ``option`` names the Limits field that sets ``high``."""
    if type(value) is not int or value < low or (high is not None and value > high):
        hint = (f" (Limits.{option}; raise it to read bigger models)"
                if option and high is not None and type(value) is int and value > high
                else "")
        wanted = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ModelFileError(f"{where}: expected an integer {wanted}, got "
                             f"{_show(value)}{hint}")
    return value


def _number(value, where: str, low: float, below: float) -> float:
    """``value`` as a float if it is a finite number (not a boolean) in [low, below)."""
    try:
        number = float(value) if type(value) in (int, float) else math.nan
    except OverflowError:  # an integer of hundreds of digits
        number = math.nan
    if not math.isfinite(number) or not low <= number < below:
        wanted = (f"a number in [{low}, {below})" if math.isfinite(low) or math.isfinite(below)
                  else "a finite number")
        raise ModelFileError(f"{where}: expected {wanted}, got {_show(value)}")
    return number


def _choice(value, where: str, choices: Sequence[str]) -> str:
    if type(value) is not str or value not in choices:
        raise ModelFileError(f"{where}: expected one of {', '.join(map(repr, choices))}, got "
                             f"{_show(value)}")
    return value


def _boolean(value, where: str) -> bool:
    if type(value) is not bool:
        raise ModelFileError(f"{where}: expected true or false, got {_show(value)}")
    return value


def _list(value, where: str, low: int, high: int, option: str | None = None) -> list:
    """``value`` if it is a list of ``low`` to ``high`` items."""
    if type(value) is not list:
        raise ModelFileError(f"{where}: expected a list, got {_show(value)}")
    if not low <= len(value) <= high:
        hint = f" (Limits.{option})" if option and len(value) > high else ""
        wanted = f"{low} to {high}" if low < high else str(low)
        raise ModelFileError(f"{where}: expected {wanted} items, got {len(value)}{hint}")
    return value


def _object(value, where: str, required: set[str], optional: set[str] = frozenset()) -> dict:
    """``value`` if it is an object with every key of ``required`` and no unknown key."""
    if type(value) is not dict:
        raise ModelFileError(f"{where}: expected an object, got {_show(value)}")
    missing = sorted(required - value.keys())
    if missing:
        raise ModelFileError(f"{where}: missing key {missing[0]!r}")
    unknown = sorted(value.keys() - required - optional)
    if unknown:
        known = ", ".join(sorted(required | optional)) or "none"
        raise ModelFileError(f"{where}: unknown key {_show(unknown[0])} (expected keys: "
                             f"{known})")
    return value


@contextmanager
def _about(path: str | os.PathLike) -> Iterator[None]:
    """Prefix the errors of the checks inside with the file's name."""
    try:
        yield
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None


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
                raise ValueError(f"the key {_show(key)} appears twice in one object")
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
        with _about(path):
            metadata = header.pop("__metadata__", {})
            if type(metadata) is not dict or any(type(v) is not str for v in metadata.values()):
                raise ModelFileError("header.__metadata__: expected an object of strings, got "
                                     f"{_show(metadata)}")
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
    with _about(path):
        header = _parse_json(raw, "header", limits)
        if type(header) is not dict:
            raise ModelFileError(f"header: expected a JSON object, got {_show(header)}")
    return header, size - 8 - header_size


def _tensor_table(header: dict, data_bytes: int) -> list[tuple[str, np.dtype, tuple]]:
    """(name, dtype, shape) of every tensor in file order, once the header's table is
    known to describe the ``data_bytes`` after it exactly: no gap, no overlap."""
    entries = []
    for name, entry in header.items():
        where = f"header[{_show(name)}]"
        _object(entry, where, {"dtype", "shape", "data_offsets"})
        code = entry["dtype"]
        if type(code) is not str or code not in _NUMPY_DTYPES:
            raise ModelFileError(f"{where}.dtype: unknown dtype {_show(code)} (dagnet reads "
                                 f"{', '.join(_NUMPY_DTYPES)})")
        dtype = _NUMPY_DTYPES[code]
        dims = _list(entry["shape"], f"{where}.shape", 0, 32)
        shape = tuple(_integer(d, f"{where}.shape[{i}]", 0) for i, d in enumerate(dims))
        offsets = _list(entry["data_offsets"], f"{where}.data_offsets", 2, 2)
        begin, end = (_integer(o, f"{where}.data_offsets[{i}]", 0)
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
            raise ModelFileError(f"header[{_show(name)}].data_offsets: tensors must follow "
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


def read_model_file(path: str | os.PathLike, file_format: str, version: int, what: str,
                    limits: Limits | None = None) -> ModelFile:
    """The content of a model file of ``file_format``, its version checked, its weights
    float32 or float64; the configuration is JSON, not yet checked against its schema.

    ``what`` names the kind of model in the errors ("dagnet model", "recurrent network").
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    tensors, header = read_safetensors(path, limits)
    if header.get("format") != file_format:
        raise ModelFileError(f"{path}: not a {what} (no 'format: {file_format}' in its "
                             "metadata)")
    if header.get("format_version") != str(version):
        raise ModelFileError(f"{path}: {what} format version "
                             f"{_show(header.get('format_version'))}; this dagnet reads "
                             f"version {version}")
    with _about(path):
        _object(header, "header.__metadata__", {"format", "format_version", "config"},
                {"metadata"})
        config = _parse_json(header["config"], "config", limits)
        metadata = _parse_json(header.get("metadata", "{}"), "metadata", limits)
        for where, value in (("config", config), ("metadata", metadata)):
            if type(value) is not dict:
                raise ModelFileError(f"{where}: expected a JSON object, got {_show(value)}")
        weights = {k: v for k, v in tensors.items() if not k.startswith("extra/")}
        for name, w in weights.items():
            if w.dtype.name not in WEIGHT_DTYPES:
                raise ModelFileError(f"tensor {name!r} holds {w.dtype} values; the weights "
                                     f"of a model are {' or '.join(WEIGHT_DTYPES)}")
    return ModelFile(config, metadata, weights,
                     {k[len("extra/"):]: v for k, v in tensors.items()
                      if k.startswith("extra/")})


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

def graph_spec(graph: Graph) -> tuple[dict, dict[str, np.ndarray]]:
    """The JSON description of ``graph`` and its parameters keyed by tensor name."""
    roots = graph.nodes + graph.parameter_nodes
    order = [n for n in post_order(roots, parent_nodes) if n is not graph.gradient_node]
    index = {node: k for k, node in enumerate(order)}
    tensors: dict[str, np.ndarray] = {}
    nodes = []
    for node in order:
        type_name = type(node).__name__
        if NODE_TYPES.get(type_name) is not type(node) or type_name not in _NODE_INPUTS:
            raise DagnetError(f"cannot save {node.describe()}: {type_name} is not a node type "
                              "a model file holds (see dagnet.nodes.NODE_TYPES; a "
                              "GradientNode is attached by Graph, never saved)")
        entry = {"type": type_name, "name": node.name,
                 "parents": [[index[p], i] for p, i in node.parents],
                 "config": node.config()}
        if isinstance(node, ParameterNode):
            entry["tensor"] = f"parameters/{len(tensors)}"
            tensors[entry["tensor"]] = node.w
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


def load(path: str | os.PathLike, limits: Limits | None = None) -> Graph:
    """Rebuild the Graph saved in ``path``; raises ModelFileError naming the file if bad.

    The description is checked whole (``check_graph_spec``) before the first node
    is built; ``limits`` (default ``Limits()``) bounds what the file may claim.
    """
    path = Path(path)
    content = read_model_file(path, FORMAT, FORMAT_VERSION, "dagnet model", limits)
    check_graph_spec(path, content.config, content.weights, limits)
    try:
        graph = _build(content.config, content.weights)
    except DagnetError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        # Not reached by a file check_graph_spec accepts; kept as a last line of defence.
        raise ModelFileError(f"{path}: corrupt model description ({type(exc).__name__}: "
                             f"{exc})") from None
    graph.metadata = content.metadata
    graph.extra_tensors = content.extra_tensors
    return graph


# How many inputs each node type a model file may hold reads (None: one or more), and
# the checks of its config() keys.  tests/test_hostile_files.py checks both tables
# against every node type of dagnet.nodes.  GradientNode is absent: Graph attaches it.
_NODE_INPUTS: dict[str, int | None] = {
    "InputNode": 0, "ParameterNode": 0,
    "IdentityNode": 1, "SigmoidNode": 1, "TanhNode": 1, "ReluNode": 1, "SoftmaxNode": 1,
    "AdditionNode": 2, "SubtractionNode": 2, "EWMultiplicationNode": 2,
    "ScalarMultiplicationNode": 1, "SumNode": None, "Norm2Node": 1,
    "MultiplicationNode": 2, "AddBiasNode": 1, "LinearNode": 3,
    "SelectionNode": 1, "ConcatenationNode": None, "SplitNode": 1,
    "SquaredErrorNode": 2, "BinaryCrossEntropyNode": 2, "CategoricalCrossEntropyNode": 2,
    "SoftmaxCrossEntropyNode": 2, "SigmoidBinaryCrossEntropyNode": 2,
    "UnstackNode": 1, "StackNode": None, "SequenceLinearNode": 3, "OneHotLinearNode": 3,
    "MultiplyAddNode": 3, "LSTMStepNode": 2, "GRUStepNode": 3, "LSTMLayerNode": 4,
    "EmbeddingNode": 2,
}
_FIXED_OUTPUTS = {"LSTMStepNode": 2, "LSTMLayerNode": 3}

Check = Callable[[object, str, Limits], object]


def _up_to(low: int, option: str) -> Check:
    """A check: an integer from ``low`` to the Limits field ``option``."""
    def check(value, where: str, limits: Limits) -> int:
        return _integer(value, where, low, getattr(limits, option), option)
    return check


def _block_sizes(value, where: str, limits: Limits) -> list[int]:
    sizes = _list(value, where, 1, limits.max_node_io, "max_node_io")
    return [_up_to(1, "max_layer_size")(s, f"{where}[{i}]", limits)
            for i, s in enumerate(sizes)]


_NODE_CONFIG: dict[str, dict[str, Check]] = {
    "ScalarMultiplicationNode": {"scalar": lambda v, where, _: _number(v, where, -math.inf,
                                                                       math.inf)},
    "UnstackNode": {"length": _up_to(1, "max_node_io")},
    "SelectionNode": {"start": _up_to(0, "max_layer_size"), "end": _up_to(1, "max_layer_size")},
    "SplitNode": {"sizes": _block_sizes},
}


def _node_outputs(type_name: str, config: dict) -> int:
    if type_name == "SplitNode":
        return len(config["sizes"])
    if type_name == "UnstackNode":
        return config["length"]
    return _FIXED_OUTPUTS.get(type_name, 1)


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
    with _about(path):
        _object(spec, "config", {"nodes", "inputs", "outputs", "expected_outputs", "cost",
                                 "parameters"})
        entries = _list(spec["nodes"], "config.nodes", 1, limits.max_nodes, "max_nodes")
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
    type_name = _object(entry, where, {"type"}, {"name", "parents", "config", "tensor"})["type"]
    if type_name == "GradientNode":
        raise ModelFileError(f"{where}.type: a GradientNode is attached to the cost by Graph; "
                             "a model file does not hold one")
    if type(type_name) is not str or type_name not in _NODE_INPUTS:
        raise ModelFileError(f"{where}.type: unknown type {_show(type_name)} (see "
                             "dagnet.nodes.NODE_TYPES)")
    is_parameter = type_name == "ParameterNode"
    _object(entry, where, {"type", "name", "parents", "config"} | ({"tensor"} if is_parameter
                                                                    else set()))
    if entry["name"] is not None and type(entry["name"]) is not str:
        raise ModelFileError(f"{where}.name: expected a string or null, got "
                             f"{_show(entry['name'])}")
    _check_parents(entry["parents"], f"{where}.parents", type_name, k, outputs, limits)
    schema = _NODE_CONFIG.get(type_name, {})
    config = _object(entry["config"], f"{where}.config", set(schema))
    for key, check in schema.items():
        check(config[key], f"{where}.config.{key}", limits)
    if type_name == "SelectionNode" and config["end"] <= config["start"]:
        raise ModelFileError(f"{where}.config: needs start < end, got {config['start']}:"
                             f"{config['end']}")
    if is_parameter:
        tensor = entry["tensor"]
        if type(tensor) is not str or tensor not in weights:
            raise ModelFileError(f"{where}.tensor: the ParameterNode {_show(entry['name'])} "
                                 f"has no tensor {_show(tensor)} in the file")
        if tensor in owners:
            raise ModelFileError(f"{where}.tensor: tensor {tensor!r} is already the weight of "
                                 f"node {owners[tensor]}")
        owners[tensor] = k
    return _node_outputs(type_name, config)


def _check_parents(parents, where: str, type_name: str, k: int, outputs: list[int],
                   limits: Limits) -> None:
    _list(parents, where, 0, limits.max_node_io, "max_node_io")
    for i, pair in enumerate(parents):
        parent, i_output = _list(pair, f"{where}[{i}]", 2, 2)
        if type(parent) is not int or not 0 <= parent < k:
            raise ModelFileError(f"{where}[{i}][0]: node {k} reads node {_show(parent)}, which "
                                 "does not come before it")
        _output_index(i_output, f"{where}[{i}][1]", parent, outputs)
    wanted = _NODE_INPUTS[type_name]
    if (len(parents) != wanted) if wanted is not None else not parents:
        count = "one or more" if wanted is None else str(wanted)
        raise ModelFileError(f"{where}: a {type_name} reads {count} input(s), got "
                             f"{len(parents)}")


def _output_index(value, where: str, k: int, outputs: list[int]) -> int:
    if type(value) is not int or not 0 <= value < outputs[k]:
        raise ModelFileError(f"{where}: node {k} has {outputs[k]} output(s), numbered from 0; "
                             f"got {_show(value)}")
    return value


def _check_graph_ends(spec: dict, types: list[str], outputs: list[int], limits: Limits
                      ) -> None:
    """Check the inputs, outputs, expected outputs, cost and parameters of a graph."""
    def node(value, where: str, kind: str | None = None) -> int:
        if type(value) is not int or not 0 <= value < len(types):
            raise ModelFileError(f"{where}: the graph refers to node {_show(value)}, which "
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
        for i, value in enumerate(_list(spec[key], where, 0, high, option)):
            if node(value, f"{where}[{i}]", kind) in seen:
                raise ModelFileError(f"{where}: node {value} is listed twice")
            seen.add(value)
    pairs = _list(spec["outputs"], "config.outputs", 0, limits.max_node_io, "max_node_io")
    for i, pair in enumerate(pairs):
        k, i_output = _list(pair, f"config.outputs[{i}]", 2, 2)
        _output_index(i_output, f"config.outputs[{i}][1]", node(k, f"config.outputs[{i}][0]"),
                      outputs)
    if spec["cost"] is not None:
        node(spec["cost"], "config.cost")


def _build(spec: dict, weights: dict[str, np.ndarray]) -> Graph:
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
        built.append(node)
    cost = spec["cost"]
    return Graph(built, [built[k] for k in spec["inputs"]],
                 [(built[k], i) for k, i in spec["outputs"]],
                 [built[k] for k in spec["expected_outputs"]],
                 None if cost is None else built[cost],
                 [built[k] for k in spec["parameters"]])


# -- recurrent networks and char-rnn models --------------------------------------------

# Gate blocks of each cell (dagnet.models.rnn.CELL_TYPES: n_blocks), and the layers a
# char-rnn may have (dagnet.models.charrnn.MAX_LAYERS): io sits below the models, so
# they are repeated here; tests/test_hostile_files.py checks that they agree.
CELL_BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}
CHARRNN_MAX_LAYERS = 3


def check_recurrent_config(path: str | os.PathLike, config: dict,
                           weights: dict[str, np.ndarray], limits: Limits | None = None
                           ) -> None:
    """Check a recurrent network's configuration (``RecurrentNetwork.config()``) and its
    weights before the network is built.

    Exactly the keys cell, n_inputs, hidden, n_outputs, inputs, fused, dtype, with
    their types and ranges (sizes up to ``limits.max_layer_size``, up to
    ``limits.max_layers`` layers); then every weight the configuration implies
    (``layer<k>/W, U, b``, ``output/W, b``) must be in ``weights`` with the implied
    shape and dtype, and nothing else.  ModelFileError names ``path`` and the key.
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    with _about(path):
        _object(config, "config", {"cell", "n_inputs", "hidden", "n_outputs", "inputs",
                                   "fused", "dtype"})
        cell = _choice(config["cell"], "config.cell", tuple(CELL_BLOCKS))
        n_inputs = _up_to(1, "max_layer_size")(config["n_inputs"], "config.n_inputs", limits)
        hidden = _hidden(config["hidden"], limits, limits.max_layers, "max_layers")
        n_outputs = _up_to(1, "max_layer_size")(config["n_outputs"], "config.n_outputs",
                                                limits)
        inputs = _choice(config["inputs"], "config.inputs", ("dense", "indices"))
        if not _boolean(config["fused"], "config.fused") and inputs != "dense":
            raise ModelFileError("config.fused: composed cells (false) read dense inputs, "
                                 "but config.inputs is 'indices'")
        dtype = _choice(config["dtype"], "config.dtype", WEIGHT_DTYPES)
        _check_weights(weights, _recurrent_shapes(cell, n_inputs, hidden, n_outputs), dtype)


def check_charrnn_config(path: str | os.PathLike, config: dict,
                         weights: dict[str, np.ndarray], limits: Limits | None = None
                         ) -> None:
    """Check a char-rnn model's configuration (``CharRNN.config()``) and its weights
    before the model is built.

    Exactly the keys cell, vocabulary (distinct characters in sorted order, up to
    ``limits.max_vocabulary``), hidden (1 to 3 layers), embedding (null or a
    width), dropout (in [0, 1)), dtype; then every weight the configuration implies
    (``embedding/E`` if any, ``layer<k>/W, U, b``, ``output/W, b``) must be in
    ``weights`` with the implied shape and dtype, and nothing else.
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    with _about(path):
        _object(config, "config", {"cell", "vocabulary", "hidden", "embedding", "dropout",
                                   "dtype"})
        cell = _choice(config["cell"], "config.cell", tuple(CELL_BLOCKS))
        vocabulary = config["vocabulary"]
        if type(vocabulary) is not str or not 1 <= len(vocabulary) <= limits.max_vocabulary:
            raise ModelFileError(f"config.vocabulary: expected a string of 1 to "
                                 f"{limits.max_vocabulary} characters (Limits.max_vocabulary)"
                                 f", got {_show(vocabulary)}")
        if list(vocabulary) != sorted(set(vocabulary)):
            raise ModelFileError("config.vocabulary: expected distinct characters in sorted "
                                 f"order, got {_show(vocabulary)}")
        hidden = _hidden(config["hidden"], limits, CHARRNN_MAX_LAYERS)
        embedding = config["embedding"]
        if embedding is not None:
            embedding = _up_to(1, "max_layer_size")(embedding, "config.embedding", limits)
        _number(config["dropout"], "config.dropout", 0, 1)
        dtype = _choice(config["dtype"], "config.dtype", WEIGHT_DTYPES)
        size = len(vocabulary)
        shapes = {} if embedding is None else {"embedding/E": (size, embedding)}
        shapes.update(_recurrent_shapes(cell, embedding or size, hidden, size))
        _check_weights(weights, shapes, dtype)


def _hidden(value, limits: Limits, max_layers: int, option: str | None = None) -> list[int]:
    sizes = _list(value, "config.hidden", 1, max_layers, option)
    return [_up_to(1, "max_layer_size")(h, f"config.hidden[{i}]", limits)
            for i, h in enumerate(sizes)]


def _recurrent_shapes(cell: str, n_inputs: int, hidden: list[int], n_outputs: int
                      ) -> dict[str, tuple[int, ...]]:
    """The weights of recurrent layers under an output layer, and their shapes."""
    blocks, fan_in, shapes = CELL_BLOCKS[cell], n_inputs, {}
    for k, h in enumerate(hidden, start=1):
        shapes[f"layer{k}/W"] = (fan_in, blocks * h)
        shapes[f"layer{k}/U"] = (h, blocks * h)
        shapes[f"layer{k}/b"] = (blocks * h,)
        fan_in = h
    shapes["output/W"] = (fan_in, n_outputs)
    shapes["output/b"] = (n_outputs,)
    return shapes


def _check_weights(weights: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]],
                   dtype: str) -> None:
    """The weights must be exactly ``shapes``, of ``dtype``: compared before building."""
    for name, shape in shapes.items():
        w = weights.get(name)
        if w is None:
            raise ModelFileError(f"tensor {name!r}: the configuration implies it, the file "
                                 "does not hold it")
        if w.shape != shape or w.dtype.name != dtype:
            raise ModelFileError(f"tensor {name!r} is {w.dtype}{list(w.shape)}, the "
                                 f"configuration implies {dtype}{list(shape)}")
    extra = sorted(weights.keys() - shapes.keys())
    if extra:
        raise ModelFileError(f"tensor {extra[0]!r} is not a weight of the configuration")
