"""Review r6a of ``--state`` / ``--conditional`` (issue 21): a 304 answering a request that
carried no stored validator (a POST) is not ``not_modified`` (it would pass ``--ok-status`` and
``--expect-text`` unchecked); no wait for the state file's lock outlasts ``--deadline``."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from fetchcli.cli.app import app, main
from fetchcli.output import statefile
from fetchcli.settings import Backend
from tests.helpers import fetchcli_in_clean_env

_FETCHCLI = (sys.executable, "-m", "fetchcli")
_ROOT = str(Path(__file__).resolve().parent.parent)


class _Handler(BaseHTTPRequestHandler):
    """GET: 200 with an ETag; POST: 304 (unasked); /slow: an answer that does not come soon."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        self.seen.append((self.command, self.headers.get("If-None-Match")))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path == "/slow":
            time.sleep(40)
            return
        if self.command == "POST":
            self.send_response(304)
            self.end_headers()
            return
        body = b"<title>page</title>"
        self.send_response(200)
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


@pytest.fixture
def site() -> Iterator[str]:
    _Handler.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _records(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_a_304_to_a_post_is_not_not_modified(site: str, tmp_path: Path, backend: Backend) -> None:
    state = str(tmp_path / "state.db")
    common = ["--backend", backend.value, "--state", state, "--conditional", "-f", "jsonl", "--ok-status", "2xx"]
    first = CliRunner().invoke(app, [*common, f"{site}/page"])
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(app, [*common, "-d", "x=1", "--expect-text", "page", f"{site}/page"])
    [record] = _records(second.output)
    assert _Handler.seen[-1] == ("POST", None)  # no validator on a POST
    assert record["status"] == 304
    assert record["not_modified"] is not True
    assert record["ok"] is False  # --ok-status 2xx: a 304 nobody asked for is not a success
    assert second.exit_code != 0


def _locked(state: Path) -> sqlite3.Connection:
    """A connection of another process's kind holding the state file's write lock."""
    holder = sqlite3.connect(str(state), isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_a_locked_state_file_does_not_outlast_the_deadline_at_open(site: str, tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    assert fetchcli_in_clean_env("--state", str(state), "-q", f"{site}/page").returncode == 0
    holder = _locked(state)
    try:
        started = time.monotonic()
        done = fetchcli_in_clean_env("--state", str(state), "--deadline", "2", "-q", f"{site}/page")
        took = time.monotonic() - started
    finally:
        holder.close()
    assert done.returncode == 2
    assert "stayed locked" in done.stderr and "Traceback" not in done.stderr
    assert took < 20  # the lock's 30 s wait would be past it; --deadline 2 is well inside


def test_a_lock_taken_mid_run_does_not_outlast_the_deadline(site: str, tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    assert fetchcli_in_clean_env("--state", str(state), "-q", f"{site}/page").returncode == 0
    options = ("--state", str(state), "--deadline", "4", "--order", "completion", "-f", "jsonl")
    proc = subprocess.Popen(
        [*_FETCHCLI, *options, f"{site}/page", f"{site}/slow"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("FETCHCLI_")}, "PYTHONPATH": _ROOT},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline()  # the state file is open: the run has begun
        holder = _locked(state)
        try:
            started = time.monotonic()
            proc.wait(timeout=60)
            took = time.monotonic() - started
        finally:
            holder.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert json.loads(first)["ok"] is True
    assert took < 20  # the deadline (4 s) and a moment to commit, not the lock's 30 s
    assert proc.returncode == 74  # the rows could not be written: said, not hidden
    assert proc.stderr is not None and "locked" in proc.stderr.read()


def test_all_ips_with_state_is_a_usage_error(site: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # One row per URL, one record per address: the records of an address that fails and of one
    # that answers were compared with each other (changed, down, up every run), and the failing
    # one's failures in a row never passed 1 (--fail-after 2 never fired).
    state = tmp_path / "state.db"
    port = site.rsplit(":", 1)[1]
    resolve = f"example.test:{port}:127.0.0.1,127.0.0.2"
    code = main(
        ["--state", str(state), "--all-ips", "--resolve", resolve, "-f", "jsonl", f"http://example.test:{port}/"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("fetchcli: error: --all-ips cannot be used with --state")
    assert not state.exists()
    assert _Handler.seen == []


def test_only_changed_writes_the_failure_that_reaches_fail_after(site: str, tmp_path: Path) -> None:
    # The third failure in a row makes the exit status 1 (--fail-after 3), yet it is "same" as
    # the second: --only-changed wrote nothing, an exit status 1 with no record saying why.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    state = str(tmp_path / "state.db")
    args = ["--state", state, "--only-changed", "--fail-after", "3", "-f", "jsonl", f"{site}/page", dead]
    runs = [CliRunner().invoke(app, args) for _ in range(4)]
    assert [run.exit_code for run in runs] == [0, 0, 1, 1]
    written = [[(r["url"], r["consecutive_failures"]) for r in _records(run.stdout)] for run in runs]
    # The dead URL's first failure is not written either: under --fail-after 3 it is not counted
    # yet (a blip is never mailed); the third is, as the URL going down.
    assert written == [[(f"{site}/page", 0)], [], [(dead, 3)], []]


@pytest.mark.parametrize("application", [statefile.APPLICATION_ID, 0])
def test_a_negative_user_version_is_refused_not_a_traceback(
    application: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.db"
    with sqlite3.connect(str(state)) as db:
        db.execute(f"PRAGMA application_id = {application}")
        db.execute("PRAGMA user_version = -1")
    before = state.read_bytes()
    for dry in ([], ["--dry-run"]):
        code = main([*dry, "--state", str(state), "http://127.0.0.1:9/"])
        assert code == 2
        assert "is not a fetchcli state file (its user_version is -1)" in capsys.readouterr().err
    assert state.read_bytes() == before
