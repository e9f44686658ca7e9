"""Text for character-level language models, as char-rnn and nanoGPT read it.

* ``read_text(path)``: a UTF-8 file, refused with a one-line DataError when it is
  empty, binary or not UTF-8;
* ``Vocabulary``: the sorted set of characters of a text, symbol ``k`` = its k-th
  character; saved with the model (``Vocabulary.chars``), so a model encodes and
  decodes text the same way wherever it runs;
* ``CharStreams.split``: char-rnn's 95/5 split.  The text is cut into
  ``batch_size`` parallel streams read ``seq_length`` characters at a time: batch k
  holds characters [k·T, (k+1)·T) of every stream, so the hidden state each stream
  ends a batch with is the right one to start its next batch with (truncated
  backpropagation: the state is carried as a value; the gradient stops at the
  batch boundary).  The first 95% of the batches train, the last 5% validate: the
  validation text is the end of every stream, spread over the whole text.
* ``text_streams``: a text file read, checked against a vocabulary and split, with
  the description a checkpoint keeps of it;
* ``text_windows``: the same file cut nanoGPT's way for a GPT: the first 90% of the
  text trains, the last 10% validates (``split_symbols``), read in windows of
  ``block_size`` characters starting at random (``random_windows``, batch first);
* ``locate_tiny_shakespeare``: char-rnn's corpus, from $DAGNET_DATA_DIR/tinyshakespeare,
  the cache or a checksummed download.

Streams are time first: a batch is ``X, Y`` of shape (T, B), symbol indices, with
Y[t, b] the character that follows X[t, b]; windows are batch first, (B, T).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dagnet.data.download import DownloadError, RemoteFile, cache_dir, fetch
from dagnet.errors import DataError

TRAIN_FRACTION = 0.95
WINDOW_TRAIN_FRACTION = 0.9  # nanoGPT's
ENV_VARIABLE = "DAGNET_DATA_DIR"
TINY_SHAKESPEARE = RemoteFile(
    "input.txt",
    ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/"
     "input.txt",),
    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed")
TINY_SHAKESPEARE_CHARS = 1115394


def read_text(path: str | os.PathLike) -> str:
    """The text of a UTF-8 file; DataError naming the file when it is missing, empty,
    binary (holds NUL bytes) or not valid UTF-8."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: a folder, not a text file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if not data:
        raise DataError(f"{path}: the file is empty")
    nul = data.find(b"\0")
    if nul >= 0:
        raise DataError(f"{path}: a binary file (a NUL byte at offset {nul}), not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at "
                        f"offset {exc.start})") from None
    return text.removeprefix("\ufeff")


def text_digest(text: str) -> str:
    """SHA-256 of the text's UTF-8 bytes: how a checkpoint recognizes its training data."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Vocabulary:
    """The characters a model reads and writes, sorted: symbol k is ``chars[k]``."""

    def __init__(self, chars: str):
        if not chars or len(set(chars)) != len(chars):
            raise DataError("a vocabulary needs at least one character, each once")
        self.chars = "".join(sorted(chars))
        self.index = {c: k for k, c in enumerate(self.chars)}
        # Code point -> symbol for every code point up to the largest one (-1 elsewhere):
        # encoding a megabyte of text is then one NumPy gather, not a Python loop.
        codes = np.fromiter(map(ord, self.chars), dtype=np.int64, count=len(self.chars))
        self._lookup = np.full(int(codes.max()) + 1, -1, dtype=np.int32)
        self._lookup[codes] = np.arange(len(self.chars), dtype=np.int32)

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        return cls("".join(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.chars == other.chars

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} characters)"

    def unknown(self, text: str) -> list[str]:
        """The characters of ``text`` that are not in the vocabulary, sorted."""
        return sorted(set(text) - set(self.chars))

    def encode(self, text: str) -> np.ndarray:
        """Symbol indices (int32) of ``text``; DataError naming unknown characters."""
        if not text:
            return np.zeros(0, dtype=np.int32)
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        clipped = np.minimum(codes, len(self._lookup) - 1)
        symbols = self._lookup[clipped]
        if (codes >= len(self._lookup)).any() or (symbols < 0).any():
            raise DataError("characters not in the vocabulary: "
                            + describe_chars(self.unknown(text)))
        return symbols

    def decode(self, symbols) -> str:
        return "".join(self.chars[int(k)] for k in np.ravel(symbols))


def describe_chars(chars) -> str:
    """Characters as a reader can see them: repr of each, at most 20."""
    chars = list(chars)
    shown = " ".join(repr(c) for c in chars[:20])
    return shown + (f" and {len(chars) - 20} more" if len(chars) > 20 else "")


class CharStreams:
    """A text cut into ``batch_size`` streams of equal length, read ``seq_length`` symbols
    at a time: ``streams`` is (batches·T + 1, B), time first, column b = stream b.

    Batch k is X = streams[k·T : (k+1)·T], Y = the same rows shifted by one: stream b
    continues in batch k + 1 where it stopped in batch k.  The Trainer reads them through
    ``dagnet.training.StreamBatches``, which keeps the position.
    """

    def __init__(self, streams: np.ndarray, seq_length: int):
        streams = np.asarray(streams)
        if seq_length < 1 or streams.ndim != 2 or (len(streams) - 1) % seq_length:
            raise ValueError(f"streams must be (batches·{seq_length} + 1, B), got shape "
                             f"{streams.shape}")
        self.streams = streams
        self.batch_size, self.seq_length = streams.shape[1], int(seq_length)
        self.batches = (len(streams) - 1) // seq_length

    @classmethod
    def split(cls, symbols: np.ndarray, batch_size: int, seq_length: int,
              train_fraction: float = TRAIN_FRACTION) -> tuple[CharStreams, CharStreams]:
        """char-rnn's split: ``symbols`` cut into ``batch_size`` streams and those into
        batches of ``seq_length``; the first ``train_fraction`` of the batches (at least
        one) train, the rest (at least one) validate.  So the validation text is the end
        of every stream, spread over the whole text like the training text."""
        symbols = np.asarray(symbols)
        if batch_size < 1 or seq_length < 1:
            raise ValueError(f"batch_size and seq_length must be positive, got {batch_size} "
                             f"and {seq_length}")
        if not 0 < train_fraction <= 1:
            raise ValueError(f"train_fraction must lie in (0, 1], got {train_fraction}")
        batches = ((len(symbols) - 1) // batch_size) // seq_length
        if batches < 2:
            raise DataError(f"the text has {len(symbols)} characters: too short for two "
                            f"batches (one to train, one to validate) of {batch_size} streams "
                            f"× {seq_length} characters (needs at least "
                            f"{2 * batch_size * seq_length + 1}); use a smaller --batch-size "
                            "or --seq-length")
        length = batches * seq_length
        stream_length = (len(symbols) - 1) // batch_size
        rows = (np.arange(batch_size) * stream_length)[None, :] + np.arange(length + 1)[:, None]
        streams = symbols[rows]  # (length + 1, B), time first
        n_train = min(max(1, int(batches * train_fraction)), batches - 1)
        cut = n_train * seq_length
        return cls(streams[:cut + 1], seq_length), cls(streams[cut:], seq_length)

    @property
    def characters_per_batch(self) -> int:
        return self.batch_size * self.seq_length

    def batch(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``k`` (0 ≤ k < batches): X and Y, (T, B) symbol indices."""
        if not 0 <= k < self.batches:
            raise IndexError(f"batch {k} out of range: an epoch has {self.batches}")
        start = k * self.seq_length
        return (self.streams[start:start + self.seq_length],
                self.streams[start + 1:start + self.seq_length + 1])

    def __iter__(self):
        """Every batch of an epoch, in order (validation)."""
        return (self.batch(k) for k in range(self.batches))


@dataclass
class TextStreams:
    """A text file cut for a char-rnn: its absolute ``path``, ``vocabulary``, training and
    validation streams, and ``description`` (path, SHA-256, characters: what a
    checkpoint records to recognize its text)."""

    path: Path
    vocabulary: Vocabulary
    train: CharStreams
    val: CharStreams
    description: dict


def text_streams(path: str | os.PathLike | None, batch_size: int, seq_length: int,
                 train_fraction: float = TRAIN_FRACTION, vocabulary: Vocabulary | None = None,
                 progress: bool | None = None) -> TextStreams:
    """The text of ``path`` (None: tiny Shakespeare, ``locate_tiny_shakespeare``) in
    symbols of ``vocabulary`` (default: the text's own), cut by ``CharStreams.split``;
    a DataError names the characters the vocabulary lacks."""
    path, vocabulary, symbols, description = encoded_text(path, vocabulary, progress)
    train, val = CharStreams.split(symbols, batch_size, seq_length, train_fraction)
    return TextStreams(path, vocabulary, train, val, description)


def encoded_text(path: str | os.PathLike | None, vocabulary: Vocabulary | None = None,
                 progress: bool | None = None) -> tuple[Path, Vocabulary, np.ndarray, dict]:
    """The absolute path of ``path`` (None: tiny Shakespeare), the vocabulary (default: the
    text's own), the text's symbols and its description (path, SHA-256, characters); a
    DataError names the characters the vocabulary lacks."""
    path = Path(locate_tiny_shakespeare(progress=progress) if path is None else path).resolve()
    text = read_text(path)
    vocabulary = Vocabulary.from_text(text) if vocabulary is None else vocabulary
    unknown = vocabulary.unknown(text)
    if unknown:
        raise DataError(f"vocabulary mismatch: {path} has {len(unknown)} character(s) the "
                        f"model was not trained with: {describe_chars(unknown)}")
    return path, vocabulary, vocabulary.encode(text), {
        "path": str(path), "sha256": text_digest(text), "characters": len(text)}


# -- nanoGPT's way: one split, random windows -------------------------------------------------

def split_symbols(symbols: np.ndarray, train_fraction: float = WINDOW_TRAIN_FRACTION
                  ) -> tuple[np.ndarray, np.ndarray]:
    """nanoGPT's split: the first ``train_fraction`` of the symbols train, the rest
    validate (one contiguous piece each, unlike ``CharStreams.split``)."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction}")
    cut = int(train_fraction * len(symbols))
    return symbols[:cut], symbols[cut:]


def random_windows(symbols: np.ndarray, block_size: int, count: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """nanoGPT's batches: ``count`` windows of ``block_size`` symbols starting at random
    (uniform over every start), X:(count, T), and Y:(count, T) the symbols that follow
    each of them: Y[b, t] = X[b, t + 1] within the window.  Batch first, unlike the
    streams."""
    if not 0 < block_size < len(symbols):
        raise ValueError(f"windows of {block_size} symbols and the one after need "
                         f"{block_size + 1} symbols, got {len(symbols)}")
    starts = rng.integers(0, len(symbols) - block_size, count)
    rows = starts[:, None] + np.arange(block_size)
    return symbols[rows], symbols[rows + 1]


@dataclass
class TextWindows:
    """A text file cut for a GPT: its absolute ``path``, ``vocabulary``, ``train`` and
    ``val`` symbols (nanoGPT's split) and ``description`` (as ``TextStreams``)."""

    path: Path
    vocabulary: Vocabulary
    train: np.ndarray
    val: np.ndarray
    description: dict


def text_windows(path: str | os.PathLike | None, block_size: int,
                 train_fraction: float = WINDOW_TRAIN_FRACTION,
                 vocabulary: Vocabulary | None = None,
                 progress: bool | None = None) -> TextWindows:
    """The text of ``path`` (None: tiny Shakespeare) in symbols of ``vocabulary`` (default:
    the text's own), split by ``split_symbols``; a DataError when either part is too short
    for one window of ``block_size`` symbols and the one after it."""
    path, vocabulary, symbols, description = encoded_text(path, vocabulary, progress)
    train, val = split_symbols(symbols, train_fraction)
    if min(len(train), len(val)) <= block_size:
        raise DataError(f"{path}: {len(symbols)} characters are too short for windows of "
                        f"{block_size} in both the training ({len(train)}) and validation "
                        f"({len(val)}) parts: use a smaller --block-size")
    return TextWindows(path, vocabulary, train, val, description)


def locate_tiny_shakespeare(*, download: bool = True, progress: bool | None = None) -> Path:
    """Tiny Shakespeare's input.txt: from $DAGNET_DATA_DIR/tinyshakespeare, the cache, or a
    checksummed download into the cache."""
    folders = []
    env = os.environ.get(ENV_VARIABLE)
    if env:
        folders.append(Path(env) / "tinyshakespeare")
    cache = cache_dir("tinyshakespeare")
    folders.append(cache)
    for folder in folders:
        if (folder / TINY_SHAKESPEARE.name).is_file():
            return folder / TINY_SHAKESPEARE.name
    reason = "downloading is off"
    if download:
        try:
            return fetch(TINY_SHAKESPEARE, cache, progress=progress)
        except (DownloadError, DataError) as exc:
            reason = str(exc)
    raise DataError("tiny Shakespeare not found in " + ", ".join(map(str, folders))
                    + f" and the download failed: {reason}. Pass --data FILE")
