"""Graph: a set of nodes with its inputs, outputs, cost and parameters, and the
schedule that runs them.

The schedule is computed once, when the Graph is built: a topological order of
what the outputs need (for ``propagate``), of what the cost needs (for
``backpropagate``), and, for the backward pass, the nodes through which the
cost's gradient reaches a parameter, each with the list of children whose
gradients it sums.  Both passes are plain loops over those lists: no recursion,
no graph search per call.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from dagnet.errors import GraphError, NonFiniteError
from dagnet.node import GradientNode, InputNode, Node, ParameterNode, parent_nodes, post_order

# A per-node timer: timer(node, "forward" or "backward", seconds), also told of each
# optimizer update as timer(optimizer, "update", seconds).  While one is set (the Trainer
# sets a profile's around each training step: dagnet.training.profile), every Graph times
# each node it runs; otherwise the passes are the plain loops below.
NodeTimer = Callable[[object, str, float], None]
_node_timer: NodeTimer | None = None


def set_node_timer(timer: NodeTimer | None) -> NodeTimer | None:
    """Time every node that a Graph runs with ``timer`` (None: stop); returns the previous
    timer."""
    global _node_timer
    previous, _node_timer = _node_timer, timer
    return previous


def node_timer() -> NodeTimer | None:
    """The timer set by ``set_node_timer``, or None."""
    return _node_timer


class Graph:
    """A computational graph ready to propagate and backpropagate.

    ``nodes`` may be None (then every node the outputs and the cost need is
    found by walking back from them); otherwise it must contain all of them.
    ``output_nodes`` are nodes or ``(node, i_output)`` pairs.  A GradientNode of
    value 1 is attached to ``cost_node``.  ``parameter_nodes`` defaults to every
    ParameterNode the outputs and the cost need.  With ``debug=True`` every output
    and gradient is checked, and the first non-finite one raises NonFiniteError
    naming its node.
    """

    def __init__(self, nodes: Iterable[Node] | None, input_nodes: Sequence[InputNode],
                 output_nodes: Sequence, expected_output_nodes: Sequence[InputNode] = (),
                 cost_node: Node | None = None,
                 parameter_nodes: Sequence[ParameterNode] | None = None,
                 debug: bool = False):
        self.input_nodes = list(input_nodes)
        self.output_nodes = [_as_pair(spec) for spec in output_nodes]
        self.expected_output_nodes = list(expected_output_nodes or [])
        self.cost_node = cost_node
        self.debug = debug
        # Carried by model files: what a model needs besides its weights (see dagnet.io).
        self.metadata: dict = {}
        self.extra_tensors: dict[str, np.ndarray] = {}
        for node in self.input_nodes + self.expected_output_nodes:
            if not isinstance(node, InputNode):
                raise GraphError(f"{node.describe()} is listed as an input but is not an "
                                 "InputNode")

        self.gradient_node = None
        if cost_node is not None:
            self.gradient_node = GradientNode([cost_node], 1.0, name="dJ/dJ")
        self._output_order = post_order([node for node, _ in self.output_nodes], parent_nodes)
        self._cost_order = (post_order([self.gradient_node], parent_nodes)
                            if cost_node is not None else [])
        in_outputs = set(self._output_order)
        # Recomputed by every backpropagate: they depend on Y or only matter to the cost.
        self._cost_only_order = [node for node in self._cost_order if node not in in_outputs]
        needed = _unique(self._output_order + self._cost_order)
        needed = [node for node in needed if node is not self.gradient_node]

        if nodes is None:
            self.nodes = needed
        else:
            self.nodes = list(nodes)
            listed = set(self.nodes)
            missing = [node for node in needed if node not in listed]
            if missing:
                raise GraphError("the outputs and the cost need nodes that are not in the "
                                 "graph's node list: "
                                 + ", ".join(node.describe() for node in missing[:5]))
        for node in self.input_nodes + self.expected_output_nodes:
            if node not in needed:
                warnings.warn(f"{node.describe()} is an input of the graph, but neither the "
                              "outputs nor the cost depend on it", stacklevel=2)

        if parameter_nodes is None:
            parameter_nodes = [node for node in needed if isinstance(node, ParameterNode)]
        self.parameter_nodes = list(parameter_nodes)
        for node in self.parameter_nodes:
            if not isinstance(node, ParameterNode):
                raise GraphError(f"{node.describe()} is listed as a parameter but is not a "
                                 "ParameterNode")
        self._all_nodes = _unique(self.nodes + self.parameter_nodes
                                  + ([self.gradient_node] if self.gradient_node else []))
        self._plan_backward()
        self.set_training(True)

    def _plan_backward(self) -> None:
        """Which nodes the gradient flows through, and from which children."""
        in_cost = set(self._cost_order)
        depends = set()  # nodes whose value depends on a parameter
        for node in self._cost_order:
            if isinstance(node, ParameterNode) or any(p in depends for p, _ in node.parents):
                depends.add(node)
        self._backward_plan = []
        for node in reversed(self._cost_order):
            if node not in depends:
                continue
            sources = [[(child, i) for child, i in children if child in depends]
                       for children in node.children]
            self._backward_plan.append((node, sources))
            flags = [parent in depends for parent, _ in node.parents]
            if node.needs_gradient is not None:  # a node shared with another graph
                flags = [a or b for a, b in zip(flags, node.needs_gradient)]
            node.needs_gradient = flags
        self._unreached = [node for node in self.parameter_nodes if node not in in_cost]
        if self.cost_node is not None:
            for node in self._unreached:
                warnings.warn(f"{node.describe()} is a parameter of the graph, but the cost "
                              "does not depend on it: its gradient is always zero",
                              stacklevel=3)

    # -- training and inference modes ------------------------------------------------

    @property
    def training(self) -> bool:
        """True in training mode, False in inference mode (see ``set_training``)."""
        return self._training

    def set_training(self, training: bool) -> None:
        """Set the mode of every mode-dependent node (``mode_dependent = True``) to
        ``training``; the next ``propagate`` recomputes everything in that mode.

        A node shared by several graphs follows the last graph that set a mode.
        """
        self._training = bool(training)
        for node in self._all_nodes:
            if node.mode_dependent:
                node.training = self._training
        self.reset_memoization()

    def train(self) -> Graph:
        """Training mode: batch statistics, dropout masks.  Returns the graph."""
        self.set_training(True)
        return self

    def eval(self) -> Graph:
        """Inference mode: running statistics, no dropout.  Returns the graph."""
        self.set_training(False)
        return self

    @contextmanager
    def inference(self) -> Iterator[Graph]:
        """Inference mode inside a ``with`` block, the previous mode after it (also when
        the block raises): ``with graph.inference(): graph.propagate([X])``.

        A graph without mode-dependent nodes is left as it is (no memoization reset)."""
        previous = self._training
        if not any(node.mode_dependent for node in self._all_nodes):
            yield self
            return
        if previous:
            self.set_training(False)
        try:
            yield self
        finally:
            if previous:
                self.set_training(True)

    # -- running -------------------------------------------------------------------

    def propagate(self, X: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """Set the inputs, compute and return the outputs (one array per output node)."""
        self.reset_memoization()
        _set_values(self.input_nodes, X, "propagate", "input")
        self._forward(self._output_order)
        return [node.y[i] for node, i in self.output_nodes]

    def compute_cost(self, Y: Sequence[np.ndarray] | np.ndarray) -> float:
        """The cost for expected outputs ``Y`` and the inputs of the last ``propagate``,
        without computing any gradient."""
        if self.cost_node is None:
            raise GraphError("this graph has no cost node: it can propagate but not "
                             "compute a cost or backpropagate")
        _set_values(self.expected_output_nodes, Y, "backpropagate", "expected output")
        for node in self._cost_only_order:
            node.dirty_y = True
        self._forward(self._cost_order)
        return float(self.cost_node.y[0])

    def backpropagate(self, Y: Sequence[np.ndarray] | np.ndarray) -> float:
        """Set the expected outputs, compute the cost and every parameter's dJ/dw.

        Returns the cost as a float.  The forward values computed by the last
        ``propagate`` are reused.
        """
        cost = self.compute_cost(Y)
        timer, debug = _node_timer, self.debug
        for node, sources in self._backward_plan:
            if timer is None:
                node.backward(sources)
            else:
                started = time.perf_counter()
                node.backward(sources)
                timer(node, "backward", time.perf_counter() - started)
            if debug:
                _check_finite(node, node.dJdx, "gradient")
        for node in self._unreached:
            node.dJdy = [np.zeros_like(node.w)]
            node.dJdx = node.dJdy
            node.dirty_dJdx = False
        return cost

    def _forward(self, order: list[Node]) -> None:
        """Compute the dirty nodes of ``order``, timed while a node timer is set."""
        timer, debug = _node_timer, self.debug
        for node in order:
            if node.dirty_y:
                if timer is None:
                    node.forward()
                else:
                    started = time.perf_counter()
                    node.forward()
                    timer(node, "forward", time.perf_counter() - started)
                if debug:
                    _check_finite(node, node.y, "output")

    def reset_memoization(self) -> None:
        """Mark every node of this graph as needing recomputation."""
        for node in self._all_nodes:
            node.dirty_y = True
            node.dirty_dJdx = True

    def get_parameter_nodes(self) -> list[ParameterNode]:
        return self.parameter_nodes


def _as_pair(spec) -> tuple[Node, int]:
    if isinstance(spec, Node):
        return spec, 0
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], Node):
        node, i = spec
        if not 0 <= i < node.nb_outputs:
            raise GraphError(f"output {i} of {node.describe()} does not exist "
                             f"(it has {node.nb_outputs})")
        return node, int(i)
    raise GraphError(f"an output must be a node or a (node, i_output) pair, got {spec!r}")


def _unique(nodes: Iterable[Node]) -> list[Node]:
    return list(dict.fromkeys(nodes))


def _set_values(nodes: list[InputNode], values, method: str, what: str) -> None:
    if isinstance(values, np.ndarray):
        if len(nodes) != 1:
            raise GraphError(f"{method}() got one array but the graph has {len(nodes)} "
                             f"{what} nodes: pass a list with one array per {what} node")
        values = [values]
    values = list(values)
    if len(values) != len(nodes):
        names = ", ".join(node.describe() for node in nodes)
        raise GraphError(f"{method}() got {len(values)} arrays but the graph has "
                         f"{len(nodes)} {what} node(s) ({names})")
    for node, value in zip(nodes, values):
        # Not set_value(): the graph has just reset its own memoization.
        node.value = np.asarray(value)
        node.dirty_y = True


def _check_finite(node: Node, arrays: Sequence, what: str) -> None:
    for k, a in enumerate(arrays):
        if a is not None and not np.all(np.isfinite(a)):
            shapes = [tuple(np.shape(x)) for x in (node.x or [])]
            bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
            raise NonFiniteError(f"{node.describe()}: {what} {k} of shape {np.shape(a)} has "
                                 f"{bad} NaN or infinite value(s) (input shapes {shapes})")
