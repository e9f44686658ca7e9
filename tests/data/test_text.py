"""dagnet.data.text: reading UTF-8 text, the vocabulary, the 95/5 split, the parallel
streams whose state carries from batch to batch, and tiny Shakespeare's downloader."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from dagnet.data.download import RemoteFile, fetch
from dagnet.data.text import (
    TINY_SHAKESPEARE,
    TINY_SHAKESPEARE_CHARS,
    CharStreams,
    Vocabulary,
    locate_tiny_shakespeare,
    random_windows,
    read_text,
    split_symbols,
    text_streams,
    text_windows,
)
from dagnet.errors import DataError
from tests.conftest import SHARED_DATA, require_data

SHAKESPEARE = SHARED_DATA / "tinyshakespeare" / "input.txt"


def test_read_text_reads_utf8_and_drops_a_byte_order_mark(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("\ufeffÉté, naïve — ok\n".encode())
    assert read_text(path) == "Été, naïve — ok\n"


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"ab\x00\x01\x02", "binary file .*NUL byte at offset 2"),
    (b"abc\xff\xfe", "not UTF-8 text .*0xff at offset 3"),
])
def test_read_text_refuses_what_is_not_text_in_one_line(tmp_path, content, message):
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        read_text(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_read_text_names_a_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_text(tmp_path / "missing.txt")


def test_vocabulary_is_sorted_and_round_trips():
    vocabulary = Vocabulary.from_text("hello, wörld\n")
    assert vocabulary.chars == "".join(sorted(set("hello, wörld\n")))
    symbols = vocabulary.encode("world, hello\n")
    assert symbols.dtype == np.int32
    assert [vocabulary.chars[s] for s in symbols] == list("world, hello\n")
    assert vocabulary.decode(symbols) == "world, hello\n"
    assert Vocabulary(vocabulary.chars) == vocabulary


def test_vocabulary_names_unknown_characters():
    vocabulary = Vocabulary("abc")
    assert vocabulary.unknown("abzx€") == ["x", "z", "€"]
    with pytest.raises(DataError, match="'x' 'z' '€'"):
        vocabulary.encode("abzx€")
    with pytest.raises(DataError):
        Vocabulary("aab")


def test_streams_carry_on_from_one_batch_to_the_next():
    symbols = np.arange(1003)
    train, val = CharStreams.split(symbols, batch_size=4, seq_length=10)
    L = 1002 // 4                                  # each stream's length
    assert train.batches + val.batches == L // 10
    previous_last = None
    for k in range(train.batches):
        X, Y = train.batch(k)
        assert X.shape == Y.shape == (10, 4)
        np.testing.assert_array_equal(Y[:-1], X[1:])          # Y is X shifted by one
        np.testing.assert_array_equal(Y[-1], X[-1] + 1)
        np.testing.assert_array_equal(X[:, 2], 2 * L + k * 10 + np.arange(10))
        if previous_last is not None:                         # stream b continues
            np.testing.assert_array_equal(X[0], previous_last + 1)
        previous_last = X[-1]
    # validation: the end of every stream, right after its training part
    X, _ = val.batch(0)
    np.testing.assert_array_equal(X[0], previous_last + 1)


def test_the_split_is_char_rnns_95_5_over_batches():
    symbols = np.arange(100 * 50 * 20 + 1)
    train, val = CharStreams.split(symbols, 50, 20)
    assert (train.batches, val.batches) == (95, 5)
    assert train.characters_per_batch == val.characters_per_batch == 1000
    seen = np.concatenate([np.ravel(X) for X, _ in train] + [np.ravel(X) for X, _ in val])
    np.testing.assert_array_equal(np.sort(seen), np.arange(100 * 50 * 20))
    # at least one batch each, whatever the fraction
    for fraction in (0.01, 0.99, 1.0):
        train, val = CharStreams.split(np.arange(2 * 4 * 5 + 1), 4, 5, fraction)
        assert (train.batches, val.batches) == (1, 1)
    with pytest.raises(ValueError, match=r"train_fraction must lie in \(0, 1\]"):
        CharStreams.split(np.arange(100), 4, 5, 0.0)


def test_streams_refuse_a_text_shorter_than_two_batches():
    with pytest.raises(DataError, match=r"100 characters: too short for two batches \(one to "
                                        r"train, one to validate\) of 10 streams × 5 "
                                        r"characters \(needs at least 101\)"):
        CharStreams.split(np.zeros(100, dtype=int), 10, 5)
    CharStreams.split(np.zeros(101, dtype=int), 10, 5)


def test_text_streams_reads_checks_and_describes_a_file(tmp_path, monkeypatch):
    text = "to be or not to be, that is the question\n" * 20
    (tmp_path / "t.txt").write_text(text)
    monkeypatch.chdir(tmp_path)
    streams = text_streams("t.txt", 4, 10)                       # a relative path
    assert streams.path == tmp_path / "t.txt" and streams.path.is_absolute()
    assert streams.vocabulary == Vocabulary.from_text(text)
    assert streams.description == {"path": str(tmp_path / "t.txt"), "characters": len(text),
                                   "sha256": hashlib.sha256(text.encode()).hexdigest()}
    expected, _ = CharStreams.split(streams.vocabulary.encode(text), 4, 10)
    np.testing.assert_array_equal(streams.train.streams, expected.streams)
    # another vocabulary encodes the same text, unless characters are missing from it
    wide = Vocabulary(streams.vocabulary.chars + "XYZ")
    assert text_streams("t.txt", 4, 10, vocabulary=wide).vocabulary is wide
    with pytest.raises(DataError, match=r"vocabulary mismatch: .*t.txt has 2 character\(s\) "
                                        r"the model was not trained with: ',' 'q'"):
        text_streams("t.txt", 4, 10, vocabulary=Vocabulary("abehinorstu \n"))


def test_nanogpts_split_and_random_windows():
    symbols = np.arange(100)
    train, val = split_symbols(symbols)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))
    X, Y = random_windows(train, 8, 500, np.random.default_rng(0))
    assert X.shape == Y.shape == (500, 8)
    np.testing.assert_array_equal(X[:, 1:], X[:, :-1] + 1)     # consecutive symbols
    np.testing.assert_array_equal(Y, X + 1)                     # each followed by the next
    assert X[:, 0].min() == 0 and Y.max() == 89                 # every start, within train
    again, _ = random_windows(train, 8, 500, np.random.default_rng(0))
    np.testing.assert_array_equal(X, again)
    with pytest.raises(ValueError, match="windows of 8 symbols and the one after need 9"):
        random_windows(np.arange(8), 8, 1, np.random.default_rng(0))


def test_text_windows_reads_a_file_and_refuses_one_too_short(tmp_path):
    text = "to be or not to be, that is the question\n" * 20
    (tmp_path / "t.txt").write_text(text)
    windows = text_windows(tmp_path / "t.txt", 16)
    assert windows.description["characters"] == len(text) == 820
    assert len(windows.train) == 738 and len(windows.val) == 82
    assert windows.vocabulary.decode(windows.val) == text[738:]
    with pytest.raises(DataError, match=r"t.txt: 820 characters are too short for windows of "
                                        r"82 in both the training \(738\) and validation "
                                        r"\(82\) parts: use a smaller --block-size"):
        text_windows(tmp_path / "t.txt", 82)


def test_tiny_shakespeare_is_the_known_file():
    path = require_data(SHAKESPEARE)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == TINY_SHAKESPEARE.sha256
    text = read_text(path)
    assert len(text) == TINY_SHAKESPEARE_CHARS
    assert len(Vocabulary.from_text(text)) == 65


def test_the_downloader_entry_checks_tiny_shakespeares_checksum(tmp_path):
    path = require_data(SHAKESPEARE)
    mirror = RemoteFile(TINY_SHAKESPEARE.name, (path.as_uri(),), TINY_SHAKESPEARE.sha256)
    got = fetch(mirror, tmp_path / "cache", progress=False)
    assert got.read_bytes() == path.read_bytes()
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not Shakespeare")
    with pytest.raises(DataError, match="wrong checksum"):
        fetch(RemoteFile("other.txt", (wrong.as_uri(),), TINY_SHAKESPEARE.sha256),
              tmp_path / "cache2", progress=False)
    assert not (tmp_path / "cache2" / "other.txt").exists()


def test_locate_prefers_the_data_dir_variable_and_falls_back_to_the_cache(tmp_path,
                                                                          monkeypatch):
    folder = tmp_path / "data" / "tinyshakespeare"
    folder.mkdir(parents=True)
    (folder / "input.txt").write_text("To be\n")
    monkeypatch.setenv("DAGNET_DATA_DIR", str(tmp_path / "data"))
    assert locate_tiny_shakespeare(download=False) == folder / "input.txt"
    # Nowhere to be found and no download: one line naming the folders searched.
    monkeypatch.setenv("DAGNET_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="tiny Shakespeare not found.*downloading is off"):
        locate_tiny_shakespeare(download=False)
    cached = tmp_path / "cache" / "dagnet" / "tinyshakespeare" / "input.txt"
    cached.parent.mkdir(parents=True)
    cached.write_text("Cached\n")
    assert locate_tiny_shakespeare(download=False) == cached
