"""The ``dagnet`` command: one subcommand per module, listed explicitly below."""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
import tomllib
import traceback
from pathlib import Path

import shtab

from dagnet.errors import DagnetError
from dagnet.version import __version__

# Each module has register(subparsers), which adds its parser(s) with set_defaults(run=...).
# TEMPORARY while the commands move onto the Trainer: each is added back once converted.
COMMAND_MODULES: list[str] = ["mnist", "toy", "draw", "optimizers", "reber", "charrnn"]


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


def leaf_parser(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    """The (sub)subparser that ``argv`` selects: ``dagnet charrnn train`` -> its parser."""
    for token in argv:
        sub = next((a for a in parser._actions  # argparse has no public accessor
                    if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None:
            break
        if token in sub.choices:
            parser = sub.choices[token]
    return parser


def given_options(leaf: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The destinations of the options written on the command line."""
    flags = leaf._option_string_actions
    return {flags[token.split("=", 1)[0]].dest for token in argv
            if token.split("=", 1)[0] in flags}


def apply_config(leaf: argparse.ArgumentParser, path: Path) -> None:
    """Set ``leaf``'s defaults from a TOML file whose keys are its long flag names."""
    try:
        with open(path, "rb") as f:
            config = tomllib.load(f)
    except OSError as exc:
        raise DagnetError(f"{path}: cannot read the configuration ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise DagnetError(f"{path}: not valid TOML ({exc})") from None
    flags = leaf._option_string_actions
    defaults = {}
    for key, value in config.items():
        action = flags.get(f"--{key}")
        if action is None or key in ("config", "resume"):
            raise DagnetError(f"{path}: {key!r} is not an option of `{leaf.prog}` (keys are "
                              "the long flag names, without --)")
        values = value if isinstance(value, list) else [value]
        try:
            converted = [action.type(str(v)) if action.type else v for v in values]
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise DagnetError(f"{path}: {key} = {value!r}: {exc}") from None
        if action.choices is not None and any(v not in action.choices for v in converted):
            raise DagnetError(f"{path}: {key} = {value!r}: choose from "
                              f"{', '.join(map(str, action.choices))}")
        defaults[action.dest] = converted if isinstance(value, list) else converted[0]
    leaf.set_defaults(**defaults)


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
