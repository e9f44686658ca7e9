"""The ``dagnet`` command: one subcommand per module, listed explicitly below."""

from __future__ import annotations

import argparse
import functools
import sys
import traceback

import shtab

from dagnet import __version__
from dagnet.errors import DagnetError

# Each module has register(subparsers), which adds its parser(s) with set_defaults(run=...).
COMMAND_MODULES: list[str] = ["mnist", "toy", "draw", "optimizers", "reber", "charrnn",
                              "reproduce"]


def build_parser() -> argparse.ArgumentParser:
    import importlib

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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except DagnetError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"dagnet {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if args.debug:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"dagnet {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"dagnet {args.command}: interrupted", file=sys.stderr)
        return 130
