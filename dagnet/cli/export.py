"""``dagnet export``: a model file as ONNX, or its weights under PyTorch's names."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import dagnet
from dagnet.argtypes import positive_int
from dagnet.cli.run import add_debug_argument, say
from dagnet.errors import DagnetError
from dagnet.export import DEFAULT_OPSET, MIN_OPSET, export_onnx, to_torch_state_dict
from dagnet.export.onnx import example_inputs, newest_opset, onnxruntime_difference
from dagnet.io import write_safetensors

FORMATS = {".onnx": "ONNX", ".safetensors": "PyTorch state dict"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="write a model as ONNX, or its weights under PyTorch's names",
        description="Write a dagnet model as ONNX (FILE.onnx: MLPs, MNIST models with their "
                    "preprocessing, RNN/LSTM/GRU nets, char-rnn as one step with its states) or "
                    "its weights under PyTorch's names (FILE.safetensors). See docs/export.md.")
    parser.add_argument("model", type=Path, help="a model file written by dagnet")
    parser.add_argument("--to", type=target, required=True, metavar="FILE",
                        help="FILE.onnx or FILE.safetensors")
    parser.add_argument("--opset", type=opset, default=DEFAULT_OPSET,
                        help=f"ONNX opset, {MIN_OPSET} or later (default {DEFAULT_OPSET})")
    parser.add_argument("--check", action="store_true",
                        help="run the ONNX file in onnxruntime on random inputs and report "
                             "the largest difference from dagnet's outputs")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_debug_argument(parser)
    parser.set_defaults(run=run_export)


def target(text: str) -> Path:
    if Path(text).suffix not in FORMATS:
        raise argparse.ArgumentTypeError(f"must end in {' or '.join(FORMATS)}, got {text!r}")
    return Path(text)


def opset(text: str) -> int:
    value, newest = positive_int(text), newest_opset()
    if value < MIN_OPSET or (newest is not None and value > newest):
        raise argparse.ArgumentTypeError(f"must lie in {MIN_OPSET} to {newest or '...'}, "
                                         f"got {text}")
    return value


def run_export(args: argparse.Namespace) -> int:
    onnx = args.to.suffix == ".onnx"
    if args.check and not onnx:
        raise DagnetError("--check runs an ONNX file: give --to FILE.onnx")
    model = dagnet.load(args.model)
    started = time.perf_counter()
    if onnx:
        export_onnx(model, args.to, args.opset)
    else:
        write_safetensors(args.to, to_torch_state_dict(model),
                          {"format": "pt", "dagnet_model": type(model).__name__})
    summary = {"model": str(args.model), "to": str(args.to), "format": FORMATS[args.to.suffix],
               "seconds": round(time.perf_counter() - started, 4)}
    checked = ""
    if args.check:
        inputs = example_inputs(model, np.random.default_rng(0))
        summary["max_difference"] = onnxruntime_difference(model, args.to, inputs)
        checked = f"; onnxruntime vs dagnet: max |diff| {summary['max_difference']:.3g}"
    if args.json:
        print(json.dumps(summary))
    else:
        say(f"wrote {args.to} ({summary['format']}) in {summary['seconds']:.3f} s{checked}")
    return 0
