"""Validation of hyperparameters: a clear ValueError naming the bad one."""

from __future__ import annotations

import math


def check_hyperparameter(name: str, value: float, low: float = 0.0, high: float = math.inf,
                         low_open: bool = True, high_open: bool = False) -> float:
    """``value`` as a float if it lies in the interval, else a ValueError naming it."""
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if not math.isfinite(value) or too_low or too_high:
        raise ValueError(f"{name} must be in {interval_text(low, high, low_open, high_open)}, "
                         f"got {value}")
    return value


def interval_text(low: float, high: float = math.inf, low_open: bool = True,
                  high_open: bool = False) -> str:
    """The interval as errors and help texts show it: "(0.0, inf)", "[0.0, 1.0)"."""
    left = "(" if low_open else "["
    right = ")" if high_open or math.isinf(high) else "]"
    upper = "inf" if math.isinf(high) else f"{float(high)}"
    return f"{left}{float(low)}, {upper}{right}"


def check_count(name: str, value) -> int:
    """A positive whole number of steps."""
    if isinstance(value, bool) or not float(value).is_integer() or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)
