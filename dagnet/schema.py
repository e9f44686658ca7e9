"""Checks of the JSON a model file holds: types, ranges and the sizes they imply.

Every check takes the value and ``where`` it sits in the file (``config.nodes[3].
config.length``) and raises ModelFileError naming that place, or returns the value.
A check of a node's or a model's configuration has the signature
``check(value, where, limits)``; ``up_to(low, "max_layer_size")`` makes one whose
upper bound is a field of ``dagnet.limits.Limits``, so users with big models can
raise it.  Node classes and model classes declare their schemas with these (the
schema sits beside the code that reads the values); ``dagnet.io`` applies them
before anything is built.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from dagnet.errors import ModelFileError
from dagnet.limits import Limits

Check = Callable[[object, str, Limits], object]


def show(value) -> str:
    """A JSON value as the file spells it, cut short."""
    if isinstance(value, (bool, int, float, list, dict)) or value is None:
        text = json.dumps(value, ensure_ascii=False)  # true, null: as the file spells them
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def integer(value, where: str, low: int, high: int | None = None,
             option: str | None = None) -> int:
    """``value`` if it is an integer (not a boolean) in [low, high] (high None: no upper
    bound); ``option`` names the Limits field that sets ``high``."""
    if type(value) is not int or value < low or (high is not None and value > high):
        hint = (f" (Limits.{option}; raise it to read bigger models)"
                if option and high is not None and type(value) is int and value > high
                else "")
        wanted = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ModelFileError(f"{where}: expected an integer {wanted}, got "
                             f"{show(value)}{hint}")
    return value


def number(value, where: str, low: float, below: float) -> float:
    """``value`` as a float if it is a finite number (not a boolean) in [low, below)."""
    try:
        number = float(value) if type(value) in (int, float) else math.nan
    except OverflowError:  # an integer of hundreds of digits
        number = math.nan
    if not math.isfinite(number) or not low <= number < below:
        wanted = (f"a number in [{low}, {below})" if math.isfinite(low) or math.isfinite(below)
                  else "a finite number")
        raise ModelFileError(f"{where}: expected {wanted}, got {show(value)}")
    return number


def choice(value, where: str, choices: Sequence[str]) -> str:
    if type(value) is not str or value not in choices:
        raise ModelFileError(f"{where}: expected one of {', '.join(map(repr, choices))}, got "
                             f"{show(value)}")
    return value


def boolean(value, where: str) -> bool:
    if type(value) is not bool:
        raise ModelFileError(f"{where}: expected true or false, got {show(value)}")
    return value


def list_of(value, where: str, low: int, high: int, option: str | None = None) -> list:
    """``value`` if it is a list of ``low`` to ``high`` items."""
    if type(value) is not list:
        raise ModelFileError(f"{where}: expected a list, got {show(value)}")
    if not low <= len(value) <= high:
        hint = f" (Limits.{option})" if option and len(value) > high else ""
        wanted = f"{low} to {high}" if low < high else str(low)
        raise ModelFileError(f"{where}: expected {wanted} items, got {len(value)}{hint}")
    return value


def json_object(value, where: str, required: set[str], optional: set[str] = frozenset()) -> dict:
    """``value`` if it is an object with every key of ``required`` and no unknown key."""
    if type(value) is not dict:
        raise ModelFileError(f"{where}: expected an object, got {show(value)}")
    missing = sorted(required - value.keys())
    if missing:
        raise ModelFileError(f"{where}: missing key {missing[0]!r}")
    unknown = sorted(value.keys() - required - optional)
    if unknown:
        known = ", ".join(sorted(required | optional)) or "none"
        raise ModelFileError(f"{where}: unknown key {show(unknown[0])} (expected keys: "
                             f"{known})")
    return value


@contextmanager
def about(path: str | os.PathLike) -> Iterator[None]:
    """Prefix the errors of the checks inside with the file's name."""
    try:
        yield
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None


def up_to(low: int, option: str) -> Check:
    """A check: an integer from ``low`` to the Limits field ``option``."""
    def check(value, where: str, limits: Limits) -> int:
        return integer(value, where, low, getattr(limits, option), option)
    return check


def sizes(value, where: str, limits: Limits) -> list[int]:
    """A check: a list of up to ``max_node_io`` sizes, each up to ``max_layer_size``."""
    items = list_of(value, where, 1, limits.max_node_io, "max_node_io")
    return [up_to(1, "max_layer_size")(s, f"{where}[{i}]", limits)
            for i, s in enumerate(items)]


def finite(value, where: str, limits: Limits) -> float:
    """A check: any finite number."""
    return number(value, where, -math.inf, math.inf)


def check_weights(weights: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]],
                  dtype: str) -> None:
    """The weights must be exactly ``shapes``, of ``dtype``: compared before building."""
    for name, shape in shapes.items():
        w = weights.get(name)
        if w is None:
            raise ModelFileError(f"tensor {name!r}: the configuration implies it, the file "
                                 "does not hold it")
        if w.shape != shape or w.dtype.name != dtype:
            raise ModelFileError(f"tensor {name!r} is {w.dtype}{list(w.shape)}, the "
                                 f"configuration implies {dtype}{list(shape)}")
    extra = sorted(weights.keys() - shapes.keys())
    if extra:
        raise ModelFileError(f"tensor {extra[0]!r} is not a weight of the configuration")


def flag(value, where: str, limits: Limits) -> bool:
    """A check: true or false."""
    return boolean(value, where)


def axis(value, where: str, limits: Limits) -> int:
    """A check: an axis of an array of at most 32 dimensions, from -32 to 31."""
    return integer(value, where, -32, 31) if type(value) is int and value < 0 else integer(
        value, where, 0, 31)


def dims(value, where: str, limits: Limits) -> list[int]:
    """A check: up to 32 dimensions, each -1 (inferred), 0 (kept) or a size up to
    ``max_layer_size``."""
    items = list_of(value, where, 0, 32)
    return [integer(d, f"{where}[{i}]", -1, limits.max_layer_size, "max_layer_size")
            for i, d in enumerate(items)]


def positive_number(value, where: str, limits: Limits) -> float:
    """A check: a finite number > 0."""
    result = number(value, where, 0, math.inf)
    if result == 0:
        raise ModelFileError(f"{where}: expected a number > 0, got {show(value)}")
    return result


def one_of(*choices: str) -> Check:
    """A check: one of ``choices``."""
    def check(value, where: str, limits: Limits) -> str:
        return choice(value, where, choices)
    return check


def finite_or_null(value, where: str, limits: Limits) -> float | None:
    """A check: a finite number, or null (standing for -inf where a node says so)."""
    return None if value is None else number(value, where, -math.inf, math.inf)


def pair(low: int) -> Check:
    """A check: two integers from ``low`` to ``max_layer_size`` (a height and a width)."""
    def check(value, where: str, limits: Limits) -> list[int]:
        items = list_of(value, where, 2, 2)
        return [integer(v, f"{where}[{i}]", low, limits.max_layer_size, "max_layer_size")
                for i, v in enumerate(items)]
    return check


def rate(value, where: str, limits: Limits) -> float:
    """A check: a probability in [0, 1)."""
    return number(value, where, 0, 1)
