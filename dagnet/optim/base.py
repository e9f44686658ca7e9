"""OptimizationAlgorithm: the strategy that turns gradients into weight updates.

One update (``optimize`` after a backpropagation, or ``step`` with explicit
gradients) does, for the parameters θ_i with summed gradients G_i over a batch
of B examples, at update number t = 1, 2, ... (k = t - 1 updates before it):

1. g_i = G_i / B                        (the costs are sums over the batch)
2. g_i ← clip(g_i, -c, c)               (``clip_value``)
3. g_i ← g_i · min(1, n / ‖g‖)           (``clip_norm``; ‖g‖ over all parameters)
4. g_i ← g_i + λ θ_i                     (``weight_decay`` with mode "l2")
5. d_i = compute_direction(i, g_i)      (the algorithm)
6. θ_i ← (1 - λ s_k) θ_i                 (``weight_decay`` with mode "decoupled")
7. θ_i ← θ_i - η s_k d_i                  (s_k: the learning-rate schedule, 1 without)

Why the two weight decays differ: see docs/optimizers.md.  Subclasses write only
``compute_direction``; their per-parameter state lives in ``self.state[i]``, a
dict that starts empty and is filled on the first update.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from dagnet.node import ParameterNode
from dagnet.optim.checks import check_hyperparameter
from dagnet.optim.schedules import LRSchedule, schedule_from_config

WEIGHT_DECAY_MODES = ("decoupled", "l2")


def accumulate(average: np.ndarray, value: np.ndarray, decay: float, work: np.ndarray) -> None:
    """average ← decay·average + (1 - decay)·value, in place (``work`` is scratch)."""
    np.multiply(value, 1.0 - decay, out=work)
    average *= decay
    average += work


def accumulate_square(average: np.ndarray, value: np.ndarray, decay: float,
                      work: np.ndarray) -> None:
    """average ← decay·average + (1 - decay)·value², in place (``work`` is scratch)."""
    np.square(value, out=work)
    work *= 1.0 - decay
    average *= decay
    average += work


class OptimizationAlgorithm:
    """θ ← θ - η·d, where d = ``compute_direction(i, g)`` for parameter i.

    ``compute_direction(i, grad)`` receives the batch-averaged (clipped,
    decayed) gradient in a scratch array that the optimizer owns: it may
    overwrite it and return it as the direction, which saves a temporary.

    Training controls, usable with every algorithm (keyword arguments):
    ``weight_decay`` λ with ``weight_decay_mode`` "decoupled" (the tutorial's
    θ ← (1 - λ)θ - η∇J) or "l2" (λθ added to the gradient); ``clip_value`` and
    ``clip_norm`` (global L2 norm over all parameters); ``schedule``, an
    ``LRSchedule`` multiplying the learning rate.
    """

    # Sensible learning rate when none is given on the command line.
    default_learning_rate = 0.1

    def __init__(self, parameter_nodes: Sequence[ParameterNode], learning_rate: float, *,
                 weight_decay: float = 0.0, weight_decay_mode: str = "decoupled",
                 clip_norm: float | None = None, clip_value: float | None = None,
                 schedule: LRSchedule | None = None):
        self.parameter_nodes = list(parameter_nodes)
        if len({id(node) for node in self.parameter_nodes}) != len(self.parameter_nodes):
            raise ValueError("a parameter is listed twice: it would be updated twice per step")
        self.learning_rate = check_hyperparameter("learning_rate", learning_rate)
        if weight_decay_mode not in WEIGHT_DECAY_MODES:
            raise ValueError(f"weight_decay_mode must be one of {', '.join(WEIGHT_DECAY_MODES)}"
                             f", got {weight_decay_mode!r}")
        self.weight_decay_mode = weight_decay_mode
        # Decoupled decay multiplies θ by 1 - λ: λ must stay below 1.
        self.weight_decay = check_hyperparameter(
            "weight_decay", weight_decay, 0.0, 1.0 if weight_decay_mode == "decoupled"
            else math.inf, low_open=False, high_open=weight_decay_mode == "decoupled")
        self.clip_norm = (None if clip_norm is None
                          else check_hyperparameter("clip_norm", clip_norm))
        self.clip_value = (None if clip_value is None
                           else check_hyperparameter("clip_value", clip_value))
        if schedule is not None and not isinstance(schedule, LRSchedule):
            raise ValueError(f"schedule must be an LRSchedule, got {type(schedule).__name__}")
        self.schedule = schedule
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.parameter_nodes]
        self.t = 0  # number of updates applied
        # Scratch arrays (not state): the averaged gradient, and one work array.
        self._gradients: list[np.ndarray | None] = [None] * len(self.parameter_nodes)
        self._work: list[np.ndarray | None] = [None] * len(self.parameter_nodes)

    # -- the update ------------------------------------------------------------------

    def optimize(self, batch_size: int = 1) -> None:
        """Apply one update to every parameter from its dJ/dw (left by backpropagate)."""
        self.step([node.get_gradient(0) for node in self.parameter_nodes], batch_size)

    def step(self, gradients: Sequence[np.ndarray], batch_size: int = 1) -> None:
        """Apply one update from explicit gradients, one per parameter (summed over a batch
        of ``batch_size`` examples)."""
        nodes = self.parameter_nodes
        if len(gradients) != len(nodes):
            raise ValueError(f"step() got {len(gradients)} gradients for {len(nodes)} "
                             "parameters")
        factor = self.schedule(self.t) if self.schedule is not None else 1.0
        self.t += 1
        grads = [self._averaged(i, g, batch_size) for i, g in enumerate(gradients)]
        if self.clip_value is not None:
            for g in grads:
                np.clip(g, -self.clip_value, self.clip_value, out=g)
        if self.clip_norm is not None:
            norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
            if norm > self.clip_norm:
                scale = self.clip_norm / norm
                for g in grads:
                    g *= scale
        learning_rate = self.learning_rate * factor
        decay = self.weight_decay
        for i, (node, g) in enumerate(zip(nodes, grads)):
            w = node.w
            if decay and self.weight_decay_mode == "l2":
                work = self.work_array(i)
                np.multiply(w, decay, out=work)
                g += work
            direction = self.compute_direction(i, g)
            if decay and self.weight_decay_mode == "decoupled":
                w *= 1.0 - decay * factor
            # g is ours: the step η·d goes there (d may be g itself or a state array).
            np.multiply(direction, learning_rate, out=g)
            w -= g

    def _averaged(self, i: int, gradient: np.ndarray, batch_size: int) -> np.ndarray:
        """gradient / batch_size in this parameter's scratch array, in the weights' dtype."""
        w = self.parameter_nodes[i].w
        if np.shape(gradient) != w.shape:
            raise ValueError(f"the gradient of {self.parameter_nodes[i].describe()} has shape "
                             f"{np.shape(gradient)}, its weights {w.shape}")
        buffer = self._gradients[i]
        if buffer is None or buffer.dtype != w.dtype:
            buffer = self._gradients[i] = np.empty_like(w)
        if batch_size == 1:
            np.copyto(buffer, gradient, casting="same_kind")
        else:
            np.divide(gradient, batch_size, out=buffer, casting="same_kind")
        return buffer

    def work_array(self, i: int) -> np.ndarray:
        """A scratch array shaped like parameter ``i`` (contents undefined), for in-place math."""
        w = self.parameter_nodes[i].w
        work = self._work[i]
        if work is None or work.dtype != w.dtype:
            work = self._work[i] = np.empty_like(w)
        return work

    def state_array(self, i: int, key: str, initial: float = 0.0) -> np.ndarray:
        """``self.state[i][key]``, created on first use: shaped like parameter ``i``, in its
        dtype, filled with ``initial``."""
        array = self.state[i].get(key)
        if array is None:
            array = self.state[i][key] = np.full_like(self.parameter_nodes[i].w, initial)
        return array

    def compute_direction(self, i: int, grad: np.ndarray) -> np.ndarray:
        """The step direction for parameter ``i`` given its (batch-averaged) gradient."""
        raise NotImplementedError(f"{type(self).__name__} does not define compute_direction")

    def current_learning_rate(self) -> float:
        """η s_k: the learning rate the next update will use."""
        return self.learning_rate * (self.schedule(self.t) if self.schedule else 1.0)

    # -- saving and restoring --------------------------------------------------------

    def config(self) -> dict:
        """Constructor keyword arguments (JSON-ready) that rebuild this optimizer."""
        return {"learning_rate": self.learning_rate, "weight_decay": self.weight_decay,
                "weight_decay_mode": self.weight_decay_mode, "clip_norm": self.clip_norm,
                "clip_value": self.clip_value,
                "schedule": None if self.schedule is None else self.schedule.config()}

    @classmethod
    def from_config(cls, parameter_nodes: Sequence[ParameterNode], config: dict
                    ) -> OptimizationAlgorithm:
        """The optimizer that ``config()`` described, over ``parameter_nodes``."""
        config = dict(config)
        schedule = config.pop("schedule", None)
        return cls(parameter_nodes, **config,
                   schedule=None if schedule is None else schedule_from_config(schedule))

    def state_dict(self) -> dict:
        """Everything a resumed run needs: ``{"algorithm", "config", "t", "state"}``.

        ``state`` holds one dict of arrays per parameter (copies).  Together with
        the weights and the data order, it makes a resumed run continue bit for bit.
        """
        return {"algorithm": type(self).__name__, "config": self.config(), "t": self.t,
                "state": [{key: value.copy() for key, value in entry.items()}
                          for entry in self.state]}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the step count and per-parameter state saved by ``state_dict``."""
        name = state_dict.get("algorithm")
        if name != type(self).__name__:
            raise ValueError(f"this state belongs to a {name} optimizer, not to "
                             f"{type(self).__name__}")
        entries = state_dict["state"]
        if len(entries) != len(self.parameter_nodes):
            raise ValueError(f"the saved state has {len(entries)} parameters, this optimizer "
                             f"{len(self.parameter_nodes)}")
        state = []
        for node, entry in zip(self.parameter_nodes, entries):
            restored = {}
            for key, value in entry.items():
                value = np.array(value)  # a copy, writable, contiguous
                if value.ndim and value.shape != node.w.shape:
                    raise ValueError(f"saved state {key!r} of {node.describe()} has shape "
                                     f"{value.shape}, the weights {node.w.shape}")
                restored[key] = value
            state.append(restored)
        self.state = state
        self.t = int(state_dict["t"])
