"""--save with --state: a body is never saved over SQLite's files beside the state file (``-wal``,
``-shm``, ``-journal``: the ``-wal`` body was lost, a ``-journal`` body broke the next run),
and --conditional sends no validators for a URL whose saved copy is missing (every run got a 304
and the copy was never made again). Real loopback server, real processes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.helpers import fetchcli_in_clean_env, serving_handler


class _Handler(BaseHTTPRequestHandler):
    """A page with an ``ETag``: ``304`` to a request that carries it. Counts the validators seen."""

    protocol_version = "HTTP/1.1"
    conditional: ClassVar[list[bool]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        asked = self.headers.get("If-None-Match") is not None
        type(self).conditional.append(asked)
        if asked and self.headers["If-None-Match"] == '"v1"':
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.end_headers()
            return
        body = f"body of {self.path}".encode()
        self.send_response(200)
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def port() -> Iterator[int]:
    _Handler.conditional.clear()
    with serving_handler(_Handler) as port:
        yield port


def _records(*args: str) -> list[dict[str, Any]]:
    done = fetchcli_in_clean_env("-q", "-f", "jsonl", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.live
def test_a_body_is_never_saved_over_the_state_files_sqlite_sidecars(port: int, tmp_path: Path) -> None:
    save, host = tmp_path / "m", f"127.0.0.1_{port}"
    (save / host).mkdir(parents=True)
    state = save / host / "st.db"
    urls = [f"http://127.0.0.1:{port}/st.db{suffix}" for suffix in ("-wal", "-shm", "-journal")]
    records = _records("--save", str(save), "--state", str(state), *urls, f"http://127.0.0.1:{port}/ok")
    for record in records:  # each record names its own file, holding its body
        assert hashlib.sha256((save / record["saved_path"]).read_bytes()).hexdigest() == record["sha256"]
    assert all("~conflict-" in r["saved_path"] for r in records[:3])
    assert _records("--save", str(save), "--state", str(state), f"http://127.0.0.1:{port}/ok")[0]["ok"]
