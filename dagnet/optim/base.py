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
   (steps 4 and 6 skip the 1-D parameters when ``weight_decay_vectors`` is False)
7. θ_i ← θ_i - η s_k d_i                  (s_k: the learning-rate schedule, 1 without)

Why the two weight decays differ: see docs/optimizers.md.  Subclasses declare
their ``hyperparameters`` (``dagnet.optim.hyperparameters``) and write only
``compute_direction``; their per-parameter state lives in ``self.state[i]``, a
dict that starts empty and is filled on the first update.

The registry lives here too, so that any module can look an algorithm up without
importing ``dagnet.optim``: ``@register_optimizer("adam")`` at a class's
definition puts it in ``OPTIMIZERS`` (name -> class, in registration order);
``make_optimizer`` builds one from a name.
"""

from __future__ import annotations

import inspect
import math
import re
import time
from collections.abc import Callable, Sequence

import numpy as np

from dagnet.graph import node_timer
from dagnet.node import ParameterNode
from dagnet.optim.checks import check_hyperparameter
from dagnet.optim.hyperparameters import Hyperparameter, learning_rate
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

    ``hyperparameters`` declares the algorithm's settings once, its learning rate
    among them: the constructor takes each as a keyword (the learning rate also as
    the second positional argument; None or left out: the declared default),
    checks it and sets it as an attribute of the same name (``self.beta1``).

    Training controls, usable with every algorithm (keyword arguments):
    ``weight_decay`` λ with ``weight_decay_mode`` "decoupled" (the tutorial's
    θ ← (1 - λ)θ - η∇J) or "l2" (λθ added to the gradient), on every parameter or,
    with ``weight_decay_vectors=False``, on those of two or more axes only (weight
    matrices and embeddings, not biases and normalization gains: nanoGPT's AdamW
    groups); ``clip_value`` and ``clip_norm`` (global L2 norm over all parameters);
    ``schedule``, an ``LRSchedule`` multiplying the learning rate.
    """

    hyperparameters: tuple[Hyperparameter, ...] = (learning_rate(0.1),)
    default_learning_rate: float  # derived from ``hyperparameters`` (see _declare)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _declare(cls)

    def __init__(self, parameter_nodes: Sequence[ParameterNode],
                 learning_rate: float | None = None, *, weight_decay: float = 0.0,
                 weight_decay_mode: str = "decoupled", weight_decay_vectors: bool = True,
                 clip_norm: float | None = None,
                 clip_value: float | None = None, schedule: LRSchedule | None = None,
                 **hyperparameters):
        self.parameter_nodes = list(parameter_nodes)
        if len({id(node) for node in self.parameter_nodes}) != len(self.parameter_nodes):
            raise ValueError("a parameter is listed twice: it would be updated twice per step")
        self._set_hyperparameters(learning_rate, hyperparameters)
        if weight_decay_mode not in WEIGHT_DECAY_MODES:
            raise ValueError(f"weight_decay_mode must be one of {', '.join(WEIGHT_DECAY_MODES)}"
                             f", got {weight_decay_mode!r}")
        self.weight_decay_mode = weight_decay_mode
        if not isinstance(weight_decay_vectors, (bool, np.bool_)):
            raise ValueError(f"weight_decay_vectors must be true or false, got "
                             f"{weight_decay_vectors!r}")
        self.weight_decay_vectors = bool(weight_decay_vectors)
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

    def _set_hyperparameters(self, learning_rate: float | None, given: dict) -> None:
        """Each declared hyperparameter as an attribute: the given value, checked, or its
        default."""
        declared = [h.name for h in self.hyperparameters]
        unknown = [name for name in given if name not in declared]
        if unknown:
            raise TypeError(f"{type(self).__name__} has no hyperparameter {unknown[0]!r}: it "
                            f"takes {', '.join(declared)} and the controls "
                            f"{', '.join(CONTROLS)}")
        if learning_rate is not None:
            given = {**given, "learning_rate": learning_rate}
        for hyperparameter in self.hyperparameters:
            value = given.get(hyperparameter.name, hyperparameter.default)
            setattr(self, hyperparameter.name, hyperparameter.check(value))

    # -- the update ------------------------------------------------------------------

    def optimize(self, batch_size: int = 1) -> None:
        """Apply one update to every parameter from its dJ/dw (left by backpropagate)."""
        timer = node_timer()
        started = time.perf_counter()
        self.step([node.get_gradient(0) for node in self.parameter_nodes], batch_size)
        if timer is not None:
            timer(self, "update", time.perf_counter() - started)

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
        for i, (node, g) in enumerate(zip(nodes, grads)):
            w = node.w
            decay = self.weight_decay if self.weight_decay_vectors or w.ndim > 1 else 0.0
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
        """Constructor keyword arguments (JSON-ready) that rebuild this optimizer: the
        learning rate, the controls, then the other declared hyperparameters."""
        controls = {"learning_rate": self.learning_rate, "weight_decay": self.weight_decay,
                    "weight_decay_mode": self.weight_decay_mode,
                    "weight_decay_vectors": self.weight_decay_vectors, "clip_norm": self.clip_norm,
                    "clip_value": self.clip_value,
                    "schedule": None if self.schedule is None else self.schedule.config()}
        return {**controls, **{h.name: getattr(self, h.name) for h in self.hyperparameters}}

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


# The constructor's keyword-only arguments: the controls every algorithm takes.
_BASE_SIGNATURE = inspect.signature(OptimizationAlgorithm.__init__)
CONTROLS = tuple(p.name for p in _BASE_SIGNATURE.parameters.values()
                 if p.kind is inspect.Parameter.KEYWORD_ONLY)
# Attributes a hyperparameter must not overwrite (besides the controls and the methods).
_RESERVED = ("parameter_nodes", "state", "t")


def _declare(cls: type[OptimizationAlgorithm]) -> None:
    """Check ``cls.hyperparameters``; derive ``default_learning_rate`` and the signature
    that ``help(cls)`` shows."""
    declared = cls.hyperparameters
    if not isinstance(declared, tuple) or not all(isinstance(h, Hyperparameter)
                                                  for h in declared):
        raise TypeError(f"{cls.__name__}.hyperparameters must be a tuple of Hyperparameter")
    names = [h.name for h in declared]
    if len(set(names)) != len(names):
        raise TypeError(f"{cls.__name__} declares a hyperparameter twice: {', '.join(names)}")
    clashes = [name for name in names if name != "learning_rate" and (
        name in CONTROLS or name in _RESERVED or hasattr(OptimizationAlgorithm, name))]
    if clashes:
        raise TypeError(f"{cls.__name__}: hyperparameter {clashes[0]!r} would hide a control "
                        "or an attribute of OptimizationAlgorithm; choose another name")
    rate = next((h for h in declared if h.name == "learning_rate"), None)
    if rate is None:
        raise TypeError(f"{cls.__name__}.hyperparameters must declare learning_rate "
                        "(dagnet.optim.hyperparameters.learning_rate(default))")
    cls.default_learning_rate = rate.default
    if cls.__init__ is OptimizationAlgorithm.__init__:  # else its own __init__ tells
        parameter = inspect.Parameter
        cls.__signature__ = inspect.Signature(
            [parameter("parameter_nodes", parameter.POSITIONAL_OR_KEYWORD),
             parameter("learning_rate", parameter.POSITIONAL_OR_KEYWORD, default=rate.default,
                       annotation="float")]
            + [parameter(h.name, parameter.KEYWORD_ONLY, default=h.default,
                         annotation=h.kind.__name__) for h in declared if h is not rate]
            + [p for p in _BASE_SIGNATURE.parameters.values()
               if p.kind is parameter.KEYWORD_ONLY])


_declare(OptimizationAlgorithm)


# -- the registry ----------------------------------------------------------------------

# Name (``--optimizer NAME``) -> class, in registration order: dagnet.optim imports its
# algorithms in order of increasing complexity.
OPTIMIZERS: dict[str, type[OptimizationAlgorithm]] = {}
# Other names accepted wherever a name is: alias -> registered name.
ALIASES: dict[str, str] = {}

_NAME = re.compile(r"[a-z][a-z0-9_]*")


def register_optimizer(name: str, *, aliases: Sequence[str] = ()
                       ) -> Callable[[type[OptimizationAlgorithm]], type[OptimizationAlgorithm]]:
    """Class decorator: register an algorithm as ``name`` (and ``aliases``).

    >>> @register_optimizer("sign")               # doctest: +SKIP
    ... class SignDescent(OptimizationAlgorithm):
    ...     hyperparameters = (learning_rate(0.01),)
    ...     def compute_direction(self, i, grad):
    ...         return np.sign(grad, out=grad)
    """
    def register(cls: type[OptimizationAlgorithm]) -> type[OptimizationAlgorithm]:
        _check_registration(cls, [name, *aliases])
        OPTIMIZERS[name] = cls
        ALIASES.update(dict.fromkeys(aliases, name))
        return cls

    return register


def _check_registration(cls: type, names: list[str]) -> None:
    if not (isinstance(cls, type) and issubclass(cls, OptimizationAlgorithm)):
        raise TypeError(f"register_optimizer({names[0]!r}) decorates an OptimizationAlgorithm "
                        f"subclass, not {cls!r}")
    if cls.compute_direction is OptimizationAlgorithm.compute_direction:
        raise TypeError(f"{cls.__name__} does not define compute_direction")
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"optimizer name {name!r}: lower-case letters, digits and _, "
                             "starting with a letter")
        if name in OPTIMIZERS or name in ALIASES:
            raise ValueError(f"optimizer name {name!r} is taken by "
                             f"{optimizer_class(name).__name__}")
    for registered, other in OPTIMIZERS.items():
        if other is cls:
            raise ValueError(f"{cls.__name__} is registered as {registered!r}: give other "
                             "names as aliases")
        if other.__name__ == cls.__name__:  # checkpoints name the class
            raise ValueError(f"a class named {cls.__name__} is registered as {registered!r}")


def optimizer_name(name: str) -> str:
    """The registered name for ``name``, a registered name or an alias ("sgd" -> "gd")."""
    registered = ALIASES.get(name, name)
    if registered not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {optimizer_choices()}")
    return registered


def optimizer_choices() -> str:
    """The accepted names, for messages: "gd (or sgd), momentum, ..."."""
    also = {registered: [a for a, r in ALIASES.items() if r == registered]
            for registered in OPTIMIZERS}
    return ", ".join(name + (f" (or {', '.join(also[name])})" if also[name] else "")
                     for name in OPTIMIZERS)


def optimizer_class(name: str) -> type[OptimizationAlgorithm]:
    """The class registered as ``name`` or one of its aliases."""
    return OPTIMIZERS[optimizer_name(name)]


def make_optimizer(optimizer: str | type[OptimizationAlgorithm] | OptimizationAlgorithm,
                   parameter_nodes: Sequence[ParameterNode], **options
                   ) -> OptimizationAlgorithm:
    """An optimizer over ``parameter_nodes``, from a registered name or alias, a class, or
    an instance (returned as it is; it must update exactly these parameters, in order).

    ``options`` are the constructor's keywords: ``learning_rate``, the algorithm's
    hyperparameters and the controls.  Unknown names raise ValueError, options the
    algorithm does not take TypeError.

    >>> from dagnet import ParameterNode
    >>> make_optimizer("adam", [ParameterNode(np.zeros(3))], beta1=0.8).config()["beta1"]
    0.8
    """
    if isinstance(optimizer, OptimizationAlgorithm):
        if options:
            raise ValueError(f"make_optimizer got an optimizer instance and options "
                             f"({', '.join(options)}): give them to its constructor")
        if [id(node) for node in optimizer.parameter_nodes] != [id(node) for node in
                                                                 parameter_nodes]:
            raise ValueError(f"the {type(optimizer).__name__} given updates other parameters "
                             f"({len(optimizer.parameter_nodes)}) than the "
                             f"{len(parameter_nodes)} it is asked to, or in another order")
        return optimizer
    if isinstance(optimizer, str):
        optimizer = optimizer_class(optimizer)
    if not (isinstance(optimizer, type) and issubclass(optimizer, OptimizationAlgorithm)):
        raise TypeError(f"make_optimizer takes an optimizer name, class or instance, not "
                        f"{optimizer!r}")
    return optimizer(parameter_nodes, **options)
