"""A local HTTP server for the downloader's tests: no test reaches the internet."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
from pathlib import Path

import pytest


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def http_server(tmp_path):
    """``(base_url, folder, requests)``: files put in ``folder`` are served under
    ``base_url``; ``requests`` lists the paths asked for."""
    folder = tmp_path / "served"
    folder.mkdir()
    requests: list[str] = []

    class Handler(_Handler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", Path(folder), requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def unused_local_url() -> str:
    """A localhost URL where nothing listens: a connection there is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def closed_port_url():
    return unused_local_url()
