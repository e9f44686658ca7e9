"""The IDX format of the MNIST files: read and write, gzip-compressed or raw.

An IDX file is a header and a payload, all big-endian::

    0x00 0x00  type code  ndim   size_1 … size_ndim (uint32 each)   payload

The type code gives the element type (0x08 uint8, 0x09 int8, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64); the payload holds size_1·…·size_ndim
elements in C order.  ``read_idx`` checks the magic bytes, the type code, the
number of dimensions, the sizes and the payload length *before* it allocates the
array, so a corrupt or hostile header never makes it allocate what the file does
not hold, nor more than ``Limits.max_data_bytes`` (a gzip bomb stops there); it
reads regular files only (not a FIFO or /dev/zero).  Every problem is a
DataError naming the file.  Gzip is detected by the content (its two magic
bytes), not by the file name.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from dagnet.errors import DataError
from dagnet.files import atomic_write_bytes, open_regular_file
from dagnet.limits import DEFAULT_LIMITS, Limits

# Type code -> big-endian dtype of the payload.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
_TYPE_NAMES = {0x08: "uint8", 0x09: "int8", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32",
               0x0E: "float64"}
_CODE_OF = {np.dtype(dt).newbyteorder("="): code for code, dt in IDX_TYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 22


def is_idx(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a regular file that starts like an IDX file (raw or
    gzip-compressed), by its content."""
    try:
        raw, _ = open_regular_file(path, DataError)
        with raw:
            head = raw.read(2)
            if head == _GZIP_MAGIC:
                raw.seek(0)
                with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                    head = f.read(2)
    except (DataError, OSError, EOFError, zlib.error):
        return False
    return head == b"\x00\x00"


def read_idx(path: str | os.PathLike, *, dtype: str | np.dtype | None = None,
             ndim: int | None = None, limits: Limits | None = None) -> np.ndarray:
    """The array stored in the IDX file ``path`` (raw or gzip), in native byte order.

    ``dtype`` and ``ndim``, when given, are what the caller expects: a file of
    another kind (labels where images were expected, say) is refused from its
    header alone.  Raises DataError naming the file for a missing, truncated,
    corrupt, trailing-garbage or unexpected file, one that is not a regular
    file, or a payload over ``limits.max_data_bytes``.
    """
    path = Path(path)
    limits = DEFAULT_LIMITS if limits is None else limits
    raw, size = open_regular_file(path, DataError)
    try:
        with raw:
            compressed = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            if compressed:
                with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                    return _read_stream(f, path, None, dtype, ndim, "decompressed ", limits)
            return _read_stream(raw, path, size, dtype, ndim, "", limits)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def _read_stream(f, path: Path, total: int | None, dtype, ndim: int | None,
                 what: str, limits: Limits) -> np.ndarray:
    """Parse an IDX stream; ``total`` is its length when known (a raw file)."""
    head = f.read(4)
    if len(head) < 4:
        raise DataError(f"{path}: not an IDX file: the {what}content has {len(head)} bytes, "
                        "fewer than the 4 of the magic number")
    if head[:2] != b"\x00\x00":
        raise DataError(f"{path}: not an IDX file: it starts with bytes {head[:4].hex(' ')}, "
                        "an IDX file starts with two zero bytes")
    code, n_dims = head[2], head[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X} ({n})" for c, n in _TYPE_NAMES.items())
        raise DataError(f"{path}: unknown IDX type code 0x{code:02X} (known: {known})")
    if n_dims == 0:
        raise DataError(f"{path}: the IDX header declares 0 dimensions")
    item = IDX_TYPES[code]
    if dtype is not None and np.dtype(dtype).newbyteorder("=") != item.newbyteorder("="):
        raise DataError(f"{path}: holds {_TYPE_NAMES[code]} values, expected "
                        f"{np.dtype(dtype).name}")
    if ndim is not None and n_dims != ndim:
        raise DataError(f"{path}: holds a {n_dims}-dimensional array, expected {ndim} "
                        "dimensions (is it the right file?)")
    sizes_bytes = f.read(4 * n_dims)
    if len(sizes_bytes) < 4 * n_dims:
        raise DataError(f"{path}: truncated IDX header: {n_dims} dimensions need "
                        f"{4 + 4 * n_dims} bytes, the {what}file has {4 + len(sizes_bytes)}")
    shape = struct.unpack(f">{n_dims}I", sizes_bytes)
    expected = item.itemsize
    for size in shape:
        expected *= size
    header = 4 + 4 * n_dims
    too_big = DataError(f"{path}: its header declares shape {shape} ({expected} payload "
                        f"bytes), more than Limits.max_data_bytes = {limits.max_data_bytes}")
    if total is not None:
        if total - header < expected:
            raise DataError(f"{path}: truncated: its header declares shape {shape} "
                            f"({expected} payload bytes), the file holds {total - header}")
        if total - header > expected:
            raise DataError(f"{path}: {total - header - expected} bytes of trailing garbage "
                            f"after the payload of shape {shape}")
        if expected > limits.max_data_bytes:
            raise too_big
        payload = bytearray(expected)
        got = f.readinto(payload)
    else:
        # Compressed: the length is known only by reading, so grow with what the
        # stream actually holds rather than trusting the header's sizes (a gzip
        # bomb stops one byte past the limit).
        payload = _read_at_most(f, min(expected, limits.max_data_bytes) + 1)
        got = len(payload)
        if got > limits.max_data_bytes:
            raise too_big
        if got < expected:
            raise DataError(f"{path}: truncated: its header declares shape {shape} "
                            f"({expected} payload bytes), the decompressed file holds {got}")
        if got > expected:
            raise DataError(f"{path}: trailing garbage after the payload of shape {shape} "
                            f"({expected} bytes)")
    if got != expected:  # the file shrank while we read it
        raise DataError(f"{path}: truncated while reading ({got} of {expected} bytes)")
    array = np.frombuffer(payload, dtype=item).reshape(shape)
    return array.astype(item.newbyteorder("="), copy=False) if item.itemsize > 1 else array


def _read_at_most(f, limit: int) -> bytearray:
    """Up to ``limit`` bytes of ``f``, read in chunks so memory follows the real length."""
    buffer = bytearray()
    while len(buffer) < limit:
        chunk = f.read(min(_CHUNK, limit - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    return buffer


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX bytes (header and payload, uncompressed) of ``array``."""
    array = np.asarray(array)
    code = _CODE_OF.get(array.dtype.newbyteorder("="))
    if code is None:
        raise DataError(f"IDX cannot store {array.dtype} values (it stores "
                        f"{', '.join(_TYPE_NAMES.values())})")
    if not 1 <= array.ndim <= 255:
        raise DataError(f"IDX stores arrays of 1 to 255 dimensions, not {array.ndim}")
    if max(array.shape) >= 1 << 32:
        raise DataError(f"IDX sizes are 32-bit; cannot store shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file, atomically; gzip it when ``compress`` (default:
    when the name ends in .gz)."""
    path = Path(path)
    data = encode_idx(array)
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        data = gzip.compress(data, mtime=0)
    return atomic_write_bytes(path, data)
