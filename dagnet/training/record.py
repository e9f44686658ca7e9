"""The run record: one ``metrics.json`` schema for every command.

``metrics.json`` is a summary written when a run ends (however it ends): the same
keys for every command (``REQUIRED``), then the command's own figures.  The
per-step or per-epoch history goes to ``metrics.jsonl``, one JSON line per entry,
appended while the run trains (``MetricsLog``).  docs/run-records.md gives the
schema; ``check_record`` validates a record against it.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from dagnet.files import write_json
from dagnet.training.extensions import jsonable
from dagnet.training.trainer import STOP_REASONS
from dagnet.version import __version__

RECORD_FILE = "metrics.json"
LOG_FILE = "metrics.jsonl"

# Key -> the types its value may have (None: JSON null, for figures a run may lack).
REQUIRED: dict[str, tuple] = {
    "command": (str,), "argv": (list,), "seed": (int, type(None)),
    "dagnet_version": (str,), "environment": (dict,), "wall_seconds": (float, int),
    "train_seconds": (float, int), "stop_reason": (str,), "final": (dict,),
    "best": (dict, type(None)), "files": (dict,), "world_size": (int,),
}


def environment() -> dict:
    """Versions, machine and BLAS threads, so that a figure can be traced."""
    threads = {name: os.environ[name] for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                   "MKL_NUM_THREADS") if name in os.environ}
    return {"dagnet": __version__, "numpy": np.__version__,
            "python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "thread_variables": threads}


class RunRecord:
    """Collects a run's summary and writes ``folder/metrics.json`` atomically.

    Create it when the run starts (it times the wall clock), ``update`` it with the
    command's figures, then ``write(stop_reason=..., ...)``.
    """

    def __init__(self, folder: str | os.PathLike, command: str, argv: list[str] | None = None,
                 seed: int | None = None):
        self.folder = Path(folder)
        self.started = time.perf_counter()
        self.fields: dict = {"command": command,
                             "argv": list(sys.argv[1:] if argv is None else argv),
                             "seed": seed, "world_size": 1, "files": {}, "best": None,
                             "final": {}, "train_seconds": 0.0, "stop_reason": "done"}

    def update(self, **fields) -> None:
        self.fields.update(fields)

    def add_file(self, role: str, path: str | os.PathLike) -> None:
        """Name a file of the run folder in ``files`` (relative to the folder)."""
        path = Path(path)
        self.fields["files"][role] = str(path.relative_to(self.folder)
                                         if path.is_absolute() and self.folder in path.parents
                                         else path.name)

    def write(self, **fields) -> Path:
        self.update(**fields)
        record = {**self.fields, "dagnet_version": __version__, "environment": environment(),
                  "wall_seconds": time.perf_counter() - self.started}
        record = jsonable(record)
        check_record(record)
        return write_json(self.folder / RECORD_FILE, record)


def check_record(record: dict) -> None:
    """Raise ValueError naming the key if ``record`` does not follow the schema."""
    for key, types in REQUIRED.items():
        if key not in record:
            raise ValueError(f"run record without {key!r}")
        if not isinstance(record[key], types) or isinstance(record[key], bool):
            raise ValueError(f"run record key {key!r} is {type(record[key]).__name__}, "
                             f"expected {' or '.join(t.__name__ for t in types)}")
    if record["stop_reason"] not in STOP_REASONS:
        raise ValueError(f"run record stop_reason {record['stop_reason']!r} is not one of "
                         f"{', '.join(STOP_REASONS)}")
