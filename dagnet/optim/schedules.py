"""Learning-rate schedules: a multiplier s_k of the base learning rate η.

``schedule(k)`` is the factor of the update that follows k earlier updates
(k = 0 for the first one), so the update uses η·s_k.  Every schedule is a pure
function of k: a resumed run needs only the optimizer's step count.

* ``ConstantSchedule``:    s_k = 1
* ``StepSchedule``:        s_k = γ^⌊k / step_size⌋
* ``ExponentialSchedule``: s_k = γ^k
* ``CosineSchedule``:      s_k = m + (1 - m)·½(1 + cos(π·min(k, T)/T))
* ``WarmupSchedule``:      s_k = (k + 1)/W for k < W, then inner(k - W)
                           (or (k + 1)/(W + 1) for k < W: nanoGPT's ramp)
"""

from __future__ import annotations

import math

from dagnet.optim.checks import check_count, check_hyperparameter


class LRSchedule:
    """Base class: ``__call__(k)`` is the learning-rate factor after k updates."""

    name = ""

    def __call__(self, k: int) -> float:
        raise NotImplementedError(f"{type(self).__name__} does not define __call__")

    def config(self) -> dict:
        """``{"name": ..., **arguments}``, JSON-ready; ``schedule_from_config`` inverts it."""
        return {"name": self.name}

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({arguments})"


class ConstantSchedule(LRSchedule):
    """s_k = 1: the base learning rate throughout."""

    name = "constant"

    def __call__(self, k: int) -> float:
        return 1.0


class StepSchedule(LRSchedule):
    """s_k = γ^⌊k / step_size⌋: multiply by γ every ``step_size`` updates."""

    name = "step"

    def __init__(self, step_size: int, gamma: float = 0.1):
        self.step_size = check_count("step_size", step_size)
        self.gamma = check_hyperparameter("gamma", gamma, 0.0, 1.0)

    def __call__(self, k: int) -> float:
        return self.gamma ** (k // self.step_size)

    def config(self) -> dict:
        return {"name": self.name, "step_size": self.step_size, "gamma": self.gamma}


class ExponentialSchedule(LRSchedule):
    """s_k = γ^k: multiply by γ after every update."""

    name = "exponential"

    def __init__(self, gamma: float):
        self.gamma = check_hyperparameter("gamma", gamma, 0.0, 1.0)

    def __call__(self, k: int) -> float:
        return self.gamma ** k

    def config(self) -> dict:
        return {"name": self.name, "gamma": self.gamma}


class CosineSchedule(LRSchedule):
    """s_k = m + (1 - m)·½(1 + cos(π·min(k, T)/T)): from 1 down to m over T updates.

    Loshchilov & Hutter's SGDR without restarts; it stays at m after T updates.
    """

    name = "cosine"

    def __init__(self, total_steps: int, min_factor: float = 0.0):
        self.total_steps = check_count("total_steps", total_steps)
        self.min_factor = check_hyperparameter("min_factor", min_factor, 0.0, 1.0,
                                               low_open=False)

    def __call__(self, k: int) -> float:
        progress = min(k, self.total_steps) / self.total_steps
        return self.min_factor + (1.0 - self.min_factor) * 0.5 * (1.0 + math.cos(
            math.pi * progress))

    def config(self) -> dict:
        return {"name": self.name, "total_steps": self.total_steps,
                "min_factor": self.min_factor}


class WarmupSchedule(LRSchedule):
    """s_k = (k + 1)/W for the first W updates, then ``inner(k - W)`` (default constant).

    The linear warm-up of Goyal et al. (2017); the inner schedule starts counting
    when the warm-up ends.  With ``ramp_to_inner`` the ramp ends on the inner schedule's
    first update instead of the warm-up's last: s_k = (k + 1)/(W + 1) for k < W
    (nanoGPT's ``get_lr``).
    """

    name = "warmup"

    def __init__(self, warmup_steps: int, inner: LRSchedule | None = None,
                 ramp_to_inner: bool = False):
        self.warmup_steps = check_count("warmup_steps", warmup_steps)
        if not isinstance(ramp_to_inner, bool):
            raise ValueError(f"ramp_to_inner must be true or false, got {ramp_to_inner!r}")
        self.ramp_to_inner = ramp_to_inner
        if inner is not None and not isinstance(inner, LRSchedule):
            raise ValueError(f"inner must be an LRSchedule, got {type(inner).__name__}")
        if isinstance(inner, WarmupSchedule):
            raise ValueError("a warm-up inside a warm-up: give one warm-up of the total length")
        self.inner = ConstantSchedule() if inner is None else inner

    def __call__(self, k: int) -> float:
        if k < self.warmup_steps:
            return (k + 1) / (self.warmup_steps + self.ramp_to_inner)
        return self.inner(k - self.warmup_steps)

    def config(self) -> dict:
        ramp = {"ramp_to_inner": True} if self.ramp_to_inner else {}  # older configs lack it
        return {"name": self.name, "warmup_steps": self.warmup_steps,
                "inner": self.inner.config(), **ramp}


SCHEDULES: dict[str, type[LRSchedule]] = {
    cls.name: cls for cls in (ConstantSchedule, StepSchedule, ExponentialSchedule,
                              CosineSchedule, WarmupSchedule)
}


def schedule_from_config(config: dict) -> LRSchedule:
    """The schedule ``LRSchedule.config()`` described (ValueError if malformed)."""
    if not isinstance(config, dict) or config.get("name") not in SCHEDULES:
        raise ValueError(f"not a learning-rate schedule description: {config!r}")
    arguments = {k: v for k, v in config.items() if k != "name"}
    if "inner" in arguments:
        arguments["inner"] = schedule_from_config(arguments["inner"])
    try:
        return SCHEDULES[config["name"]](**arguments)
    except TypeError as exc:
        raise ValueError(f"bad {config['name']} schedule description {config!r}: {exc}"
                         ) from None


# The options each named schedule reads (build_schedule refuses the others).
SCHEDULE_OPTIONS = {"constant": (), "step": ("step_size", "gamma"), "exponential": ("gamma",),
                    "cosine": ("total_steps", "min_factor")}


def build_schedule(name: str = "constant", *, warmup_steps: int = 0,
                   run_steps: int | None = None, ramp_to_inner: bool = False,
                   **options) -> LRSchedule | None:
    """The schedule ``name`` with its ``options`` (step_size, gamma, total_steps,
    min_factor; None: not given), after ``warmup_steps`` of linear warm-up (nanoGPT's ramp
    with ``ramp_to_inner``: see WarmupSchedule); None for a constant rate without
    warm-up.  A cosine schedule without ``total_steps`` spans the ``run_steps`` left
    after the warm-up.  ValueError names an option that does not apply or is missing."""
    if name not in SCHEDULE_OPTIONS:
        raise ValueError(f"unknown schedule {name!r}; choose from {', '.join(SCHEDULE_OPTIONS)}")
    for key, value in options.items():
        if value is not None and key not in SCHEDULE_OPTIONS[name]:
            raise ValueError(f"{key} does not apply to schedule {name}")
    get = options.get
    schedule = None
    if name == "step":
        if get("step_size") is None:
            raise ValueError("schedule step needs step_size")
        schedule = StepSchedule(get("step_size"), 0.1 if get("gamma") is None else get("gamma"))
    elif name == "exponential":
        if get("gamma") is None:
            raise ValueError("schedule exponential needs gamma")
        schedule = ExponentialSchedule(get("gamma"))
    elif name == "cosine":
        steps = get("total_steps")
        if steps is None and run_steps is not None:
            steps = max(1, run_steps - warmup_steps)
        if steps is None:
            raise ValueError("schedule cosine needs total_steps")
        schedule = CosineSchedule(steps, get("min_factor") or 0.0)
    return WarmupSchedule(warmup_steps, schedule, ramp_to_inner) if warmup_steps else schedule
