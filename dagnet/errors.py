"""The exceptions dagnet raises: every one names what went wrong and where."""

from __future__ import annotations


class DagnetError(Exception):
    """Base class of every error dagnet raises on purpose.

    The CLI prints these as one line and exits with a non-zero status.
    """


class ShapeError(DagnetError, ValueError):
    """Inputs of a node have shapes the node cannot combine."""


class GraphError(DagnetError, ValueError):
    """The graph is malformed: a cycle, a missing node, a bad output index..."""


class NonFiniteError(DagnetError, FloatingPointError):
    """A node's output or gradient, or the cost, is NaN or infinite."""


class ModelFileError(DagnetError):
    """A model file is missing, truncated, corrupt or not a dagnet model."""


class DataError(DagnetError):
    """A data file is missing, corrupt, or not what it claims to be."""


class FileWriteError(DagnetError, OSError):
    """A file could not be written (full disk, no permission, read-only folder...).

    The message names the file; ``errno`` is the operating system's error number.
    """


class ExportError(DagnetError, ValueError):
    """A model cannot be written in another framework's format (ONNX, PyTorch names):
    a node with no equivalent there, or weights that do not fit the other layout."""


class DistributedError(DagnetError):
    """Processes training together over MPI cannot go on: mpi4py is missing, they disagree
    about the model or the data, or one of them failed."""
