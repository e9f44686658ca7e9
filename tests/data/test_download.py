"""The generic downloader, against a local HTTP server: mirrors, checksums, atomic cache."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading

import pytest

from dagnet.data.download import DownloadError, RemoteFile, cache_dir, download_bytes, fetch
from dagnet.errors import DataError

CONTENT = b"the quick brown fox\n" * 100
SHA = hashlib.sha256(CONTENT).hexdigest()


def test_fetch_downloads_checks_and_caches(http_server, tmp_path, capsys):
    base, served, requests = http_server
    (served / "fox.txt").write_bytes(CONTENT)
    cache = tmp_path / "cache" / "fox"
    remote = RemoteFile("fox.txt", (f"{base}/fox.txt",), SHA)
    path = fetch(remote, cache, progress=True)
    assert path == cache / "fox.txt" and path.read_bytes() == CONTENT
    assert "fox.txt" in capsys.readouterr().err  # the progress bar
    assert [p.name for p in cache.iterdir()] == ["fox.txt"]  # no temporary file left
    # Second time: from the cache, without asking the server.
    assert fetch(remote, cache) == path
    assert requests == ["/fox.txt"]


def test_next_mirror_after_missing_or_wrong_file(http_server, tmp_path):
    base, served, requests = http_server
    (served / "wrong.txt").write_bytes(CONTENT + b"tampered")
    (served / "good.txt").write_bytes(CONTENT)
    remote = RemoteFile("fox.txt", (f"{base}/missing.txt", f"{base}/wrong.txt",
                                    f"{base}/good.txt"), SHA)
    assert fetch(remote, tmp_path / "c", progress=False).read_bytes() == CONTENT
    assert requests == ["/missing.txt", "/wrong.txt", "/good.txt"]


def test_every_mirror_failing_lists_each_reason_and_writes_nothing(
        http_server, closed_port_url, tmp_path):
    base, served, _ = http_server
    (served / "wrong.txt").write_bytes(b"not the fox")
    remote = RemoteFile("fox.txt", (f"{base}/missing.txt", f"{base}/wrong.txt",
                                    f"{closed_port_url}/fox.txt"), SHA)
    cache = tmp_path / "c"
    with pytest.raises(DownloadError) as info:
        fetch(remote, cache, progress=False, timeout=5)
    message = str(info.value)
    assert message.startswith("could not download fox.txt: ")
    assert f"{base}/missing.txt: HTTP 404" in message
    assert f"{base}/wrong.txt: wrong checksum" in message
    assert f"{closed_port_url}/fox.txt: " in message and "refused" in message.lower()
    assert not cache.exists() or not any(cache.iterdir())
    assert isinstance(info.value, DataError)


def test_checksum_of_decompressed_content_accepts_any_gzip_wrapper(http_server, tmp_path):
    base, served, _ = http_server
    (served / "a.gz").write_bytes(gzip.compress(CONTENT, compresslevel=1, mtime=1))
    (served / "b.gz").write_bytes(gzip.compress(CONTENT, compresslevel=9, mtime=2))
    for name in ("a.gz", "b.gz"):
        remote = RemoteFile(name, (f"{base}/{name}",), SHA, gunzip_checksum=True)
        assert gzip.decompress(fetch(remote, tmp_path, progress=False).read_bytes()) == CONTENT
    (served / "c.gz").write_bytes(CONTENT)  # not gzip at all
    with pytest.raises(DownloadError, match=r"c.gz: not valid gzip data"):
        fetch(RemoteFile("c.gz", (f"{base}/c.gz",), SHA, gunzip_checksum=True), tmp_path,
              progress=False)


def test_a_connection_cut_short_is_an_error(tmp_path):
    class Short(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"only ten b")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Short)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        with pytest.raises(DataError):
            download_bytes(f"http://127.0.0.1:{server.server_address[1]}/x", progress=False,
                           timeout=5)
    finally:
        thread.join(5)
        server.server_close()


def test_file_urls_and_bad_schemes(tmp_path):
    source = tmp_path / "src.txt"
    source.write_bytes(CONTENT)
    assert download_bytes(source.as_uri(), progress=False) == CONTENT
    with pytest.raises(DataError, match=r"unsupported URL scheme"):
        download_bytes("ftp://example.org/x")


def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir("mnist") == tmp_path / "dagnet" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir("text") == tmp_path / "home" / ".cache" / "dagnet" / "text"
