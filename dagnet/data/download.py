"""Downloading data sets into a cache: mirrors, a progress bar, checksums, atomic writes.

A ``RemoteFile`` names a file, the URLs it can be fetched from (tried in order)
and the SHA-256 of its content.  ``fetch(remote, folder)`` returns the path of
the file in ``folder``, downloading it first if it is not there: the bytes are
checked against the checksum *before* anything is written, and written
atomically, so the cache never holds a partial or wrong file.  When every mirror
fails, a DownloadError lists each URL with its reason.

The cache lives in ``$XDG_CACHE_HOME/dagnet/<data set>``, else
``~/.cache/dagnet/<data set>`` (``cache_dir``).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from dagnet.errors import DataError
from dagnet.files import atomic_write_bytes

_CHUNK = 1 << 16


class DownloadError(DataError):
    """No mirror delivered a file with the right checksum."""


@dataclass(frozen=True)
class RemoteFile:
    """A file to download: its name in the cache, its mirrors and its checksum.

    ``sha256`` is the hex digest of the content; with ``gunzip_checksum`` it is
    the digest of the *decompressed* content, so mirrors that gzip the same data
    differently (another mtime, another level) are all accepted.
    """

    name: str
    urls: tuple[str, ...]
    sha256: str
    gunzip_checksum: bool = False

    def content_digest(self, data: bytes) -> str:
        """The SHA-256 this file's checksum is compared with (after gunzip if asked)."""
        if self.gunzip_checksum:
            try:
                data = gzip.decompress(data)
            except (EOFError, OSError, zlib.error) as exc:
                raise DataError(f"not valid gzip data ({exc})") from None
        return hashlib.sha256(data).hexdigest()


def cache_dir(dataset: str) -> Path:
    """``$XDG_CACHE_HOME/dagnet/<dataset>``, else ``~/.cache/dagnet/<dataset>``."""
    root = os.environ.get("XDG_CACHE_HOME")
    base = Path(root) if root else Path.home() / ".cache"
    return base / "dagnet" / dataset


def fetch(remote: RemoteFile, folder: str | os.PathLike, *, progress: bool | None = None,
          timeout: float = 30.0) -> Path:
    """``folder/remote.name``, downloaded from the first mirror that serves the right bytes
    if it is not there yet.

    ``progress=None`` shows a progress bar on a terminal only.  Raises
    DownloadError, listing every URL tried and why it failed, when none works.
    """
    target = Path(folder) / remote.name
    if target.is_file():
        return target
    failures = []
    for url in remote.urls:
        try:
            data = download_bytes(url, progress=progress, timeout=timeout,
                                  description=remote.name)
            digest = remote.content_digest(data)
        except DataError as exc:
            failures.append(f"{url}: {exc}")
            continue
        if digest != remote.sha256:
            failures.append(f"{url}: wrong checksum (SHA-256 {digest[:16]}…, expected "
                            f"{remote.sha256[:16]}…)")
            continue
        try:
            return atomic_write_bytes(target, data)
        except OSError as exc:
            raise DataError(f"cannot write {target} ({exc.strerror or exc})") from None
    raise DownloadError(f"could not download {remote.name}: " + "; ".join(failures))


def download_bytes(url: str, *, progress: bool | None = None, timeout: float = 30.0,
                   description: str | None = None) -> bytes:
    """The body of ``url`` (http, https or file), with a progress bar sized by
    Content-Length; DataError with the reason on any failure."""
    if not url.startswith(("http://", "https://", "file:")):
        raise DataError(f"unsupported URL scheme in {url!r} (http, https or file)")
    request = urllib.request.Request(url, headers={"User-Agent": "dagnet"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            buffer = bytearray()
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=description or url.rsplit("/", 1)[-1], leave=False,
                      disable=(not progress) if progress is not None else None) as bar:
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    buffer += chunk
                    bar.update(len(chunk))
    except urllib.error.HTTPError as exc:
        raise DataError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        raise DataError(str(getattr(reason, "strerror", None) or reason)) from None
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # timeouts, resets, truncated or malformed responses
        raise DataError(str(exc) or type(exc).__name__) from None
    if total is not None and len(buffer) != total:
        raise DataError(f"connection closed after {len(buffer)} of {total} bytes")
    return bytes(buffer)

