"""``GraphModel``: a Graph that is also a Model (fit, evaluate, predict, save).

``fully_connected`` returns one; ``GraphModel.from_graph(graph)`` makes a user's own
Graph one.  Being a Graph, it keeps the tutorial's node-level view: ``propagate``,
``backpropagate``, ``parameter_nodes`` (``dagnet.viz.dot.graph_to_dot`` draws it).
The graph has one input X (batch, features...), its first output is the prediction,
and its cost is summed over the batch (the tutorial's node); the Model side reports
means per example.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dagnet.errors import DataError, GraphError
from dagnet.graph import Graph
from dagnet.io import FORMAT as GRAPH_FORMAT
from dagnet.io import FORMAT_VERSION as GRAPH_FORMAT_VERSION
from dagnet.io import ModelFile, graph_from_content, graph_spec
from dagnet.limits import Limits
from dagnet.models.base import Model, as_array, class_targets, register_model
from dagnet.nodes import (
    BinaryCrossEntropyNode,
    CategoricalCrossEntropyNode,
    SigmoidBinaryCrossEntropyNode,
    SoftmaxCrossEntropyNode,
)

_MULTICLASS = (SoftmaxCrossEntropyNode, CategoricalCrossEntropyNode)
_BINARY = (SigmoidBinaryCrossEntropyNode, BinaryCrossEntropyNode)


@register_model
class GraphModel(Graph, Model):
    """A Graph with one input and one expected output, trained through the Model API.

    ``task`` is "multiclass" (a softmax or categorical cross-entropy cost: targets are
    class indices or one-hot rows; accuracy by argmax), "binary" (a sigmoid or binary
    cross-entropy cost: targets 0/1; accuracy at 0.5) or "regression" (anything else).
    """

    file_format = GRAPH_FORMAT
    format_version = GRAPH_FORMAT_VERSION
    description = "dagnet model"

    @classmethod
    def from_graph(cls, graph: Graph) -> GraphModel:
        """``graph`` (the same nodes and weights) as a Model."""
        model = cls(graph.nodes, graph.input_nodes, graph.output_nodes,
                    graph.expected_output_nodes, graph.cost_node, graph.parameter_nodes,
                    debug=graph.debug)
        model.metadata, model.extra_tensors = graph.metadata, graph.extra_tensors
        return model

    @property
    def task(self) -> str:
        if isinstance(self.cost_node, _MULTICLASS):
            return "multiclass"
        if isinstance(self.cost_node, _BINARY):
            return "binary"
        return "regression"

    def config(self) -> dict:
        return graph_spec(self)[0]

    def weights(self) -> dict[str, np.ndarray]:
        return graph_spec(self)[1]

    @classmethod
    def from_file(cls, path: Path, content: ModelFile, limits: Limits) -> GraphModel:
        return graph_from_content(path, content, cls, limits)

    # -- the Model side ---------------------------------------------------------------------

    def _check_trainable(self) -> None:
        if len(self.input_nodes) != 1 or len(self.expected_output_nodes) != 1 or (
                self.cost_node is None):
            raise GraphError("the Model API needs a graph with one input, one expected "
                             f"output and a cost; this one has {len(self.input_nodes)} "
                             f"input(s), {len(self.expected_output_nodes)} expected "
                             "output(s)" + ("" if self.cost_node else " and no cost"))

    def targets(self, Y, predicted: np.ndarray) -> np.ndarray:
        """``Y`` in the form the cost node reads, given the prediction's shape: class
        indices become one-hot rows, a vector of 0/1 becomes a column."""
        if self.task == "multiclass":
            return class_targets(Y, predicted.shape[-1], predicted.dtype)
        Y = as_array(Y, predicted.dtype, "Y")
        if Y.ndim == predicted.ndim - 1 and predicted.shape[-1] == 1:
            Y = Y[..., None]
        if Y.shape != predicted.shape:
            raise DataError(f"Y has shape {Y.shape} but the model predicts {predicted.shape}")
        return Y

    def _mode(self, training: bool) -> None:
        """Training mode for a step, inference mode to evaluate or predict (batch
        normalisation's running statistics, no dropout); switched only when it differs,
        since a switch recomputes everything at the next propagate."""
        if self.training != training:
            self.set_training(training)

    def predict(self, X, batch_size: int = 10000) -> np.ndarray:
        """The first output for the rows of X, computed ``batch_size`` rows at a time,
        in inference mode."""
        self._mode(False)
        X = as_array(X, self.dtype)
        if len(X) == 0:
            raise DataError("predict got no rows (X has 0 rows)")
        return np.concatenate([self.propagate([X[i:i + batch_size]])[0]
                               for i in range(0, len(X), batch_size)])

    def train_step(self, batch, optimizer) -> float:
        self._check_trainable()
        self._mode(True)
        (predicted, *_) = self.propagate([as_array(batch.inputs, self.dtype)])
        cost = self.backpropagate([self.targets(batch.targets, predicted)])
        optimizer.optimize(batch.size)
        return cost / batch.size

    def evaluate_batch(self, inputs, targets) -> tuple[float, int, int | None]:
        self._check_trainable()
        self._mode(False)
        (predicted, *_) = self.propagate([as_array(inputs, self.dtype)])
        Y = self.targets(targets, predicted)
        cost = self.compute_cost([Y])
        correct = None
        if self.task == "multiclass":
            correct = int(np.sum(predicted.argmax(axis=-1) == Y.argmax(axis=-1)))
        elif self.task == "binary":
            correct = int(np.sum(np.all((predicted > 0.5) == (Y > 0.5), axis=-1)))
        return cost, len(predicted), correct
