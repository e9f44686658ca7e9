"""The Node of a computational graph, and the three nodes that hold values.

A node has inputs (its ``parents``, one ``(node, i_output)`` pair per input) and
outputs (each with the list of ``(child, i_input)`` pairs that read it).  Forward,
``get_output(i)`` returns output ``i``, computing it with ``compute_output()`` from
the inputs ``x`` if the memoized ``y`` is dirty.  Backward, ``get_gradient(i)``
returns dJ/dx for input ``i``: the node sums what its children send back for
each of its outputs into ``dJdy`` and turns it into ``dJdx`` with
``compute_gradient()``.

Scheduling is iterative: the nodes to evaluate are ordered by an explicit-stack
depth-first search, never by recursion, so graphs of any depth work under
Python's default recursion limit.  ``Graph`` precomputes those orders once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from dagnet.errors import GraphError, ShapeError
from dagnet.schema import Check

_ids = itertools.count()

# Class name -> class: model files name node types by these keys, and loading
# instantiates nothing else (a file cannot make dagnet import or run code).
NODE_TYPES: dict[str, type[Node]] = {}


def register_node(cls: type[Node]) -> type[Node]:
    """Class decorator: make a node type savable in and loadable from model files.

    Loading a model file instantiates only registered classes, by name, with the
    JSON constructor arguments of their ``config()``::

        @dagnet.register_node
        class CubeNode(dagnet.Node):
            def compute_output(self):
                return [self.x[0] ** 3]
            def compute_gradient(self):
                return [3 * self.x[0] ** 2 * self.dJdy[0]]
    """
    if not (isinstance(cls, type) and issubclass(cls, Node)):
        raise TypeError(f"register_node takes a Node subclass, got {cls!r}")
    known = NODE_TYPES.get(cls.__name__)
    if known is not None and known is not cls:
        raise GraphError(f"a node type named {cls.__name__} is already registered "
                         f"({known.__module__}.{known.__qualname__}): rename the class")
    NODE_TYPES[cls.__name__] = cls
    return cls


class Node:
    """Base class: subclasses implement ``compute_output`` and ``compute_gradient``.

    ``compute_output()`` reads ``self.x`` (one array per input) and returns the list
    of outputs; ``compute_gradient()`` reads ``self.x``, ``self.y`` and ``self.dJdy``
    (one array per output) and returns ``dJdx``, one array per input (``None`` for
    an input whose ``needs_gradient`` flag is False).
    """

    # What a model file may say about a node of this type, checked before anything is
    # built (dagnet.io): how many inputs it reads (None: one or more; a tuple: one of those
    # counts) and a check per key of its config() (dagnet.schema).  A type with config()
    # keys declares them.
    n_inputs: int | tuple[int, ...] | None = None
    config_schema: dict[str, Check] = {}
    # A node whose computation differs in training and inference (dropout, batch
    # normalisation) follows Graph.set_training through its ``training`` flag.
    mode_dependent = False

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Arrays a model file keeps besides weights and config (running statistics)."""
        return {}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Put back what ``state_arrays`` returned (a node without state takes none)."""
        if arrays:
            raise GraphError(f"{self.describe()} keeps no state, got {sorted(arrays)}")

    @classmethod
    def outputs_for(cls, config: dict) -> int:
        """How many outputs a node of this type built with ``config`` has."""
        return 1

    @classmethod
    def check_config(cls, config: dict, where: str) -> None:
        """Checks across the keys of a (schema-checked) config; ModelFileError if bad."""

    def __init__(self, parents: Iterable | None = None, nb_outputs: int = 1,
                 name: str | None = None):
        self.id = next(_ids)
        self.name = name
        self.nb_outputs = nb_outputs
        self.parents: list[tuple[Node, int]] = []
        self.children: list[list[tuple[Node, int]]] = [[] for _ in range(nb_outputs)]
        self.x: list[np.ndarray] | None = None
        self.y: list[np.ndarray] | None = None
        self.dJdx: list[np.ndarray | None] | None = None
        self.dJdy: list[np.ndarray] | None = None
        self.dirty_y = True
        self.dirty_dJdx = True
        # One flag per input: does the cost's gradient need to flow into it?
        # None means "all of them" (a node used outside any Graph).
        self.needs_gradient: list[bool] | None = None
        self.set_parents(parents or [])

    # -- structure -----------------------------------------------------------------

    def set_parents(self, parents: Iterable) -> None:
        """Connect the inputs: each parent is a node (its output 0) or ``(node, i_output)``."""
        for parent, i_output in self.parents:
            parent.children[i_output] = [(c, i) for c, i in parent.children[i_output]
                                         if c is not self]
        self.parents = []
        for i_input, spec in enumerate(parents):
            parent, i_output = _parse_parent(self, i_input, spec)
            self.parents.append((parent, i_output))
            parent.children[i_output].append((self, i_input))
        self.needs_gradient = None

    def describe(self) -> str:
        """``TanhNode 'h1'`` or ``TanhNode #12``: how errors name this node."""
        label = f"'{self.name}'" if self.name else f"#{self.id}"
        return f"{type(self).__name__} {label}"

    def config(self) -> dict:
        """Constructor arguments other than ``parents`` and ``name``, JSON-ready."""
        return {}

    def __repr__(self) -> str:
        return f"<{self.describe()}>"

    # -- forward -------------------------------------------------------------------

    def get_output(self, i_output: int = 0) -> np.ndarray:
        """Output ``i_output``, computed (with every dirty ancestor) if needed."""
        if not 0 <= i_output < self.nb_outputs:
            raise GraphError(f"{self.describe()} has {self.nb_outputs} output(s); "
                             f"output {i_output} does not exist")
        if self.dirty_y:
            self.evaluate()
        return self.y[i_output]

    def evaluate(self) -> None:
        """Compute the outputs of this node and of its dirty ancestors, parents first."""
        for node in post_order([self], _dirty_parents):
            node.forward()

    def forward(self) -> None:
        """Gather the inputs from the parents (already computed) and compute ``y``."""
        self.x = [parent.y[i] for parent, i in self.parents]
        self.y = self.compute_output()
        self.dirty_y = False

    def compute_output(self) -> list[np.ndarray]:
        raise NotImplementedError(f"{type(self).__name__} does not define compute_output")

    # -- backward ------------------------------------------------------------------

    def get_gradient(self, i_input: int = 0) -> np.ndarray:
        """dJ/dx for input ``i_input`` (for a ParameterNode, dJ/dw), computed if needed.

        Outside a Graph the gradient flows from every descendant; a descendant
        with no children (and no GradientNode) contributes zero.
        """
        if self.dirty_dJdx:
            order = post_order([self], _dirty_gradient_children)
            for node in order:
                if node.dirty_y:
                    node.evaluate()
            for node in order:
                node.backward(node.children)
        if not 0 <= i_input < len(self.dJdx):
            raise GraphError(f"{self.describe()} has {len(self.dJdx)} input(s); "
                             f"input {i_input} does not exist")
        return self.dJdx[i_input]

    def backward(self, sources: Sequence[Sequence[tuple[Node, int]]]) -> None:
        """Sum the children's gradients per output into ``dJdy``, then compute ``dJdx``.

        ``sources[k]`` lists the ``(child, i_input)`` pairs whose gradient flows into
        output ``k``; an output with no source receives zero.
        """
        dJdy = []
        for k, pairs in enumerate(sources):
            if not pairs:
                dJdy.append(np.zeros_like(self.y[k]))
            elif len(pairs) == 1:
                child, i = pairs[0]
                dJdy.append(child.dJdx[i])
            else:
                child, i = pairs[0]
                total = child.dJdx[i] + pairs[1][0].dJdx[pairs[1][1]]
                for child, i in pairs[2:]:
                    total += child.dJdx[i]
                dJdy.append(total)
        self.dJdy = dJdy
        self.dJdx = self.compute_gradient()
        self.dirty_dJdx = False

    def compute_gradient(self) -> list[np.ndarray | None]:
        raise NotImplementedError(f"{type(self).__name__} does not define compute_gradient")

    def wants(self, i_input: int) -> bool:
        """Whether the gradient of input ``i_input`` is needed (skip costly ones if not)."""
        return self.needs_gradient is None or self.needs_gradient[i_input]

    # -- memoization ---------------------------------------------------------------

    def reset_memoization(self) -> None:
        """Mark this node and every node connected to it as needing recomputation."""
        for node in connected_component([self]):
            node.dirty_y = True
            node.dirty_dJdx = True

    # -- helpers for subclasses -----------------------------------------------------

    def check_same_shape(self, a: np.ndarray, b: np.ndarray) -> None:
        """Element-wise inputs must match exactly: no silent broadcasting."""
        if a.shape != b.shape:
            raise ShapeError(f"{self.describe()}: inputs of shapes {a.shape} and {b.shape} "
                             "must have the same shape (dagnet does not broadcast)")

    def check_matrix(self, a: np.ndarray, what: str = "input") -> None:
        if a.ndim != 2:
            raise ShapeError(f"{self.describe()}: {what} must be a (batch, features) matrix, "
                             f"got shape {a.shape}")


@register_node
class InputNode(Node):
    """A value fed from outside: the data ``X`` or the expected outputs ``Y``."""

    n_inputs = 0

    def __init__(self, value: np.ndarray | None = None, name: str | None = None):
        super().__init__([], name=name)
        self.value = None if value is None else np.asarray(value)

    def set_value(self, value: np.ndarray) -> None:
        """Set the value and mark every node connected to this one for recomputation."""
        self.value = np.asarray(value)
        self.reset_memoization()

    def compute_output(self) -> list[np.ndarray]:
        if self.value is None:
            raise GraphError(f"{self.describe()} has no value: pass it to Graph.propagate "
                             "(or backpropagate) or call set_value()")
        return [self.value]

    def compute_gradient(self) -> list[np.ndarray]:
        return []


@register_node
class ParameterNode(Node):
    """A learned weight ``w``; after backpropagation ``get_gradient(0)`` is dJ/dw."""

    n_inputs = 0

    def __init__(self, w: np.ndarray, name: str | None = None):
        super().__init__([], name=name)
        self.w = np.asarray(w)

    def compute_output(self) -> list[np.ndarray]:
        return [self.w]

    def compute_gradient(self) -> list[np.ndarray]:
        return [self.dJdy[0]]

    def get_gradient(self, i_input: int = 0) -> np.ndarray:
        if self.dirty_dJdx:
            super().get_gradient(0)
        if i_input != 0:
            raise GraphError(f"{self.describe()} has one gradient, dJ/dw (index 0)")
        return self.dJdx[0]


@register_node
class GradientNode(Node):
    """The source of backpropagation: a child of the cost sending back ``value`` (dJ/dJ = 1).

    Forward it passes its input through; backward it returns ``value`` (a scalar or
    an array of the input's shape) as the gradient of its input.
    """

    def __init__(self, parents: Iterable, value: float | np.ndarray = 1.0,
                 name: str | None = None):
        super().__init__(parents, name=name)
        self.value = value

    def config(self) -> dict:
        return {"value": float(self.value)} if np.ndim(self.value) == 0 else {}

    def compute_output(self) -> list[np.ndarray]:
        return [self.x[0]]

    def compute_gradient(self) -> list[np.ndarray]:
        x = self.x[0]
        return [np.broadcast_to(np.asarray(self.value, dtype=x.dtype), x.shape).copy()]


# -- graph traversal --------------------------------------------------------------------

def _parse_parent(node: Node, i_input: int, spec) -> tuple[Node, int]:
    if isinstance(spec, Node):
        parent, i_output = spec, 0
    elif (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], Node)
          and isinstance(spec[1], (int, np.integer))):
        parent, i_output = spec[0], int(spec[1])
    else:
        raise GraphError(f"{node.describe()}: input {i_input} must be a node or a "
                         f"(node, i_output) pair, got {spec!r}")
    if not 0 <= i_output < parent.nb_outputs:
        raise GraphError(f"{node.describe()}: input {i_input} reads output {i_output} of "
                         f"{parent.describe()}, which has {parent.nb_outputs} output(s)")
    return parent, i_output


def _dirty_parents(node: Node) -> Iterable[Node]:
    return (parent for parent, _ in node.parents if parent.dirty_y)


def _dirty_gradient_children(node: Node) -> Iterable[Node]:
    return (child for children in node.children for child, _ in children
            if child.dirty_dJdx)


def post_order(roots: Iterable[Node], neighbours: Callable[[Node], Iterable[Node]]
               ) -> list[Node]:
    """Every node reachable from ``roots`` through ``neighbours``, each after its neighbours.

    An explicit-stack depth-first search (no recursion); raises GraphError on a cycle.
    With ``neighbours`` = parents this is a topological order for the forward pass;
    with ``neighbours`` = children, an order for the backward pass.
    """
    order: list[Node] = []
    state: dict[Node, int] = {}  # 1: on the stack, 2: done
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(neighbours(root)))]
        while stack:
            node, pending = stack[-1]
            for nb in pending:
                seen = state.get(nb)
                if seen is None:
                    state[nb] = 1
                    stack.append((nb, iter(neighbours(nb))))
                    break
                if seen == 1:
                    path = [n for n, _ in stack]
                    path = path[next(k for k, n in enumerate(path) if n is nb):] + [nb]
                    raise GraphError("the graph has a cycle: "
                                     + " -> ".join(n.describe() for n in path))
            else:
                stack.pop()
                state[node] = 2
                order.append(node)
    return order


def parent_nodes(node: Node) -> list[Node]:
    return [parent for parent, _ in node.parents]


def child_nodes(node: Node) -> list[Node]:
    return [child for children in node.children for child, _ in children]


def connected_component(roots: Iterable[Node]) -> list[Node]:
    """Every node linked to ``roots`` by any chain of parent or child links."""
    seen = set()
    stack = list(roots)
    found = []
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        found.append(node)
        stack.extend(parent_nodes(node))
        stack.extend(child_nodes(node))
    return found
