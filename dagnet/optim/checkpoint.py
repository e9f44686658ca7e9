"""Checkpoints: a model file that also carries the optimizer and the data order.

``save_checkpoint`` writes the graph with ``dagnet.save`` and puts the optimizer
in the same file: its algorithm, hyperparameters and step count in the JSON
metadata (key "optimizer"), its per-parameter state as tensors named
``optimizer/<parameter index>/<name>`` (scalars in the metadata), and optionally the state of the
``np.random.Generator`` that orders the mini-batches (key "rng").  Everything is
stored exactly (floats as shortest round-trip JSON, arrays in their dtype), so
``load_checkpoint`` gives back a run that continues bit for bit.  Loading
instantiates only the classes of ``dagnet.optim.OPTIMIZERS``: no code runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dagnet.errors import ModelFileError
from dagnet.graph import Graph
from dagnet.io import load, save
from dagnet.optim.base import OptimizationAlgorithm

PREFIX = "optimizer/"


def optimizer_to_file(optimizer: OptimizationAlgorithm) -> tuple[dict, dict[str, np.ndarray]]:
    """The optimizer as JSON-ready metadata and a dict of named tensors."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for i, entry in enumerate(state["state"]):
        for key, value in entry.items():
            if value.ndim:
                tensors[f"{PREFIX}{i}/{key}"] = value
            else:  # JSON keeps a 0-d array exactly (shortest round-trip float)
                scalars[f"{i}/{key}"] = [value.dtype.str, value.item()]
    return {"algorithm": state["algorithm"], "config": state["config"], "t": state["t"],
            "parameters": len(state["state"]), "scalars": scalars}, tensors


def optimizer_from_file(metadata: dict, tensors: dict[str, np.ndarray],
                        parameter_nodes) -> OptimizationAlgorithm:
    """The optimizer ``optimizer_to_file`` described, over ``parameter_nodes``."""
    from dagnet.optim import OPTIMIZERS

    classes = {cls.__name__: cls for cls in OPTIMIZERS.values()}
    cls = classes.get(metadata.get("algorithm"))
    if cls is None:
        raise ValueError(f"unknown optimization algorithm {metadata.get('algorithm')!r}")
    optimizer = cls.from_config(parameter_nodes, metadata["config"])
    entries: list[dict[str, np.ndarray]] = [{} for _ in range(int(metadata["parameters"]))]
    for name, value in tensors.items():
        if name.startswith(PREFIX):
            index, key = name[len(PREFIX):].split("/", 1)
            entries[int(index)][key] = value
    for name, (dtype, value) in metadata.get("scalars", {}).items():
        index, key = name.split("/", 1)
        if np.dtype(dtype).kind not in "fiu":
            raise ValueError(f"state {name!r} has dtype {dtype!r}, not a number type")
        entries[int(index)][key] = np.array(value, dtype=np.dtype(dtype))
    optimizer.load_state_dict({"algorithm": cls.__name__, "t": metadata["t"],
                               "state": entries})
    return optimizer


def save_checkpoint(path: str | os.PathLike, graph: Graph, optimizer: OptimizationAlgorithm,
                    rng: np.random.Generator | None = None, metadata: dict | None = None,
                    extra_tensors: dict[str, np.ndarray] | None = None) -> Path:
    """Write ``graph``, ``optimizer`` (and ``rng``'s state) to ``path``, atomically.

    The optimizer's parameters must be the graph's, in the same order.
    ``metadata`` and ``extra_tensors`` are stored as ``dagnet.save`` stores them.
    """
    if [id(n) for n in optimizer.parameter_nodes] != [id(n) for n in graph.parameter_nodes]:
        raise ValueError("the optimizer does not update the graph's parameters (in the "
                         "graph's order): it cannot be saved with this graph")
    optimizer_metadata, tensors = optimizer_to_file(optimizer)
    metadata = {**(metadata or {}), "optimizer": optimizer_metadata}
    if rng is not None:
        metadata["rng"] = rng.bit_generator.state
    for key in extra_tensors or {}:
        if key.startswith(PREFIX):
            raise ValueError(f"extra tensor name {key!r} is reserved for the optimizer")
    return save(graph, path, metadata=metadata, extra_tensors={**(extra_tensors or {}),
                                                               **tensors})


def load_checkpoint(path: str | os.PathLike
                    ) -> tuple[Graph, OptimizationAlgorithm, np.random.Generator | None]:
    """The graph, its optimizer and the data-order generator (None if none was saved)."""
    graph = load(path)
    metadata = graph.metadata
    if "optimizer" not in metadata:
        raise ModelFileError(f"{path}: a model without optimizer state (saved with "
                             "dagnet.save, not save_checkpoint)")
    try:
        optimizer = optimizer_from_file(metadata["optimizer"], graph.extra_tensors,
                                        graph.parameter_nodes)
        rng = None
        if "rng" in metadata:
            state = metadata["rng"]
            generators = {"PCG64": np.random.PCG64, "PCG64DXSM": np.random.PCG64DXSM,
                          "Philox": np.random.Philox, "SFC64": np.random.SFC64,
                          "MT19937": np.random.MT19937}
            bit_generator = generators[state["bit_generator"]]()
            bit_generator.state = state
            rng = np.random.Generator(bit_generator)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelFileError(f"{path}: corrupt optimizer state ({type(exc).__name__}: "
                             f"{exc})") from None
    return graph, optimizer, rng
