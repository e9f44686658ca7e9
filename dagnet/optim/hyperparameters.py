"""Hyperparameter: the one declaration of an optimizer's setting.

An algorithm lists its hyperparameters once, learning rate included::

    hyperparameters = (
        learning_rate(0.001),
        decay("beta1", 0.9, "decay of the gradient average"),
        positive("eps", 1e-8, "epsilon of the denominator"),
    )

and everything else derives from that list: the constructor's keywords, their
defaults and validation, the attributes ``compute_direction`` reads
(``self.beta1``), ``config()`` / ``from_config()``, and the command line's
``--beta1`` with its help text (``dagnet.optim.options``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from dagnet.optim.checks import check_hyperparameter, interval_text

KINDS = (float, int, bool)


@dataclass(frozen=True)
class Hyperparameter:
    """A named setting of an algorithm: its default, its valid interval and a help text.

    ``kind`` is float (the usual case), int (a whole number in the interval) or
    bool (an on/off choice; the interval is ignored).  The interval runs from
    ``low`` to ``high``, open at either end as ``low_open`` / ``high_open`` say.
    """

    name: str
    default: float | int | bool
    low: float = 0.0
    high: float = math.inf
    help: str = ""
    low_open: bool = True
    high_open: bool = False
    kind: type = float

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"hyperparameter name {self.name!r} is not a Python identifier")
        if self.kind not in KINDS:
            raise ValueError(f"hyperparameter {self.name}: kind must be float, int or bool, "
                             f"got {self.kind!r}")
        self.check(self.default)  # a default outside its own interval is a typo

    @property
    def interval(self) -> str:
        """The valid values as errors show them: "[0.0, 1.0)", "(0.0, inf)", "True or False"."""
        if self.kind is bool:
            return "True or False"
        return interval_text(self.low, self.high, self.low_open, self.high_open)

    def check(self, value) -> float | int | bool:
        """``value`` converted to ``kind`` if valid, else a ValueError naming the hyperparameter."""
        if self.kind is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{self.name} must be True or False, got {value!r}")
            return bool(value)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise ValueError(f"{self.name} must be a number in {self.interval}, got {value!r}")
        checked = check_hyperparameter(self.name, value, self.low, self.high, self.low_open,
                                       self.high_open)
        if self.kind is int:
            if not checked.is_integer():
                raise ValueError(f"{self.name} must be a whole number in {self.interval}, "
                                 f"got {value!r}")
            return int(checked)
        return checked


def learning_rate(default: float) -> Hyperparameter:
    """η > 0, with the algorithm's default."""
    return Hyperparameter("learning_rate", default, help="learning rate")


def positive(name: str, default: float, help: str) -> Hyperparameter:
    """A number in (0, inf): ε, a step size."""
    return Hyperparameter(name, default, help=help)


def nonnegative(name: str, default: float, help: str) -> Hyperparameter:
    """A number in [0, inf): an initial value, a rate that may be zero."""
    return Hyperparameter(name, default, help=help, low_open=False)


def decay(name: str, default: float, help: str) -> Hyperparameter:
    """A decay rate in [0, 1): momentum μ, β₁, β₂, ρ."""
    return Hyperparameter(name, default, 0.0, 1.0, help, low_open=False, high_open=True)


def switch(name: str, default: bool, help: str) -> Hyperparameter:
    """An on/off choice between two conventions."""
    return Hyperparameter(name, default, help=help, kind=bool)
