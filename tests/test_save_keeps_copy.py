"""--save and answers without a body: a 304 saves nothing and leaves the copy an earlier run
saved as it was, whether it answers --conditional's validators or a request that carried none
(the run wrote the 304's empty body over the saved copy: the user's data gone); a 204 is saved,
as an empty file, as curl -o writes one (curl 7.88: a 304 leaves the -o file untouched and
creates none; a 204 empties it). Real loopback server, runs through the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fetchcli.cli.app import app
from fetchcli.settings import Backend
from tests.helpers import serving_handler

BODY = b"<html><title>kept</title>the page as first saved</html>"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/page" and self.headers.get("If-None-Match") != '"v1"':
            self.send_response(200)
            self.send_header("ETag", '"v1"')
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
            return
        self.send_response(204 if self.path == "/empty" else 304)  # /page with its ETag, /always-304
        self.send_header("ETag", '"v1"')
        self.end_headers()


@pytest.fixture
def base() -> Iterator[str]:
    with serving_handler(_Handler) as port:
        yield f"http://127.0.0.1:{port}"


def _run(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(app, ["-f", "jsonl", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def _host_dir(save: Path, base: str) -> Path:
    return save / base.removeprefix("http://").replace(":", "_")


def _saved_before(save: Path, base: str, name: str) -> Path:
    """A copy of ``BODY`` as an earlier run saved ``{base}/{name}``."""
    earlier = _host_dir(save, base) / name
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(BODY)
    return earlier


@pytest.mark.live
def test_a_304_to_conditional_leaves_the_saved_copy(base: str, backend: Backend, tmp_path: Path) -> None:
    save, state = tmp_path / "save", tmp_path / "state.db"
    args = ["--backend", backend.value, "--save", str(save), "--state", str(state), "--conditional", f"{base}/page"]
    [first] = _run(*args)
    assert first["status"] == 200 and first["saved_path"] == f"{_host_dir(save, base).name}/page"
    [second] = _run(*args)
    assert second["status"] == 304 and second["not_modified"] is True and second["ok"] is True
    assert second["saved_path"] is None  # nothing saved by this run: the copy is the one run 1 saved
    assert (save / first["saved_path"]).read_bytes() == BODY
    assert sorted(p.name for p in save.rglob("*")) == sorted([_host_dir(save, base).name, "page"])


@pytest.mark.live
def test_a_304_without_validators_saves_nothing(base: str, tmp_path: Path) -> None:
    save = tmp_path / "save"
    kept = _saved_before(save, base, "always-304")
    records = _run("--save", str(save), f"{base}/always-304", f"{base}/never-saved")
    assert [(r["status"], r["not_modified"], r["saved_path"]) for r in records] == [(304, None, None)] * 2
    assert kept.read_bytes() == BODY
    assert sorted(p.name for p in kept.parent.iterdir()) == ["always-304"]  # no empty file made (curl -o)


@pytest.mark.live
def test_a_204_is_saved_empty_as_curl_writes_it(base: str, tmp_path: Path) -> None:
    save = tmp_path / "save"
    earlier = _saved_before(save, base, "empty")
    [record] = _run("--save", str(save), f"{base}/empty")
    assert record["status"] == 204 and record["saved_path"] == f"{earlier.parent.name}/empty"
    assert earlier.read_bytes() == b""
