"""What the character-level language models (``CharRNN``, ``GPT``) share: the
vocabulary a model file holds, the choice of the next character, and the loop that
writes text one character at a time.

The models differ only in how they read what was written so far: char-rnn steps
its carried state through each new character, a GPT reads the last ``block_size``
characters again.  ``sample_text`` takes that reading as a function, so a prime,
a temperature and a seed give the same kind of text from either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dagnet.data.text import Vocabulary
from dagnet.errors import DataError, ModelFileError
from dagnet.limits import Limits
from dagnet.schema import show


def pick(logits: np.ndarray, temperature: float, rng: np.random.Generator,
         top_k: int | None = None) -> int:
    """A symbol drawn from softmax(logits / temperature), among the ``top_k`` most likely
    only when given (nanoGPT's top-k); the argmax when temperature = 0."""
    if temperature == 0:
        return int(np.argmax(logits))
    z = np.asarray(logits, dtype=np.float64) / temperature
    if top_k is not None and top_k < len(z):
        z = np.where(z < np.partition(z, -top_k)[-top_k], -np.inf, z)
    p = np.exp(z - z.max())
    cumulative = np.cumsum(p)
    return int(min(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"),
                   len(p) - 1))


def sample_text(vocabulary: Vocabulary, next_logits: Callable[[Sequence[int]], np.ndarray],
                length: int, temperature: float, rng: np.random.Generator, prime: str = "",
                top_k: int | None = None) -> str:
    """``length`` characters following ``prime``, each drawn by ``pick`` from
    ``next_logits(symbols so far)`` (the logits (V,) of the next one) and fed back.

    The prime's characters must be in the vocabulary; an empty prime starts the text
    with one character drawn at random, which is part of the text returned.
    """
    if length < 0 or not temperature >= 0:
        raise ValueError(f"length must be >= 0 and temperature >= 0, got {length} and "
                         f"{temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k}")
    unknown = vocabulary.unknown(prime)
    if unknown:
        raise DataError(f"the prime has characters the model does not know: {unknown}")
    symbols = (list(vocabulary.encode(prime)) if prime
               else [int(rng.integers(len(vocabulary)))])
    start = len(symbols) - (0 if prime else 1)
    while len(symbols) - start < length:
        symbols.append(pick(next_logits(symbols), temperature, rng, top_k))
    return vocabulary.decode(symbols[start:start + length])


def check_vocabulary(value, limits: Limits) -> str:
    """A saved ``config.vocabulary``: 1 to ``limits.max_vocabulary`` distinct characters in
    sorted order (``Vocabulary.chars``); ModelFileError otherwise."""
    if type(value) is not str or not 1 <= len(value) <= limits.max_vocabulary:
        raise ModelFileError(f"config.vocabulary: expected a string of 1 to "
                             f"{limits.max_vocabulary} characters (Limits.max_vocabulary)"
                             f", got {show(value)}")
    if list(value) != sorted(set(value)):
        raise ModelFileError("config.vocabulary: expected distinct characters in sorted "
                             f"order, got {show(value)}")
    return value
