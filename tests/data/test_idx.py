"""The IDX reader: round trips, gzip by content, and every way a file can be bad."""

from __future__ import annotations

import gzip
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagnet.data.idx import encode_idx, is_idx, read_idx, write_idx
from dagnet.errors import DataError

DTYPES = ["u1", "i1", "i2", "i4", "f4", "f8"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_every_type(tmp_path, rng, dtype, compress):
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    path = write_idx(tmp_path / "a.idx", array, compress=compress)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(back, array)
    back[0, 0, 0] = 1  # callers may modify what they get
    assert is_idx(path)


def test_header_is_big_endian_as_in_the_mnist_files():
    data = encode_idx(np.arange(6, dtype=np.int16).reshape(2, 3))
    assert data[:4] == b"\x00\x00\x0b\x02"
    assert struct.unpack(">II", data[4:12]) == (2, 3)
    assert struct.unpack(">6h", data[12:]) == tuple(range(6))


def test_gzip_is_detected_by_content_not_name(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    (tmp_path / "named.gz").write_bytes(encode_idx(array))
    (tmp_path / "plain").write_bytes(gzip.compress(encode_idx(array)))
    np.testing.assert_array_equal(read_idx(tmp_path / "named.gz"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "plain"), array)


def test_expected_kind_is_checked_from_the_header(tmp_path):
    path = write_idx(tmp_path / "labels", np.zeros(5, dtype=np.uint8))
    with pytest.raises(DataError, match=r"labels.*1-dimensional array, expected 3"):
        read_idx(path, ndim=3)
    with pytest.raises(DataError, match=r"holds uint8 values, expected float32"):
        read_idx(path, dtype=np.float32)
    assert read_idx(path, dtype=np.uint8, ndim=1).shape == (5,)


def _valid(shape=(2, 3)) -> bytes:
    return encode_idx(np.arange(np.prod(shape), dtype=np.uint8).reshape(shape))


BAD_FILES = {
    "empty": (b"", r"not an IDX file: the content has 0 bytes"),
    "png": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, r"starts with bytes 89 50 4e 47"),
    "type code": (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"x",
                  r"unknown IDX type code 0x07"),
    "no dimension": (b"\x00\x00\x08\x00", r"declares 0 dimensions"),
    "truncated header": (b"\x00\x00\x08\x03" + struct.pack(">I", 2),
                         r"truncated IDX header: 3 dimensions need 16 bytes, the file has 8"),
    "truncated payload": (_valid()[:-1], r"truncated: .*shape \(2, 3\) \(6 payload bytes\)"
                                         r", the file holds 5"),
    "trailing garbage": (_valid() + b"junk", r"4 bytes of trailing garbage"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
@pytest.mark.parametrize("compress", [False, True])
def test_bad_files_raise_data_error_naming_file(tmp_path, case, compress):
    data, message = BAD_FILES[case]
    if compress:
        data = gzip.compress(data)
        message = message.replace("the file", "the decompressed file").replace(
            "the content", "the decompressed content").replace(
            "4 bytes of trailing garbage", "trailing garbage")
    path = tmp_path / f"bad-{case.replace(' ', '-')}"
    path.write_bytes(data)
    with pytest.raises(DataError, match=message) as info:
        read_idx(path)
    assert str(info.value).startswith(str(path))
    assert not is_idx(path) or case not in ("empty", "png")


def test_broken_gzip_streams(tmp_path):
    data = gzip.compress(_valid((50, 50)))
    (tmp_path / "cut.gz").write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match=r"cut.gz: corrupt or truncated gzip data"):
        read_idx(tmp_path / "cut.gz")
    flipped = bytearray(data)
    flipped[-6] ^= 0xFF  # inside the CRC-32 of the trailer
    (tmp_path / "crc.gz").write_bytes(bytes(flipped))
    with pytest.raises(DataError, match=r"crc.gz: corrupt or truncated gzip data"):
        read_idx(tmp_path / "crc.gz")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match=r"nope.idx: no such file"):
        read_idx(tmp_path / "nope.idx")
    with pytest.raises(DataError, match=r"is a folder"):
        read_idx(tmp_path)


@pytest.mark.parametrize("compress", [False, True])
def test_a_lying_header_allocates_nothing(tmp_path, compress):
    # Four sizes of 2^32 - 1 bytes each claim ~3e38 bytes: the reader must refuse
    # from the header and the real length, not try to allocate.
    data = b"\x00\x00\x08\x04" + struct.pack(">4I", *[2**32 - 1] * 4) + b"\x00" * 100
    path = tmp_path / "liar"
    path.write_bytes(gzip.compress(data) if compress else data)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"truncated: its header declares shape"):
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20


def test_write_refuses_what_idx_cannot_hold(tmp_path):
    with pytest.raises(DataError, match=r"cannot store complex128"):
        write_idx(tmp_path / "c", np.zeros(2, dtype=complex))
    with pytest.raises(DataError, match=r"1 to 255 dimensions"):
        write_idx(tmp_path / "s", np.float64(1.0))
    assert not (tmp_path / "c").exists()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damage_gives_an_array_or_a_data_error(tmp_path, data):
    raw = bytearray(encode_idx(np.arange(24, dtype=np.int16).reshape(2, 3, 4)))
    if data.draw(st.booleans(), label="compress"):
        raw = bytearray(gzip.compress(bytes(raw), mtime=0))
    for _ in range(data.draw(st.integers(0, 3), label="flips")):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)), label="length")
    path = tmp_path / "damaged"
    path.write_bytes(bytes(raw[:cut]))
    try:
        array = read_idx(path)
    except DataError as exc:
        assert str(exc).startswith(str(path))
    else:
        assert isinstance(array, np.ndarray)
