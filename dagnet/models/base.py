"""``Model``: one protocol for everything dagnet trains, and ``load`` for any model file.

Every model answers the same questions, so that one Trainer, one checkpoint format
and every command work with all of them (micrograd's ``Module.parameters()``,
grown up):

- ``parameter_nodes``: the ParameterNodes an optimizer updates, in a fixed order;
- ``config()``: the JSON-ready constructor arguments (the architecture);
- ``predict(X)``: the outputs for inputs X;
- ``evaluate(X, Y) -> dict``: ``loss`` (mean per example) and, for a classifier,
  ``accuracy``;
- ``fit(X, Y, epochs=..., batch_size=..., optimizer="adam", validation_data=...,
  callbacks=..., seed=...) -> History``: training by ``dagnet.training.Trainer``;
- ``save(path)``; ``dagnet.load(path)`` gives back the right class, with
  ``.metadata`` and ``.extra_tensors``.

For the Trainer a model also has ``train_step(batch, optimizer) -> mean loss`` and
``evaluate_batch(inputs, targets) -> (summed loss, examples, correct or None)``.
Class indices are accepted wherever one-hot targets are; inputs are cast to the
model's dtype at this boundary.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from dagnet.errors import DataError, ModelFileError
from dagnet.io import ModelFile, read_model_file, write_model_file
from dagnet.limits import DEFAULT_LIMITS, Limits
from dagnet.node import ParameterNode
from dagnet.optim import OptimizationAlgorithm, make_optimizer
from dagnet.training import (
    ArrayBatches,
    Evaluate,
    Extension,
    History,
    Interrupt,
    ProgressBar,
    StopOnNonFinite,
    Trainer,
)

# Model-file format name -> the Model class that reads it (``register_model``).
MODEL_TYPES: dict[str, type[Model]] = {}


def register_model(cls: type[Model]) -> type[Model]:
    """Class decorator: ``dagnet.load`` reads files of ``cls.file_format`` with
    ``cls.from_file``."""
    known = MODEL_TYPES.get(cls.file_format)
    if known is not None and known is not cls:
        raise ValueError(f"model file format {cls.file_format!r} is already read by "
                         f"{known.__qualname__}")
    MODEL_TYPES[cls.file_format] = cls
    return cls


def load(path: str | os.PathLike, limits: Limits | None = None) -> Model:
    """The model saved in ``path``, of the class that wrote it, with ``.metadata`` and
    ``.extra_tensors``.  Reads JSON and arrays only: a model file never runs code, and
    its configuration is checked against the class's schema and the tensors in the
    file, within ``limits`` (``dagnet.limits.Limits``), before anything is built."""
    path = Path(path)
    content = read_model_file(path, None, None, limits=limits)
    cls = MODEL_TYPES.get(content.file_format)
    if cls is None:
        raise ModelFileError(f"{path}: not a dagnet model (format "
                             f"{content.file_format!r}; dagnet reads "
                             f"{', '.join(sorted(MODEL_TYPES))})")
    if content.format_version != str(cls.format_version):
        raise ModelFileError(f"{path}: {cls.description} format version "
                             f"{content.format_version!r}; this dagnet reads version "
                             f"{cls.format_version}")
    model = cls.from_file(path, content, DEFAULT_LIMITS if limits is None else limits)
    model.metadata, model.extra_tensors = content.metadata, content.extra_tensors
    return model


def as_array(X, dtype, what: str = "X") -> np.ndarray:
    """``X`` as an array of ``dtype``; DataError for non-numeric data."""
    array = np.asarray(X)
    if array.dtype.kind not in "biuf":
        raise DataError(f"{what} must hold numbers, got an array of dtype {array.dtype}")
    return array.astype(dtype, copy=False)


def class_targets(Y, n_classes: int, dtype, what: str = "Y") -> np.ndarray:
    """One-hot rows (..., n_classes) from class indices (...) of any integer dtype, or
    ``Y`` itself cast to ``dtype`` when it already has the classes as its last axis."""
    Y = np.asarray(Y)
    if Y.dtype.kind in "iu" and (Y.ndim == 0 or Y.shape[-1] != n_classes or Y.ndim == 1):
        if Y.size and (Y.min() < 0 or Y.max() >= n_classes):
            raise DataError(f"{what} holds class indices from {Y.min()} to {Y.max()}, but "
                            f"the model has {n_classes} classes (0 to {n_classes - 1})")
        return np.eye(n_classes, dtype=dtype)[Y]
    if Y.dtype.kind not in "biuf":
        raise DataError(f"{what} must hold numbers, got an array of dtype {Y.dtype}")
    if Y.shape[-1:] != (n_classes,):
        raise DataError(f"{what} has shape {Y.shape}: give class indices, or one-hot rows "
                        f"of {n_classes} columns")
    return Y.astype(dtype, copy=False)


class Model:
    """The protocol of every trainable dagnet model; see the module docstring.

    Subclasses set ``file_format``/``format_version``/``description`` and define
    ``config``, ``predict``, ``train_step``, ``evaluate_batch``, ``weights`` and
    ``from_file``.  ``rng`` (dropout masks) and ``carried_state`` (state carried
    between batches) are saved in checkpoints when a model has them.
    """

    file_format = ""
    format_version = 1
    description = "dagnet model"
    # Which axis of X and Y counts the examples: 0 for (batch, features), 1 for
    # time-first sequences (time, batch, ...).
    batch_axis = 0
    rng: np.random.Generator | None = None
    carried_state: list[np.ndarray] | None = None

    parameter_nodes: list[ParameterNode]
    metadata: dict
    extra_tensors: dict[str, np.ndarray]

    # -- what subclasses define -----------------------------------------------------------

    def config(self) -> dict:
        raise NotImplementedError

    def predict(self, X, batch_size: int = 10000) -> np.ndarray:
        raise NotImplementedError

    def train_step(self, batch, optimizer: OptimizationAlgorithm) -> float:
        raise NotImplementedError

    def evaluate_batch(self, inputs, targets) -> tuple[float, int, int | None]:
        raise NotImplementedError

    def weights(self) -> dict[str, np.ndarray]:
        """The parameters by tensor name, as the model file stores them."""
        return {p.name: p.w for p in self.parameter_nodes}

    @classmethod
    def from_file(cls, path: Path, content: ModelFile, limits: Limits) -> Model:
        """The model a file's checked content describes (``load`` calls this)."""
        raise NotImplementedError

    @classmethod
    def load(cls, path: str | os.PathLike, limits: Limits | None = None) -> Model:
        """The model in ``path`` (as ``dagnet.load``), which must be a ``cls``."""
        model = load(path, limits)
        if not isinstance(model, cls):
            raise ModelFileError(f"{path}: not a {cls.description} (it holds a "
                                 f"{model.description})")
        return model

    # -- shared ------------------------------------------------------------------------------

    @property
    def dtype(self) -> np.dtype:
        return self.parameter_nodes[0].w.dtype

    @property
    def n_parameters(self) -> int:
        return int(sum(p.w.size for p in self.parameter_nodes))

    def evaluate(self, X, Y, *, batch_size: int = 1000) -> dict:
        """``loss``: the mean loss per example over X, Y (no update); ``accuracy`` too
        for a classifier.  X and Y are cut into chunks of ``batch_size`` examples."""
        n = np.shape(X)[self.batch_axis] if np.ndim(X) else 0
        if n == 0 or np.shape(Y)[self.batch_axis] != n:
            raise DataError(f"evaluate needs examples with one target each: X has shape "
                            f"{np.shape(X)}, Y {np.shape(Y)}")
        total, count, correct = 0.0, 0, 0
        for start in range(0, n, batch_size):
            rows = slice(start, start + batch_size)
            index = (slice(None),) * self.batch_axis + (rows,)
            loss, examples, right = self.evaluate_batch(np.asarray(X)[index],
                                                        np.asarray(Y)[index])
            total, count = total + loss, count + examples
            correct = None if right is None or correct is None else correct + right
        metrics = {"loss": total / max(count, 1)}
        if correct is not None:
            metrics["accuracy"] = correct / max(count, 1)
        return metrics

    def fit(self, X, Y, *, epochs: float = 1, batch_size: int = 32,
            optimizer: str | OptimizationAlgorithm = "adam", learning_rate: float | None = None,
            validation_data: tuple | None = None, callbacks: Iterable[Extension] = (),
            seed: int | None = None, progress: bool | None = False, **optimizer_options
            ) -> History:
        """Train on X, Y for ``epochs`` passes of shuffled mini-batches; return the History.

        ``optimizer`` is a name ("adam", "sgd", ...; options as keyword arguments) or an
        instance over ``parameter_nodes``.  ``validation_data=(X_val, Y_val)`` adds
        ``val_loss`` (and ``val_accuracy``) to every epoch's entry.  ``callbacks`` are
        Trainer extensions (``dagnet.training``).  Ctrl-C ends the run after the current
        step; ``history.stop_reason`` says why it stopped.
        """
        X = self.inputs_for(X)
        rng = np.random.default_rng(seed)
        data = self.batches(X, Y, batch_size, rng)
        extensions: list[Extension] = [StopOnNonFinite(), Interrupt(),
                                       ProgressBar(progress, "fit"), *callbacks]
        if validation_data is not None:
            X_val, Y_val = validation_data
            extensions.append(Evaluate((self.inputs_for(X_val, "validation X"), Y_val),
                                       batch_size=max(batch_size, 1000)))
        if learning_rate is not None:
            optimizer_options["learning_rate"] = learning_rate
        trainer = Trainer(self, make_optimizer(optimizer, self.parameter_nodes,
                                               **optimizer_options),
                          data, epochs=epochs, extensions=extensions)
        return trainer.run()

    def inputs_for(self, X, what: str = "X") -> np.ndarray:
        """X as the model reads it: an array of the model's dtype (cast once, here)."""
        return as_array(X, self.dtype, what)

    def batches(self, X, Y, batch_size: int, rng: np.random.Generator | None):
        """The iterator ``fit`` trains on (rows of arrays, shuffled by ``rng``)."""
        return ArrayBatches(X, Y, batch_size, rng)

    def save(self, path: str | os.PathLike, metadata: dict | None = None,
             extra_tensors: dict[str, np.ndarray] | None = None) -> Path:
        """Write the architecture and weights to ``path`` atomically, with ``metadata``
        (JSON-ready; default ``self.metadata``) and ``extra_tensors``."""
        return write_model_file(path, self.file_format, self.format_version, self.config(),
                                self.weights(), self.metadata if metadata is None else metadata,
                                self.extra_tensors if extra_tensors is None else extra_tensors)

