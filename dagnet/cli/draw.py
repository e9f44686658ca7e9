"""``dagnet draw``: a picture of a graph, from a model file or a built-in example.

Writes ``graph.dot`` (Graphviz DOT text) and, when Graphviz's ``dot`` program is
installed, ``graph.svg`` (or .png/.pdf) rendered from it; without Graphviz it
says how to install it.  Also ``metrics.json`` with the graph's size.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from dagnet.cli.common import add_debug_argument, run_folder, say, write_metrics
from dagnet.errors import DagnetError
from dagnet.graph import Graph
from dagnet.io import load
from dagnet.models import fully_connected
from dagnet.viz.dot import render_dot

EXAMPLES = {
    "xor": "the tutorial's XOR network: 2 inputs, layers [4, 4, 1], tanh then sigmoid",
    "mnist": "the tutorial's MNIST network: 784 inputs, layers [128, 64, 10], tanh then "
             "softmax",
}
INSTALL_GRAPHVIZ = ("install Graphviz to render it (Debian/Ubuntu: sudo apt install graphviz; "
                    "Fedora: sudo dnf install graphviz; macOS: brew install graphviz; conda: "
                    "conda install graphviz) and run this again, or run: dot -Tsvg {dot} -o "
                    "{svg}")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "draw", help="draw a graph (a model file or an example) with Graphviz",
        description="Write the graph of a saved model (or of a built-in example) as Graphviz "
                    "DOT, and render it to SVG/PNG/PDF when Graphviz's dot program is "
                    "installed.  Inputs, parameters, operations and costs are styled apart.")
    parser.add_argument("model", nargs="?", type=Path, default=None,
                        help="a model file written by dagnet (model.safetensors)")
    parser.add_argument("--example", choices=sorted(EXAMPLES), default=None,
                        help="draw a built-in network instead: "
                             + "; ".join(f"{k}: {v}" for k, v in EXAMPLES.items()))
    parser.add_argument("--formulation", choices=["affine", "tutorial"], default="affine",
                        help="for --example: x·W + b nodes (affine) or the tutorial's "
                             "(1|x)·W (default affine)")
    parser.add_argument("--format", choices=["svg", "png", "pdf", "dot"], default="svg",
                        help="picture format (default svg); dot writes only the DOT text")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the drawing and metrics.json (default "
                             "runs/draw-<timestamp>/)")
    add_debug_argument(parser)
    parser.set_defaults(run=run_draw)


def example_graph(name: str, formulation: str = "affine") -> Graph:
    """The graph of a built-in example (weights from seed 0; only the structure matters)."""
    if name == "xor":
        return fully_connected([4, 4, 1], 2, formulation=formulation)
    if name == "mnist":
        return fully_connected([128, 64, 10], 784, output_activation="softmax",
                               formulation=formulation)
    raise DagnetError(f"no example named {name!r}; choose from {', '.join(EXAMPLES)}")


def run_draw(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if (args.model is None) == (args.example is None):
        raise DagnetError("draw needs a model file or --example NAME (one of them)")
    if args.model is not None:
        graph, source, title = load(args.model), str(args.model), args.model.stem
    else:
        graph = example_graph(args.example, args.formulation)
        source, title = f"example {args.example}", args.example
    folder = run_folder(args, "draw")
    dot_text = graph.to_dot(title)
    dot_path = folder / "graph.dot"
    rendered = None
    if args.format == "dot":
        render_dot(dot_text, dot_path)
        say(f"draw: wrote {dot_path}")
    elif shutil.which("dot") is None:
        render_dot(dot_text, dot_path)
        picture = folder / f"graph.{args.format}"
        say(f"draw: Graphviz's dot program is not installed, so wrote {dot_path} only; "
            + INSTALL_GRAPHVIZ.format(dot=dot_path, svg=picture))
    else:
        rendered = render_dot(dot_text, folder / f"graph.{args.format}")
        say(f"draw: wrote {rendered} (and {dot_path})")
    nodes = list(graph.nodes)
    write_metrics(folder, {
        "command": "draw", "source": source, "format": args.format,
        "rendered": rendered is not None,
        "files": [p.name for p in (dot_path, rendered) if p is not None],
        "nodes": len(nodes), "edges": sum(len(node.parents) for node in nodes),
        "parameters": len(graph.parameter_nodes),
        "weights": int(sum(node.w.size for node in graph.parameter_nodes)),
        "seconds": time.perf_counter() - started})
    return 0
