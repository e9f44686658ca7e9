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
        left = "(" if low_open else "["
        right = ")" if high_open or math.isinf(high) else "]"
        upper = "inf" if math.isinf(high) else f"{high}"
        raise ValueError(f"{name} must be in {left}{low}, {upper}{right}, got {value}")
    return value


def check_decay(name: str, value: float) -> float:
    """A decay rate (momentum, β, ρ): in [0, 1)."""
    return check_hyperparameter(name, value, 0.0, 1.0, low_open=False, high_open=True)


def check_count(name: str, value) -> int:
    """A positive whole number of steps."""
    if isinstance(value, bool) or not float(value).is_integer() or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)
