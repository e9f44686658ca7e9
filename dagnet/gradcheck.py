"""Gradient checking: backpropagated gradients against float64 central differences.

``check_gradients(graph, X, Y)`` checks every parameter (element by element when
small, along random directions when large) and every intermediate node the
gradient flows through (along random directions of its output).
``check_node_gradients(make_node, inputs)`` checks one node's
``compute_gradient`` against its ``compute_output`` alone.

The relative error is ‖analytic - numeric‖ / max(‖analytic‖, ‖numeric‖); along a
direction u (‖u‖ = 1) it is |⟨g, u⟩ - numeric| / ‖g‖, the error relative to the
gradient's size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dagnet.graph import Graph
from dagnet.node import InputNode, Node, ParameterNode


@dataclass
class GradientCheck:
    """The worst relative error found for one parameter, node output or node input."""

    name: str
    relative_error: float
    method: str  # "elements" or "directions"


@dataclass
class GradientReport:
    """Results per parameter and per intermediate node; ``worst`` is the largest error."""

    parameters: list[GradientCheck] = field(default_factory=list)
    nodes: list[GradientCheck] = field(default_factory=list)

    @property
    def worst(self) -> float:
        return max((c.relative_error for c in self.parameters + self.nodes), default=0.0)

    def __str__(self) -> str:
        lines = [f"{'checked':<48} {'method':<10} relative error"]
        for check in self.parameters + self.nodes:
            lines.append(f"{check.name:<48} {check.method:<10} {check.relative_error:.2e}")
        lines.append(f"worst: {self.worst:.2e}")
        return "\n".join(lines)


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """‖a - n‖ / max(‖a‖, ‖n‖); 0 when both are zero."""
    scale = max(np.linalg.norm(analytic), np.linalg.norm(numeric))
    return 0.0 if scale == 0 else float(np.linalg.norm(analytic - numeric) / scale)


def _directional_error(gradient: np.ndarray, directions: Sequence[np.ndarray],
                       numeric: Sequence[float]) -> float:
    norm = np.linalg.norm(gradient)
    errors = [abs(np.vdot(gradient, u) - n) for u, n in zip(directions, numeric)]
    worst = max(errors, default=0.0)
    return 0.0 if norm == 0 and worst == 0 else float(worst / max(norm, 1e-300))


def _unit_directions(rng: np.random.Generator, shape, count: int) -> list[np.ndarray]:
    directions = []
    for _ in range(count):
        u = rng.standard_normal(shape)
        directions.append(u / max(np.linalg.norm(u), 1e-300))
    return directions


def check_gradients(graph: Graph, X, Y, eps: float = 1e-6, max_elements: int = 200,
                    n_directions: int = 4, check_nodes: bool = True,
                    rng: np.random.Generator | None = None) -> GradientReport:
    """Compare ``graph``'s backpropagated gradients with central differences, in float64.

    Parameters and inputs are converted to float64 for the check and restored
    afterwards.  Parameters with at most ``max_elements`` entries are checked
    entry by entry, larger ones along ``n_directions`` random directions; so is
    the output of every node the gradient flows through.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    X = [np.asarray(x, dtype=np.float64) for x in (X if isinstance(X, (list, tuple)) else [X])]
    Y = [np.asarray(y, dtype=np.float64) for y in (Y if isinstance(Y, (list, tuple)) else [Y])]
    saved = [node.w for node in graph.parameter_nodes]
    try:
        for node in graph.parameter_nodes:
            node.w = node.w.astype(np.float64)
        graph.propagate(X)
        graph.backpropagate(Y)
        # Copy every analytic gradient before the numerical passes overwrite the memos.
        analytic = [np.array(node.get_gradient(0)) for node in graph.parameter_nodes]
        gradients = {node: [None if g is None else np.array(g) for g in node.dJdy]
                     for node, _ in graph._backward_plan}
        report = GradientReport()
        for node, grad in zip(graph.parameter_nodes, analytic):
            report.parameters.append(_check_parameter(graph, node, grad, X, Y, eps,
                                                      max_elements, n_directions, rng))
        if check_nodes:
            for node, _ in graph._backward_plan:
                if isinstance(node, ParameterNode) or node is graph.gradient_node:
                    continue
                for k, g in enumerate(gradients[node]):
                    report.nodes.append(_check_node_output(graph, node, k, g, X, Y, eps,
                                                           n_directions, rng))
        return report
    finally:
        for node, w in zip(graph.parameter_nodes, saved):
            node.w = w
        graph.reset_memoization()


def _cost(graph: Graph, X, Y) -> float:
    graph.propagate(X)
    return graph.compute_cost(Y)


def _check_parameter(graph, node, analytic, X, Y, eps, max_elements, n_directions, rng):
    w = node.w
    if w.size <= max_elements:
        numeric = np.empty_like(w)
        for idx in np.ndindex(w.shape):
            old = w[idx]
            w[idx] = old + eps
            plus = _cost(graph, X, Y)
            w[idx] = old - eps
            minus = _cost(graph, X, Y)
            w[idx] = old
            numeric[idx] = (plus - minus) / (2 * eps)
        return GradientCheck(node.describe(), relative_error(analytic, numeric), "elements")
    directions = _unit_directions(rng, w.shape, n_directions)
    numeric = []
    for u in directions:
        node.w = w + eps * u
        plus = _cost(graph, X, Y)
        node.w = w - eps * u
        minus = _cost(graph, X, Y)
        numeric.append((plus - minus) / (2 * eps))
    node.w = w
    return GradientCheck(node.describe(), _directional_error(analytic, directions, numeric),
                         "directions")


def _cost_with_output_shift(graph: Graph, target: Node, k: int, delta: np.ndarray, X, Y
                            ) -> float:
    """The cost when output ``k`` of ``target`` is replaced by itself plus ``delta``."""
    graph.reset_memoization()
    for node, value in zip(graph.input_nodes + graph.expected_output_nodes, list(X) + list(Y)):
        node.value = value
    for node in graph._cost_order:
        node.forward()
        if node is target:
            node.y = list(node.y)
            node.y[k] = node.y[k] + delta
    return float(graph.cost_node.y[0])


def _check_node_output(graph, node, k, gradient, X, Y, eps, n_directions, rng):
    name = node.describe() + (f" output {k}" if node.nb_outputs > 1 else "")
    shape = np.shape(node.y[k])
    directions = _unit_directions(rng, shape, n_directions)
    numeric = [(_cost_with_output_shift(graph, node, k, eps * u, X, Y)
                - _cost_with_output_shift(graph, node, k, -eps * u, X, Y)) / (2 * eps)
               for u in directions]
    return GradientCheck(name, _directional_error(gradient, directions, numeric), "directions")


@dataclass
class NodeCheck:
    """Relative error of each input's gradient (None for inputs not checked)."""

    node: str
    errors: list[float | None]

    @property
    def worst(self) -> float:
        return max((e for e in self.errors if e is not None), default=0.0)


def check_node_gradients(make_node: Callable[[list[Node]], Node], inputs: Sequence[np.ndarray],
                         differentiable: Sequence[bool] | None = None, eps: float = 1e-6,
                         max_elements: int = 200, n_directions: int = 4,
                         rng: np.random.Generator | None = None) -> NodeCheck:
    """Check one node: J = Σ_k ⟨R_k, y_k⟩ for random R_k, dJ/dx from compute_gradient
    against central differences of compute_output, in float64.

    ``make_node(parents)`` builds the node on InputNodes holding ``inputs``;
    ``differentiable[i]`` False skips input i (an integer index, say).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    inputs = [np.asarray(a, dtype=np.float64) for a in inputs]
    differentiable = list(differentiable or [True] * len(inputs))
    parents = [InputNode(a) for a in inputs]
    node = make_node(parents)
    node.evaluate()
    upstream = [rng.standard_normal(np.shape(y)) for y in node.y]
    node.dJdy = [np.asarray(r) for r in upstream]
    node.needs_gradient = None
    analytic = [None if g is None else np.array(g) for g in node.compute_gradient()]

    def projected_cost(xs: list[np.ndarray]) -> float:
        node.x = xs
        return float(sum(np.vdot(r, y) for r, y in zip(upstream, node.compute_output())))

    errors: list[float | None] = []
    for i, a in enumerate(inputs):
        if not differentiable[i]:
            errors.append(None)
            continue
        if a.size <= max_elements:
            numeric = np.empty_like(a)
            for idx in np.ndindex(a.shape):
                shifted = a.copy()
                shifted[idx] += eps
                plus = projected_cost(inputs[:i] + [shifted] + inputs[i + 1:])
                shifted[idx] -= 2 * eps
                minus = projected_cost(inputs[:i] + [shifted] + inputs[i + 1:])
                numeric[idx] = (plus - minus) / (2 * eps)
            errors.append(relative_error(analytic[i], numeric))
        else:
            directions = _unit_directions(rng, a.shape, n_directions)
            numeric = [(projected_cost(inputs[:i] + [a + eps * u] + inputs[i + 1:])
                        - projected_cost(inputs[:i] + [a - eps * u] + inputs[i + 1:]))
                       / (2 * eps) for u in directions]
            errors.append(_directional_error(analytic[i], directions, numeric))
    return NodeCheck(node.describe(), errors)
