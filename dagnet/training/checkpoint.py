"""One checkpoint format for every model: a model file that also carries the run.

A checkpoint is the model's own file (``model.save``: architecture, weights and
the model's metadata) with, in its metadata, the key ``"checkpoint"``:

- ``optimizer``: algorithm, hyperparameters, step count and scalar state; its
  per-parameter arrays are extra tensors ``optimizer/<parameter index>/<name>``;
- ``trainer``: step, history, best entry, the data iterator's position and
  generator, the extensions' state;
- ``rng``: the model's own generator (dropout masks), when it has one;
- ``options``: the run's options as given (a command's flags), to refuse a resume
  that contradicts them;
and the model's carried state (char-rnn's streams) as extra tensors ``state/<k>``.

Everything is stored exactly (floats as shortest round-trip JSON, arrays in their
dtype), so a resumed run continues bit for bit.  Loading instantiates only
registered optimizer classes: a checkpoint never runs code.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from dagnet.errors import DagnetError, ModelFileError
from dagnet.optim import OPTIMIZERS, OptimizationAlgorithm
from dagnet.rng import rng_from_state, rng_state
from dagnet.training.trainer import Extension, Trainer, parse_trigger

KEY = "checkpoint"
OPTIMIZER_PREFIX = "optimizer/"
STATE_PREFIX = "state/"


# -- the optimizer in a file ----------------------------------------------------------------

def optimizer_to_file(optimizer: OptimizationAlgorithm) -> tuple[dict, dict[str, np.ndarray]]:
    """The optimizer as JSON-ready metadata and a dict of named tensors."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for i, entry in enumerate(state["state"]):
        for key, value in entry.items():
            if value.ndim:
                tensors[f"{OPTIMIZER_PREFIX}{i}/{key}"] = value
            else:  # JSON keeps a 0-d array exactly (shortest round-trip float)
                scalars[f"{i}/{key}"] = [value.dtype.str, value.item()]
    return {"algorithm": state["algorithm"], "config": state["config"], "t": state["t"],
            "parameters": len(state["state"]), "scalars": scalars}, tensors


def optimizer_from_file(metadata: dict, tensors: dict[str, np.ndarray],
                        parameter_nodes) -> OptimizationAlgorithm:
    """The optimizer ``optimizer_to_file`` described, over ``parameter_nodes``."""
    classes = {cls.__name__: cls for cls in OPTIMIZERS.values()}
    cls = classes.get(metadata.get("algorithm"))
    if cls is None:
        raise ValueError(f"unknown optimization algorithm {metadata.get('algorithm')!r}")
    optimizer = cls.from_config(parameter_nodes, metadata["config"])
    n = int(metadata["parameters"])
    if n != len(parameter_nodes):
        raise ValueError(f"optimizer state for {n} parameters, the model has "
                         f"{len(parameter_nodes)}")
    entries: list[dict[str, np.ndarray]] = [{} for _ in range(n)]
    for name, value in tensors.items():
        if name.startswith(OPTIMIZER_PREFIX):
            index, key = name[len(OPTIMIZER_PREFIX):].split("/", 1)
            entries[int(index)][key] = value
    for name, (dtype, value) in metadata.get("scalars", {}).items():
        index, key = name.split("/", 1)
        if np.dtype(dtype).kind not in "fiu":
            raise ValueError(f"state {name!r} has dtype {dtype!r}, not a number type")
        entries[int(index)][key] = np.array(value, dtype=np.dtype(dtype))
    optimizer.load_state_dict({"algorithm": cls.__name__, "t": metadata["t"],
                               "state": entries})
    return optimizer


# -- saving and resuming ----------------------------------------------------------------------

def save_checkpoint(path: str | os.PathLike, trainer: Trainer, options: dict | None = None,
                    metadata: dict | None = None) -> Path:
    """Write ``trainer``'s model with everything needed to continue the run, atomically.

    ``metadata`` is added to the model's own (say, the test accuracy so far).
    """
    model, optimizer = trainer.model, trainer.optimizer
    if [id(n) for n in optimizer.parameter_nodes] != [id(n) for n in model.parameter_nodes]:
        raise DagnetError("the optimizer does not update the model's parameters (in the "
                          "model's order): they cannot be saved together")
    optimizer_metadata, tensors = optimizer_to_file(optimizer)
    run = {"optimizer": optimizer_metadata, "trainer": trainer.state_dict(),
           "options": options or {}}
    if getattr(model, "rng", None) is not None:
        run["rng"] = rng_state(model.rng)
    for k, array in enumerate(getattr(model, "carried_state", None) or []):
        tensors[f"{STATE_PREFIX}{k}"] = array
    extra = {**getattr(model, "extra_tensors", {}), **tensors}
    return model.save(path, metadata={**model.metadata, **(metadata or {}), KEY: run},
                      extra_tensors=extra)


def training_state(model, path: str | os.PathLike) -> dict:
    """The run saved with ``model`` (loaded from checkpoint ``path`` by ``dagnet.load``);
    ModelFileError if the file is a plain model file."""
    run = model.metadata.get(KEY)
    if not isinstance(run, dict) or "optimizer" not in run or "trainer" not in run:
        raise ModelFileError(f"{path}: a model without training state (saved by save(), not "
                             "by a training run): it can be used, but not resumed")
    return run


def optimizer_from_checkpoint(model, path: str | os.PathLike) -> OptimizationAlgorithm:
    """The optimizer saved in checkpoint ``path``, over ``model``'s parameters."""
    run = training_state(model, path)
    try:
        return optimizer_from_file(run["optimizer"], model.extra_tensors, model.parameter_nodes)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelFileError(f"{path}: corrupt optimizer state ({type(exc).__name__}: "
                             f"{exc})") from None


def resume(trainer: Trainer, path: str | os.PathLike) -> None:
    """Put ``trainer`` (built on the model and optimizer loaded from ``path``) where the
    saved run stopped: counters, history, data position, generators, carried state."""
    model = trainer.model
    run = training_state(model, path)
    try:
        trainer.load_state_dict(run["trainer"])
        if "rng" in run and getattr(model, "rng", None) is not None:
            model.rng = rng_from_state(run["rng"])
        # Counted in the file: a model just loaded carries no state yet.
        n_states = sum(name.startswith(STATE_PREFIX) for name in model.extra_tensors)
        if n_states:
            model.carried_state = [np.array(model.extra_tensors[f"{STATE_PREFIX}{k}"])
                                   for k in range(n_states)]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelFileError(f"{path}: corrupt training state ({type(exc).__name__}: "
                             f"{exc})") from None
    model.metadata = {k: v for k, v in model.metadata.items() if k != KEY}
    model.extra_tensors = {k: v for k, v in model.extra_tensors.items()
                           if not k.startswith((OPTIMIZER_PREFIX, STATE_PREFIX))}


def check_options(saved: dict, given: dict, fixed: Sequence[str], path) -> None:
    """Refuse to resume with an option in ``fixed`` that differs from the saved run's;
    ``given`` holds only the options the user set explicitly."""
    for key in fixed:
        if key in given and key in saved and given[key] != saved[key]:
            flag = "--" + key.replace("_", "-")
            raise DagnetError(f"{flag} {_show(given[key])} contradicts the checkpoint {path}, "
                              f"which was trained with {flag} {_show(saved[key])}: drop "
                              f"{flag} to resume, or start a new run")


def _show(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


# -- the extension ------------------------------------------------------------------------------

class Checkpoint(Extension):
    """Save checkpoints into ``folder`` every ``every`` (and when the run ends, however
    it ends, so Ctrl-C and divergence keep what there is).

    ``filename`` is a name or ``filename(trainer) -> name``.  ``keep``: ``"last"`` (one
    file, overwritten), ``"best+last"`` (the latest and the one with the best
    monitored value in ``trainer.history.best``; older ones are removed) or ``"all"``.
    Weights that are no longer finite (a diverged run) are not written.
    """

    priority = 80
    name = "checkpoint"

    def __init__(self, folder: str | os.PathLike, filename: str | Callable = "checkpoint"
                 ".safetensors", every=None, keep: str = "last", options: dict | None = None,
                 metadata: Callable[[Trainer], dict] | None = None):
        if keep not in ("last", "best+last", "all"):
            raise ValueError(f"keep must be 'last', 'best+last' or 'all', got {keep!r}")
        self.folder, self.filename, self.keep = Path(folder), filename, keep
        self.trigger = None if every is None else parse_trigger(every)
        self.options, self.metadata = options, metadata
        self.last: str | None = None
        self.best: str | None = None
        self.saved_step = -1

    def _name(self, trainer: Trainer) -> str:
        return self.filename(trainer) if callable(self.filename) else self.filename

    def __call__(self, trainer: Trainer) -> None:
        self.save(trainer)

    def save(self, trainer: Trainer) -> Path | None:
        if not all(np.all(np.isfinite(p.w)) for p in trainer.model.parameter_nodes):
            return None
        name = self._name(trainer)
        # The names are updated first: the checkpoint's own state must name itself.
        previous, self.last, self.saved_step = self.last, name, trainer.step
        best = trainer.history.best
        if best is not None and best.get("step") == trainer.step:
            previous_best, self.best = self.best, name
        else:
            previous_best = None
        path = save_checkpoint(self.folder / name, trainer, self.options,
                               self.metadata(trainer) if self.metadata else None)
        if self.keep == "best+last":
            for old in (previous, previous_best):
                if old and old not in (self.last, self.best):
                    (self.folder / old).unlink(missing_ok=True)
        return path

    def finalize(self, trainer: Trainer) -> None:
        if trainer.step != self.saved_step and trainer.step > 0:
            self.save(trainer)

    def state_dict(self) -> dict:
        return {"last": self.last, "best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.last, self.best = state.get("last"), state.get("best")
