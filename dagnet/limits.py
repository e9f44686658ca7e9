"""How much a file may make dagnet read, build and allocate.

A model file, an image or an IDX file comes from outside: its sizes are claims,
checked against these limits (and against each other) before anything is
allocated.  The defaults fit every model and data set dagnet trains with a wide
margin; a user with a bigger model raises one field and passes the object on::

    from dagnet.limits import Limits
    graph = dagnet.load("big.safetensors", limits=Limits(max_file_bytes=8 << 30))

Errors that a limit causes name the field to raise.  See docs/security.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Upper bounds on what a file may claim; every reader takes ``limits=`` (None: these)."""

    max_file_bytes: int = 1 << 30
    """A model file's size on disk (1 GiB)."""
    max_header_bytes: int = 16 << 20
    """Its JSON header: configuration, metadata and the table of tensors (16 MiB)."""
    max_json_depth: int = 64
    """Nesting of any JSON a model file holds (header, configuration, metadata)."""
    max_nodes: int = 100_000
    """Nodes of a graph file, and outputs summed over its nodes."""
    max_node_io: int = 1024
    """Inputs or outputs of one node (SplitNode blocks, UnstackNode and StackNode steps),
    and inputs, outputs or expected outputs of a graph."""
    max_layer_size: int = 65_536
    """A layer's width: hidden sizes, embedding width, n_inputs and n_outputs, the
    blocks and columns of SplitNode and SelectionNode."""
    max_layers: int = 64
    """Recurrent layers of a recurrent network."""
    max_vocabulary: int = 65_536
    """Characters of a char-rnn vocabulary."""
    max_image_pixels: int = 4096 * 4096
    """Width × height of an image read for prediction, checked before it is decoded."""
    max_data_bytes: int = 1 << 30
    """An IDX file's payload, after decompression (1 GiB)."""

    def __post_init__(self):
        for name, value in vars(self).items():
            if type(value) is not int or value < 1:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")


DEFAULT_LIMITS = Limits()
