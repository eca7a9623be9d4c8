"""--save with --state: a body is never saved over SQLite's files beside the state file (``-wal``,
``-shm``, ``-journal``: the ``-wal`` body was lost, a ``-journal`` body broke the next run),
and --conditional sends no validators for a URL whose saved copy is missing (every run got a 304
and the copy was never made again). Real loopback server, real processes."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from fetchcli.engine.savefile import _kept, run_files
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


def test_a_run_file_removed_and_made_again_is_still_kept(tmp_path: Path) -> None:
    # SQLite removes a state file's -wal or -journal and makes it anew: another inode, one name.
    wal = tmp_path / "st.db-wal"
    wal.write_bytes(b"")
    keep = run_files([str(wal)])
    (tmp_path / "new").write_bytes(b"again")  # made while the first is there: another inode
    os.replace(tmp_path / "new", wal)
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert _kept(folder, "st.db-wal", keep) and not _kept(folder, "other", keep)
    finally:
        os.close(folder)


@pytest.mark.live
@pytest.mark.parametrize("template", ["{host}/{path}", "{index}-{path}"])
def test_conditional_asks_again_for_a_body_whose_saved_copy_is_missing(
    port: int, tmp_path: Path, template: str
) -> None:
    # The copy gone (deleted, another DIR or --save-name, --save added later): every run got a
    # 304, which saves nothing, and the copy was never made again.
    save, state, url = tmp_path / "m", str(tmp_path / "st.db"), f"http://127.0.0.1:{port}/page"
    run = ("--state", state, "--conditional", "--save", str(save), "--save-name", template, url)
    first = _records(*run)[0]
    copy = save / first["saved_path"]
    assert _records(*run)[0]["status"] == 304 and copy.exists()  # the copy there: validators sent
    copy.unlink()
    again = _records(*run)[0]
    assert again["status"] == 200 and not again["not_modified"]
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == again["sha256"] == first["sha256"]
    assert _records(*run)[0]["status"] == 304  # back again: so are the validators
    assert _Handler.conditional == [False, True, False, True]
    elsewhere = _records("--state", state, "--conditional", "--save", str(tmp_path / "other"), url)[0]
    assert elsewhere["status"] == 200 and (tmp_path / "other" / elsewhere["saved_path"]).exists()


@pytest.mark.live
def test_conditional_with_a_name_from_the_body_always_asks_for_the_body(port: int, tmp_path: Path) -> None:
    # {sha256}: the name is known only once the body is: whether the copy is there cannot be told.
    run = (
        "--state",
        str(tmp_path / "st.db"),
        "--conditional",
        "--save",
        str(tmp_path / "m"),
        "--save-name",
        "{sha256}",
    )
    records = [_records(*run, f"http://127.0.0.1:{port}/page")[0] for _ in range(2)]
    assert [r["status"] for r in records] == [200, 200] and _Handler.conditional == [False, False]
    without_save = _records("--state", str(tmp_path / "st.db"), "--conditional", f"http://127.0.0.1:{port}/page")
    assert without_save[0]["status"] == 304  # nothing to save: the validators are sent
