"""``dagnet draw``: graph.dot (Graphviz DOT) of a model file or a built-in example, the
picture rendered from it when Graphviz's ``dot`` is installed (else how to install it),
and metrics.json with the graph's size."""

from __future__ import annotations

import argparse
import datetime
import shutil
from pathlib import Path

from dagnet.argtypes import out_folder
from dagnet.cli.run import add_debug_argument, say
from dagnet.io import load
from dagnet.models import fully_connected
from dagnet.training import RunRecord
from dagnet.viz.dot import graph_to_dot, render_dot

# The tutorial's networks: fully_connected(layers, inputs, hidden and output activations).
EXAMPLES = {"xor": ([4, 4, 1], 2, "tanh", "sigmoid"), "mnist": ([128, 64, 10], 784, "tanh",
                                                                 "softmax")}
INSTALL_GRAPHVIZ = ("install Graphviz to render it (Debian/Ubuntu: sudo apt install graphviz; "
                    "Fedora: sudo dnf install graphviz; macOS: brew install graphviz; conda: "
                    "conda install graphviz) and run this again, or: dot -Tsvg {dot} -o {svg}")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "draw", help="draw a graph (a model file or an example) with Graphviz",
        description="Write the graph of a saved model or a built-in example as Graphviz DOT, "
                    "rendered to SVG/PNG/PDF when Graphviz's dot program is installed.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("model", nargs="?", type=Path, default=None,
                        help="a model file written by dagnet (model.safetensors)")
    source.add_argument("--example", choices=sorted(EXAMPLES), default=None,
                        help="draw a built-in network instead: " + "; ".join(
                            f"{k}: {n} inputs, layers {layers}, {h} then {o}"
                            for k, (layers, n, h, o) in EXAMPLES.items()))
    parser.add_argument("--formulation", choices=["affine", "tutorial"], default="affine",
                        help="for --example: x·W + b nodes (affine) or the tutorial's "
                             "(1|x)·W (default affine)")
    parser.add_argument("--format", choices=["svg", "png", "pdf", "dot"], default="svg",
                        help="picture format (default svg); dot writes only the DOT text")
    parser.add_argument("--out", type=out_folder, default=None, metavar="DIR", help="folder for "
                        "the drawing and metrics.json (default runs/draw-<timestamp>/)")
    add_debug_argument(parser)
    parser.set_defaults(run=run_draw)


def run_draw(args: argparse.Namespace) -> int:
    if args.model is not None:
        graph, source, title = load(args.model), str(args.model), args.model.stem
    else:
        graph = fully_connected(*EXAMPLES[args.example], formulation=args.formulation)
        source, title = f"example {args.example}", args.example
    folder = args.out or Path("runs") / f"draw-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    record = RunRecord(folder, "draw", getattr(args, "argv", None))
    dot_path, picture = folder / "graph.dot", folder / f"graph.{args.format}"
    if args.format != "dot" and shutil.which("dot") is None:
        say(f"draw: Graphviz's dot program is not installed, so wrote {dot_path} only; "
            + INSTALL_GRAPHVIZ.format(dot=dot_path, svg=picture))
        picture = dot_path
    render_dot(graph_to_dot(graph, title), picture)  # the .dot always, the picture from it
    record.add_file("dot", dot_path)
    if picture != dot_path:
        record.add_file("picture", picture)
        say(f"draw: wrote {picture} (and {dot_path})")
    elif args.format == "dot":
        say(f"draw: wrote {dot_path}")
    nodes = list(graph.nodes)
    record.write(source=source, format=args.format, rendered=picture != dot_path,
                 nodes=len(nodes), edges=sum(len(node.parents) for node in nodes),
                 parameters=len(graph.parameter_nodes),
                 weights=int(sum(node.w.size for node in graph.parameter_nodes)))
    return 0
