"""Nodes that move columns around: select, concatenate, split, flatten.  Rows are the batch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dagnet.errors import GraphError, ModelFileError, ShapeError
from dagnet.node import Node, register_node
from dagnet.schema import sizes, up_to


@register_node
class SelectionNode(Node):
    """y = x[:, start:end]; x:(B, F) -> (B, end-start).

    dJ/dx = dJ/dy in columns start:end, 0 elsewhere.
    """

    n_inputs = 1
    config_schema = {"start": up_to(0, "max_layer_size"), "end": up_to(1, "max_layer_size")}

    @classmethod
    def check_config(cls, config: dict, where: str) -> None:
        if config["end"] <= config["start"]:
            raise ModelFileError(f"{where}: needs start < end, got {config['start']}:"
                                 f"{config['end']}")

    def __init__(self, parents, start: int, end: int, name: str | None = None):
        super().__init__(parents, name=name)
        if not 0 <= start < end:
            raise GraphError(f"{self.describe()}: needs 0 <= start < end, got {start}:{end}")
        self.start, self.end = int(start), int(end)

    def config(self) -> dict:
        return {"start": self.start, "end": self.end}

    def compute_output(self):
        x = self.x[0]
        self.check_matrix(x)
        if self.end > x.shape[1]:
            raise ShapeError(f"{self.describe()}: columns {self.start}:{self.end} do not exist "
                             f"in an input of shape {x.shape}")
        return [x[:, self.start:self.end]]

    def compute_gradient(self):
        dJdx = np.zeros_like(self.x[0])
        dJdx[:, self.start:self.end] = self.dJdy[0]
        return [dJdx]


@register_node
class ConcatenationNode(Node):
    """y = (x₁ | x₂ | … | xₙ) along columns; xᵢ:(B, Fᵢ) -> (B, ΣFᵢ).

    dJ/dxᵢ = the columns of dJ/dy that came from xᵢ.
    """

    def compute_output(self):
        rows = {x.shape[0] for x in self.x}
        if len(rows) != 1 or any(x.ndim != 2 for x in self.x):
            raise ShapeError(f"{self.describe()}: cannot concatenate the columns of "
                             f"{[x.shape for x in self.x]}: needs matrices with the same rows")
        return [np.concatenate(self.x, axis=1)]

    def compute_gradient(self):
        g = self.dJdy[0]
        bounds = np.cumsum([0] + [x.shape[1] for x in self.x])
        return [g[:, lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]


@register_node
class SplitNode(Node):
    """Outputs the column blocks of x, of widths ``sizes``; x:(B, Σsizes) -> (B, sizeₖ) each.

    dJ/dx = (dJ/dy₁ | … | dJ/dyₙ); an output nobody reads sends back zeros.
    """

    n_inputs = 1
    config_schema = {"sizes": sizes}

    @classmethod
    def outputs_for(cls, config: dict) -> int:
        return len(config["sizes"])

    def __init__(self, parents, sizes: Sequence[int], name: str | None = None):
        sizes = [int(s) for s in sizes]
        super().__init__(parents, nb_outputs=len(sizes), name=name)
        if not sizes or min(sizes) < 1:
            raise GraphError(f"{self.describe()}: sizes must be positive, got {sizes}")
        self.sizes = sizes

    def config(self) -> dict:
        return {"sizes": self.sizes}

    def compute_output(self):
        x = self.x[0]
        self.check_matrix(x)
        if x.shape[1] != sum(self.sizes):
            raise ShapeError(f"{self.describe()}: cannot split {x.shape[1]} columns of "
                             f"{x.shape} into blocks of {self.sizes}")
        bounds = np.cumsum([0] + self.sizes)
        return [x[:, lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]

    def compute_gradient(self):
        return [np.concatenate(self.dJdy, axis=1)]


@register_node
class FlattenNode(Node):
    """y = x with everything after the batch axis in one row, in C order:
    x:(B, C, H, W) (or any (B, …)) -> (B, C·H·W).  dJ/dx = dJ/dy reshaped to x's shape.

    A view when x is contiguous, as a convolution's or a pooling's output is.
    """

    n_inputs = 1

    def compute_output(self):
        x = self.x[0]
        if x.ndim < 2:
            raise ShapeError(f"{self.describe()}: needs a batch of arrays (B, …), got shape "
                             f"{x.shape}")
        return [x.reshape(x.shape[0], -1)]

    def compute_gradient(self):
        return [self.dJdy[0].reshape(self.x[0].shape)]
