"""Model files: weights in safetensors, the graph's architecture as JSON in its metadata.

``save(graph, path)`` writes every node (its type, name, parents and constructor
arguments) in topological order and every parameter as a tensor;
``load(path)`` rebuilds a working Graph without the script that built it.
Loading parses JSON and instantiates only the node types of
registered node types (``dagnet.register_node``): a model file never runs code.  Writes are atomic.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dagnet.errors import DagnetError, ModelFileError
from dagnet.files import atomic_write_bytes
from dagnet.graph import Graph
from dagnet.node import NODE_TYPES, InputNode, Node, ParameterNode, parent_nodes, post_order

FORMAT = "dagnet"
FORMAT_VERSION = 1
_MAX_HEADER = 100 * 1024 * 1024


# NumPy dtype -> safetensors dtype name.
_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64",
           "int32": "I32", "int16": "I16", "int8": "I8", "uint64": "U64", "uint32": "U32",
           "uint16": "U16", "uint8": "U8", "bool": "BOOL"}


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


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and metadata of a safetensors file; ModelFileError naming the file if bad."""
    from safetensors.numpy import load

    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read it ({exc.strerror})") from None
    if len(data) < 8:
        raise ModelFileError(f"{path}: not a model file (only {len(data)} bytes)")
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > min(len(data) - 8, _MAX_HEADER):
        raise ModelFileError(f"{path}: not a safetensors model file, or truncated (its header "
                             f"claims {header_size} bytes, the file has {len(data) - 8})")
    try:
        header = json.loads(data[8:8 + header_size])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(f"{path}: corrupt model file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: corrupt model file (its header is not a JSON object)")
    metadata = header.get("__metadata__") or {}
    try:
        tensors = load(data)
    except Exception as exc:  # safetensors raises its own error types
        raise ModelFileError(f"{path}: corrupt or truncated model file ({exc})") from None
    return tensors, metadata


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
                    what: str = "dagnet model") -> ModelFile:
    """The content of a model file of ``file_format``, its version checked.

    ``what`` names the kind of model in the errors ("dagnet model", "recurrent network").
    With ``file_format=None`` any format is read (see ``model_file_format``).
    """
    tensors, header = read_safetensors(path)
    if file_format is None and "format" not in header:
        raise ModelFileError(f"{path}: not a dagnet model (no 'format' in its metadata)")
    if file_format is not None and header.get("format") != file_format:
        raise ModelFileError(f"{path}: not a {what} (no 'format: {file_format}' in its "
                             "metadata)")
    if version is not None and header.get("format_version") != str(version):
        raise ModelFileError(f"{path}: {what} format version "
                             f"{header.get('format_version')!r}; this dagnet reads version "
                             f"{version}")
    try:
        config = json.loads(header["config"])
        metadata = json.loads(header.get("metadata", "{}"))
    except (KeyError, ValueError) as exc:
        raise ModelFileError(f"{path}: corrupt {what} description ({type(exc).__name__}: "
                             f"{exc})") from None
    if not isinstance(config, dict) or not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: corrupt {what} description (not JSON objects)")
    content = ModelFile(config, metadata,
                        {k: v for k, v in tensors.items() if not k.startswith("extra/")},
                        {k[len("extra/"):]: v for k, v in tensors.items()
                         if k.startswith("extra/")})
    content.file_format = header.get("format")
    content.format_version = header.get("format_version")
    return content


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
        if NODE_TYPES.get(type_name) is not type(node):
            raise DagnetError(f"cannot save {node.describe()}: {type_name} is not a dagnet "
                              "node type (decorate its class with @dagnet.register_node)")
        entry = {"type": type_name, "name": node.name,
                 "parents": [[index[p], i] for p, i in node.parents],
                 "config": node.config()}
        if isinstance(node, ParameterNode):
            entry["tensor"] = names[node]
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


def load(path: str | os.PathLike, graph_class: type[Graph] = Graph) -> Graph:
    """Rebuild the Graph saved in ``path`` (as ``graph_class``, a Graph subclass);
    raises ModelFileError naming the file if bad."""
    path = Path(path)
    return graph_from_content(path, read_model_file(path, FORMAT, FORMAT_VERSION,
                                                    "dagnet model"), graph_class)


def graph_from_content(path: Path, content: ModelFile, graph_class: type[Graph] = Graph
                       ) -> Graph:
    """The Graph a model file's ``content`` describes (see ``load``)."""
    try:
        graph = _build(content.config, content.weights, graph_class)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, IndexError, DagnetError) as exc:
        raise ModelFileError(f"{path}: corrupt model description ({type(exc).__name__}: "
                             f"{exc})") from None
    graph.metadata = content.metadata
    graph.extra_tensors = content.extra_tensors
    return graph


def _build(spec: dict, tensors: dict[str, np.ndarray], graph_class: type[Graph] = Graph
           ) -> Graph:
    built: list[Node] = []
    for k, entry in enumerate(spec["nodes"]):
        cls = NODE_TYPES.get(entry["type"])
        if cls is None:
            raise ModelFileError(f"node {k} has unknown type {entry['type']!r}")
        name = entry.get("name")
        config = entry.get("config") or {}
        if not isinstance(config, dict):
            raise ModelFileError(f"node {k}: its config is not an object")
        parents = []
        for parent, i_output in entry.get("parents", []):
            if not (isinstance(parent, int) and 0 <= parent < k):
                raise ModelFileError(f"node {k} reads node {parent!r}, which does not come "
                                     "before it")
            parents.append((built[parent], i_output))
        if cls is ParameterNode:
            if entry.get("tensor") not in tensors:
                raise ModelFileError(f"parameter {name!r} has no tensor in the file")
            node = ParameterNode(tensors[entry["tensor"]], name=name)
        elif cls is InputNode:
            node = InputNode(name=name)
        else:
            node = cls(parents, **config, name=name)
        built.append(node)

    def pick(k):
        if not (isinstance(k, int) and 0 <= k < len(built)):
            raise ModelFileError(f"the graph refers to node {k!r}, which does not exist")
        return built[k]

    cost = spec.get("cost")
    return graph_class(built, [pick(k) for k in spec["inputs"]],
                 [(pick(k), i) for k, i in spec["outputs"]],
                 [pick(k) for k in spec["expected_outputs"]],
                 None if cost is None else pick(cost),
                 [pick(k) for k in spec["parameters"]])
