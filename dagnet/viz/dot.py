"""Graphviz DOT text for a Graph, and rendering it with the ``dot`` program if present."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from dagnet.errors import DagnetError
from dagnet.files import atomic_write_text
from dagnet.node import InputNode, Node, ParameterNode

_STYLES = {
    "input": 'shape=ellipse, style=filled, fillcolor="#cfe8ff"',
    "parameter": 'shape=box, style=filled, fillcolor="#ffe7a8"',
    "operation": 'shape=box, style="rounded,filled", fillcolor="#ffffff"',
    "cost": 'shape=octagon, style=filled, fillcolor="#ffc9c9"',
    "gradient": 'shape=plaintext',
}


def node_kind(graph, node: Node) -> str:
    """input, parameter, cost, gradient or operation: how the drawing styles a node."""
    if isinstance(node, InputNode):
        return "input"
    if isinstance(node, ParameterNode):
        return "parameter"
    if node is graph.gradient_node:
        return "gradient"
    if node is graph.cost_node or type(node).__module__ == "dagnet.nodes.losses":
        return "cost"
    return "operation"


def _label(node: Node) -> str:
    kind = type(node).__name__.removesuffix("Node")
    text = f"{node.name}\\n{kind}" if node.name else kind
    if isinstance(node, ParameterNode):
        text += f"\\n{tuple(node.w.shape)}"
    elif node.y is not None and not node.dirty_y and node.nb_outputs == 1:
        text += f"\\n{tuple(node.y[0].shape)}"
    return text.replace('"', '\\"')


def graph_to_dot(graph, title: str = "dagnet") -> str:
    """The DOT text of ``graph``: one statement per node and per edge."""
    nodes = list(dict.fromkeys(graph.nodes + ([graph.gradient_node]
                                              if graph.gradient_node else [])))
    index = {node: k for k, node in enumerate(nodes)}
    lines = [f'digraph "{title}" {{', "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for node in nodes:
        lines.append(f'  n{index[node]} [label="{_label(node)}", '
                     f"{_STYLES[node_kind(graph, node)]}];")
    for node in nodes:
        for i_input, (parent, i_output) in enumerate(node.parents):
            if parent not in index:
                continue
            attrs = []
            if parent.nb_outputs > 1 or len(node.parents) > 1:
                attrs.append(f'label="{i_output}→{i_input}"')
            suffix = f" [{', '.join(attrs)}]" if attrs else ""
            lines.append(f"  n{index[parent]} -> n{index[node]}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_dot(dot_text: str, path: Path) -> Path:
    """Write ``path`` (.svg or .png) with Graphviz; without Graphviz write the .dot and say so.

    Returns the file written.  Raises DagnetError when ``dot`` is missing, after
    writing the .dot file next to the requested path.
    """
    path = Path(path)
    dot_path = path.with_suffix(".dot")
    atomic_write_text(dot_path, dot_text)
    fmt = path.suffix.lstrip(".").lower()
    if fmt == "dot":
        return dot_path
    if fmt not in {"svg", "png", "pdf"}:
        raise DagnetError(f"cannot draw to {path}: use a .svg, .png, .pdf or .dot file name")
    program = shutil.which("dot")
    if program is None:
        raise DagnetError(f"Graphviz's 'dot' program is not installed; wrote {dot_path} "
                          "instead. Install Graphviz (Debian/Ubuntu: apt install graphviz; "
                          "macOS: brew install graphviz) to render it")
    result = subprocess.run([program, f"-T{fmt}", "-o", str(path), str(dot_path)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DagnetError(f"dot failed on {dot_path}: {result.stderr.strip()}")
    return path
