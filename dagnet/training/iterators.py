"""Data iterators: where the Trainer's batches come from.

Every iterator has ``next_batch() -> Batch``, the counters ``epoch`` (completed
epochs), ``epoch_detail`` (with the fraction of the current one), ``is_new_epoch``
(the batch just taken ended an epoch), ``batches_per_epoch``, and
``state_dict()`` / ``load_state_dict()`` so that a checkpoint resumes the data
exactly where it stopped (mid-epoch included).

- ``ArrayBatches``: rows of arrays, (batch, features), shuffled every epoch.
- ``AugmentedBatches``: the same, each batch's inputs transformed at random as it is
  drawn (random shifts of images), by a generator of its own that checkpoints keep.
- ``GeneratedBatches``: examples drawn fresh by a function of an rng (the Reber
  strings), padded by that function; an epoch is ``n_examples`` examples.
- ``StreamBatches``: char-rnn's parallel text streams for truncated
  backpropagation; ``Batch.first`` tells the model to reset the carried state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dagnet.errors import DataError
from dagnet.rng import rng_state


@dataclass
class Batch:
    """One update's data: ``inputs`` and ``targets`` as the model reads them, the
    number of examples ``size`` the mean loss is taken over (rows, strings or
    characters), and ``first``: the batch starts the streams again (reset state)."""

    inputs: np.ndarray
    targets: np.ndarray
    size: int
    first: bool = False


class _Counted:
    """Epoch counters shared by the iterators: ``position`` batches into epoch ``epoch``."""

    batches_per_epoch = 1

    def __init__(self):
        self.epoch = 0
        self.position = 0
        self.is_new_epoch = False

    @property
    def epoch_detail(self) -> float:
        return self.epoch + self.position / self.batches_per_epoch

    def _advance(self) -> None:
        self.position += 1
        self.is_new_epoch = self.position == self.batches_per_epoch
        if self.is_new_epoch:
            self.epoch += 1
            self.position = 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        if not 0 <= self.position < self.batches_per_epoch:
            raise ValueError(f"position {self.position} is outside an epoch of "
                             f"{self.batches_per_epoch} batches")
        self.is_new_epoch = False


class ArrayBatches(_Counted):
    """Mini-batches of rows of ``X`` and ``Y`` (batch first; ``axis=1`` for time-first
    sequences), reshuffled every epoch by ``rng`` (None: in order).  The last batch of
    an epoch may be smaller."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, batch_size: int,
                 rng: np.random.Generator | None = None, axis: int = 0):
        super().__init__()
        if axis:  # the examples along ``axis``: move them first once, take rows below
            X, Y = np.moveaxis(X, axis, 0), np.moveaxis(np.asarray(Y), axis, 0)
        self.axis = axis
        if len(X) != len(Y):
            raise DataError(f"X has {len(X)} rows but Y has {len(Y)}: one target per example")
        if len(X) == 0:
            raise DataError("no examples to train on (X has 0 rows)")
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        self.X, self.Y, self.batch_size, self.rng = X, Y, int(batch_size), rng
        self.batches_per_epoch = math.ceil(len(X) / self.batch_size)
        self._epoch_rng_state = None if rng is None else rng_state(rng)
        self._order = self._new_order()

    def _new_order(self) -> np.ndarray:
        if self.rng is None:
            return np.arange(len(self.X))
        self._epoch_rng_state = rng_state(self.rng)
        return self.rng.permutation(len(self.X))

    def next_batch(self) -> Batch:
        start = self.position * self.batch_size
        rows = self._order[start:start + self.batch_size]
        X, Y = self.X[rows], self.Y[rows]
        if self.axis:
            X, Y = np.moveaxis(X, 0, self.axis), np.moveaxis(Y, 0, self.axis)
        batch = Batch(X, Y, len(rows))
        self._advance()
        if self.is_new_epoch:
            self._order = self._new_order()
        return batch

    def state_dict(self) -> dict:
        # The order of the current epoch is the permutation drawn from this state.
        return super().state_dict() | {"rng": self._epoch_rng_state}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if self.rng is not None and state.get("rng") is not None:
            self.rng.bit_generator.state = state["rng"]
            self._order = self._new_order()


class AugmentedBatches(ArrayBatches):
    """``ArrayBatches`` whose inputs pass through ``augment(inputs, augment_rng)`` each time
    a batch is drawn: every epoch sees the examples differently (``dagnet.data.augment``).
    ``augment_rng`` is the augmentation's own generator, so the shuffling stays what
    ``rng`` alone makes it; its state goes into ``state_dict`` so that a resumed run
    draws the same transformations."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, batch_size: int,
                 rng: np.random.Generator | None,
                 augment: Callable[[np.ndarray, np.random.Generator], np.ndarray],
                 augment_rng: np.random.Generator, axis: int = 0):
        super().__init__(X, Y, batch_size, rng, axis)
        self.augment, self.augment_rng = augment, augment_rng

    def next_batch(self) -> Batch:
        batch = super().next_batch()
        batch.inputs = self.augment(batch.inputs, self.augment_rng)
        return batch

    def state_dict(self) -> dict:
        return super().state_dict() | {"augment_rng": rng_state(self.augment_rng)}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if state.get("augment_rng") is not None:
            self.augment_rng.bit_generator.state = state["augment_rng"]


class GeneratedBatches(_Counted):
    """Batches drawn fresh: ``make(n, rng) -> (inputs, targets)`` gives ``n`` new
    examples; an epoch is ``n_examples`` examples in batches of ``batch_size``."""

    def __init__(self, make: Callable[[int, np.random.Generator], tuple], n_examples: int,
                 batch_size: int, rng: np.random.Generator):
        super().__init__()
        if n_examples < 1 or batch_size < 1:
            raise ValueError(f"n_examples and batch_size must be positive, got {n_examples} "
                             f"and {batch_size}")
        self.make, self.rng = make, rng
        self.n_examples, self.batch_size = int(n_examples), int(batch_size)
        self.batches_per_epoch = math.ceil(self.n_examples / self.batch_size)

    def next_batch(self) -> Batch:
        n = min(self.batch_size, self.n_examples - self.position * self.batch_size)
        inputs, targets = self.make(n, self.rng)
        self._advance()
        return Batch(inputs, targets, n)

    @property
    def examples_seen(self) -> int:
        """Examples drawn so far in all epochs."""
        done = self.epoch * self.n_examples
        return done + min(self.position * self.batch_size, self.n_examples)

    def state_dict(self) -> dict:
        return super().state_dict() | {"rng": rng_state(self.rng)}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.rng.bit_generator.state = state["rng"]


class StreamBatches(_Counted):
    """char-rnn's batches: ``streams`` (a ``dagnet.data.text.CharStreams``) read in order,
    X and Y (T, B) symbol indices; ``size`` is T·B characters; ``first`` marks the
    first batch of every epoch, where the streams start again from their beginning."""

    def __init__(self, streams):
        super().__init__()
        self.streams = streams
        self.batches_per_epoch = streams.batches

    def next_batch(self) -> Batch:
        first = self.position == 0
        X, Y = self.streams.batch(self.position)
        self._advance()
        return Batch(X, Y, int(X.size), first)
