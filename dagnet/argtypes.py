"""Argument types and helpers for argparse: every bad value is refused by the parser, in
one line; a TOML file can stand for the flags (``apply_config``).

Counts, seeds, rates, budgets and folders, each checked where it is parsed, so that no
bad value (a negative seed, ``nan``, ``inf``, an empty folder name) reaches NumPy.
The dagnet commands and a user's own scripts use the same ones.
"""

from __future__ import annotations

import argparse
import math
import tomllib
from pathlib import Path

from dagnet.errors import DagnetError


def positive_int(text: str) -> int:
    """An argparse ``type`` for counts: epochs, batch sizes, layer sizes."""
    value = integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse ``type`` for seeds and lengths: 0, 1, 2..."""
    value = integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    """An argparse ``type`` for rates and budgets: a finite number > 0."""
    value = number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def finite_float(text: str) -> float:
    """An argparse ``type``: any finite number (the declared range is checked later)."""
    return number(text)


def non_negative_float(text: str) -> float:
    value = number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    value = number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1), got {text}")
    return value


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def out_folder(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder, got an empty string")
    return Path(text)


def threads(text: str) -> int | str:
    """``auto`` or a positive count of BLAS threads."""
    return "auto" if text == "auto" else positive_int(text)


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


def take_checkpoint_options(args: argparse.Namespace, saved_options: dict) -> None:
    """A resumed run continues the saved one: every option of the checkpoint's run that
    the command line does not give again takes the checkpoint's value."""
    given = getattr(args, "given", set())
    vars(args).update({key: value for key, value in saved_options.items()
                       if key not in given and hasattr(args, key)})
