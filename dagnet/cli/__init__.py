"""The ``dagnet`` command: one subcommand per module, listed explicitly below."""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
import traceback

import shtab

from dagnet.argtypes import apply_config, given_options, leaf_parser
from dagnet.errors import DagnetError
from dagnet.version import __version__

# Each module has register(subparsers), which adds its parser(s) with set_defaults(run=...).
COMMAND_MODULES: list[str] = ["mnist", "toy", "draw", "optimizers", "reber", "charrnn", "gpt",
                              "export", "reproduce"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dagnet",
        description="dagnet: a deep learning framework on NumPy, built as a computational "
                    "graph. Each command trains or inspects a model and writes its figures "
                    "and metrics.json into a run folder.")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks and check every node for NaN/inf")
    parser.add_argument("--version", action="version", version=f"dagnet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"dagnet.cli.{name}").register(subparsers)
    _register_completion(subparsers, parser)
    return parser


def _register_completion(subparsers: argparse._SubParsersAction,
                         parser: argparse.ArgumentParser) -> None:
    """``dagnet completion bash|zsh``: the completion script of ``parser``, made by shtab."""
    completion = subparsers.add_parser(
        "completion", help="print the shell completion script for bash or zsh",
        description="Print the completion script of the dagnet command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="install it, then open a new shell:\n"
               "  bash: dagnet completion bash \\\n"
               "          > ~/.local/share/bash-completion/completions/dagnet\n"
               "  zsh:  dagnet completion zsh > ~/.zfunc/_dagnet\n"
               "        (with fpath=(~/.zfunc $fpath) before compinit in ~/.zshrc)")
    completion.add_argument("shell", choices=["bash", "zsh"], help="the shell to complete for")
    completion.set_defaults(run=functools.partial(_print_completion, parser))


def _print_completion(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    print(shtab.complete(parser, shell=args.shell))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except KeyboardInterrupt:  # Ctrl-C while starting up: quietly, like any interruption
        print("dagnet: interrupted", file=sys.stderr)
        return 130
    try:
        leaf = leaf_parser(parser, argv)
        if getattr(args, "config", None) is not None:
            apply_config(leaf, args.config)
            args = parser.parse_args(argv)
        args.argv, args.given = argv, given_options(leaf, argv)
        return int(args.run(args) or 0)
    except DagnetError as exc:
        return _fail(args, str(exc))
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(args, f"{where}{exc.strerror or exc}")
    except MemoryError:
        return _fail(args, "out of memory (a smaller --batch-size, or a smaller model?)")
    except KeyboardInterrupt:
        print(f"dagnet {args.command}: interrupted", file=sys.stderr)
        return 130


def _fail(args: argparse.Namespace, message: str) -> int:
    """One line on stderr and status 1; the traceback too with --debug."""
    if args.debug:
        traceback.print_exc()
    print(f"dagnet {args.command}: error: {message}", file=sys.stderr)
    return 1
