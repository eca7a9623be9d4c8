"""--save with --max-save-bytes: a 304 (or 204) has no body, whatever its Content-Length says
(RFC 9110 lets a 304 carry the representation's length); it is never BodyTooLarge (review r9a:
every unchanged page of a `--state --conditional --save` run failed)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fetchcli.settings import Backend, BodySettings, Settings
from tests.helpers import run


@pytest.fixture
def not_modified_port() -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 5000000\r\n\r\n')

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.mark.live
def test_a_304_with_a_large_content_length_is_not_too_large(
    not_modified_port: int, backend: Backend, tmp_path: Path
) -> None:
    settings = Settings(body=BodySettings(save_dir=str(tmp_path), max_save_bytes=1000))
    [result] = run([f"http://127.0.0.1:{not_modified_port}/page"], settings, backend=backend)
    assert result.status == 304 and result.error is None and result.ok, result.error
