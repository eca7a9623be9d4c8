"""Issue 21: ``--state FILE`` (what a run leaves for the next), ``--conditional``, the record's
``change``, ``--only-changed`` and ``--fail-after``. A loopback server of this file's serves
pages whose ETag, Last-Modified, title and status the test changes between runs, and counts
what it was sent (conditional requests, 304s). Runs go through the CLI (CliRunner, both
backends where a request is involved); the kill -9 run is a real process."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fetchcli.cli.app import app, main
from fetchcli.engine.records import validator
from fetchcli.output import statefile
from fetchcli.settings import Backend


@dataclass
class Page:
    title: str = "page"
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    body: str = ""


@dataclass
class Site:
    """The pages by path; what came in."""

    pages: dict[str, Page] = field(default_factory=dict)
    requests: int = 0
    conditional: int = 0  # requests carrying If-None-Match or If-Modified-Since
    not_modified: int = 0  # 304s sent
    seen: dict[str, dict[str, str]] = field(default_factory=dict)  # last request's headers by path
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if site.delay:
                time.sleep(site.delay)
            page = site.pages.get(self.path)
            match, since = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
            with site.lock:
                site.requests += 1
                site.seen[self.path] = dict(self.headers.items())
                if match is not None or since is not None:
                    site.conditional += 1
            if page is None:
                return self._send(404, b"no such page", {})
            fresh = (match is not None and match == page.etag) or (
                match is None and since is not None and since == page.last_modified
            )
            if fresh and page.status == 200:
                with site.lock:
                    site.not_modified += 1
                # Another ETag on the 304: a state file must keep the one it has (curl #15728).
                return self._send(304, b"", {"ETag": '"changed-on-304"'})
            headers = {}
            if page.etag is not None:
                headers["ETag"] = page.etag
            if page.last_modified is not None:
                headers["Last-Modified"] = page.last_modified
            body = f"<html><title>{page.title}</title>{page.body}</html>".encode()
            self._send(page.status, body, {"Content-Type": "text/html", **headers})

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 304:
                self.wfile.write(body)

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # listen()'s backlog: a run opens 100 connections at once


@contextmanager
def serving(site: Site) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _handler(site))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg, unused-ignore]
    except TypeError:
        return CliRunner()


def _run(*args: str) -> tuple[int, list[dict[str, Any]], str]:
    result = _runner().invoke(app, ["-f", "jsonl", *args])
    records = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, records, result.stderr


def _rows(path: Path) -> dict[str, tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return {row[0]: row[1:] for row in db.execute("SELECT * FROM urls")}


def _validators(path: Path) -> dict[str, tuple[str | None, str | None]]:
    with sqlite3.connect(path) as db:
        return {
            key: (etag, modified) for key, etag, modified in db.execute("SELECT key, etag, last_modified FROM urls")
        }


@pytest.mark.live
def test_a_second_conditional_run_gets_304_for_every_page(backend: Backend, tmp_path: Path) -> None:
    site = Site()
    for i in range(200):
        site.pages[f"/p/{i}"] = Page(f"p{i}", etag=f'"v1-{i}"', last_modified="Wed, 01 Jan 2025 00:00:00 GMT")
    state = tmp_path / "state.db"
    with serving(site) as base:
        urls = [f"{base}/p/{i}" for i in range(200)]
        args = ["--backend", backend.value, "--state", str(state), "--conditional", "--read-all", *urls]
        code, first, _ = _run(*args)
        assert code == 0 and site.conditional == 0  # nothing stored yet: nothing to send
        assert [r["change"]["kind"] for r in first] == ["new"] * 200
        assert all(r["not_modified"] is False and r["consecutive_failures"] == 0 for r in first)
        before = _validators(state)
        assert before[urls[7]] == ('"v1-7"', "Wed, 01 Jan 2025 00:00:00 GMT")
        rows_before = _rows(state)
        assert rows_before[urls[7]][6] == first[7]["sha256"]  # the page's hash (column sha256)

        code, second, _ = _run(*args)
    assert code == 0
    assert (site.conditional, site.not_modified) == (200, 200)  # counted by the server
    assert site.seen["/p/7"]["If-None-Match"] == '"v1-7"'
    assert site.seen["/p/7"]["If-Modified-Since"] == "Wed, 01 Jan 2025 00:00:00 GMT"
    assert all(r["status"] == 304 and r["ok"] is True and r["not_modified"] is True for r in second)
    assert [r["change"] for r in second] == [{"kind": "same", "fields": [], "previous": {}, "transition": None}] * 200
    assert _validators(state) == before  # the 304's own ETag is not taken
    rows_after = _rows(state)
    # Validators, title and hash as they were (a 304's empty body is not the page's hash).
    assert {url: row[:11] for url, row in rows_after.items()} == {url: row[:11] for url, row in rows_before.items()}
    assert all(r["sha256"] != rows_after[r["url"]][6] for r in second)


@pytest.mark.live
def test_validators_as_rfc_9110_has_them(backend: Backend, tmp_path: Path) -> None:
    """A weak ETag goes back as it came; a page with only Last-Modified gets If-Modified-Since
    alone; a page without validators gets no conditional header; a page that changed answers
    200 and its new validators are stored."""
    site = Site()
    site.pages["/weak"] = Page(etag='W/"w1"')
    site.pages["/date"] = Page(last_modified="Thu, 02 Jan 2025 00:00:00 GMT")
    site.pages["/none"] = Page()
    site.pages["/moved"] = Page(etag='"m1"')
    state = tmp_path / "state.db"
    with serving(site) as base:
        urls = [base + p for p in ("/weak", "/date", "/none", "/moved")]
        args = ["--backend", backend.value, "--state", str(state), "--conditional", *urls]
        assert _run(*args)[0] == 0
        site.pages["/moved"] = Page(etag='"m2"', title="new")
        code, records, _ = _run(*args)
    assert code == 0
    assert site.seen["/weak"].get("If-None-Match") == 'W/"w1"'
    assert "If-Modified-Since" not in site.seen["/weak"]
    assert site.seen["/date"].get("If-Modified-Since") == "Thu, 02 Jan 2025 00:00:00 GMT"
    assert "If-None-Match" not in site.seen["/date"]
    assert not {"If-None-Match", "If-Modified-Since"} & set(site.seen["/none"])
    assert [r["status"] for r in records] == [304, 304, 200, 200]
    assert records[3]["change"] == {"kind": "changed", "fields": ["title"], "previous": {"title": "page"},
                                    "transition": None}  # fmt: skip
    assert _validators(state)[urls[3]] == ('"m2"', None)


@pytest.mark.live
def test_a_state_file_that_cannot_be_written_ends_the_run_with_74(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def full(self: statefile.StateStore) -> None:
        raise statefile.StateWriteError("database or disk is full")

    monkeypatch.setattr(statefile.StateStore, "flush", full)
    site = Site(pages={"/x": Page()})
    with serving(site) as base:
        code, err = _usage(["-f", "jsonl", "--state", str(tmp_path / "s.db"), base + "/x"], capsys)
    assert code == 74
    assert err == f"fetchcli: error: cannot write --state '{tmp_path / 's.db'}': database or disk is full\n"


def test_untrusted_validators_are_bounded_and_clean() -> None:
    assert validator('"abc"') == '"abc"'
    assert validator('W/"abc"') == 'W/"abc"'
    assert validator("") is None
    assert validator('"a\r\nSet-Cookie: x"') is None
    assert validator('"a\x00"') is None and validator('"a\x7f"') is None and validator('"a\x85"') is None
    assert validator('"' + "a" * 600 + '"') is None


@pytest.mark.live
def test_three_runs_say_what_changed(tmp_path: Path) -> None:
    site = Site()
    for name in ("a", "b", "c", "d"):
        site.pages[f"/{name}"] = Page(title=name.upper(), body=f"body of {name}")
    state = tmp_path / "state.db"
    summary = tmp_path / "summary.json"
    with serving(site) as base:
        urls = [f"{base}/{name}" for name in ("a", "b", "c", "d")]
        args = ["--state", str(state), "--read-all", "--summary-json", str(summary), *urls]
        code, first, _ = _run(*args)
        assert code == 0 and [r["change"]["kind"] for r in first] == ["new"] * 4
        assert json.loads(summary.read_text())["changes"] == {"new": 4, "changed": 0, "down": 0, "up": 0}

        site.pages["/b"].title = "B2"  # the title (and so the body's hash)
        site.pages["/c"].status = 500  # down
        site.pages["/d"].body = "another body"  # the hash only
        code, second, _ = _run(*args)
        assert code == 1
        changes = [r["change"] for r in second]
        assert changes[0] == {"kind": "same", "fields": [], "previous": {}, "transition": None}
        assert changes[1]["kind"] == "changed" and changes[1]["fields"] == ["title", "sha256"]
        assert changes[1]["previous"]["title"] == "B" and changes[1]["previous"]["sha256"] == first[1]["sha256"]
        # The 500 serves the same page: only ok and status differ.
        assert changes[2] == {"kind": "changed", "fields": ["ok", "status"], "previous": {"ok": True, "status": 200},
                              "transition": "down"}  # fmt: skip
        assert changes[3]["fields"] == ["sha256"] and changes[3]["transition"] is None
        assert json.loads(summary.read_text())["changes"] == {"new": 0, "changed": 3, "down": 1, "up": 0}

        # --only-changed: the same pages again, then /c back up; only /c is written.
        site.pages["/c"].status = 200
        code, third, _ = _run("--only-changed", *args)
        assert code == 0
        assert [r["url"] for r in third] == [urls[2]]
        assert third[0]["change"]["transition"] == "up" and third[0]["change"]["fields"][:2] == ["ok", "status"]
        totals = json.loads(summary.read_text())
        assert totals["total"] == 4 and totals["changes"] == {"new": 0, "changed": 1, "down": 0, "up": 1}

        # --watch: only the fields named are compared.
        site.pages["/a"].title = "A2"
        code, fourth, _ = _run("--watch", "ok,status", *args)
        assert [r["change"]["kind"] for r in fourth] == ["same"] * 4


@pytest.mark.live
def test_summary_line_counts_transitions(tmp_path: Path) -> None:
    site = Site(pages={"/x": Page()})
    state = tmp_path / "state.db"
    with serving(site) as base:
        _run("--state", str(state), base + "/x")
        site.pages["/x"].status = 503
        _, _, err = _run("--summary", "--state", str(state), base + "/x")
    assert "1 changed, 0 new; 1 went down, 0 came up" in err


@pytest.mark.live
def test_fail_after_counts_only_failures_in_a_row(backend: Backend, tmp_path: Path) -> None:
    site = Site(pages={"/flaky": Page(status=500), "/fine": Page()})
    state = tmp_path / "state.db"
    with serving(site) as base:
        args = ["--backend", backend.value, "--state", str(state), "--fail-after", "3", base + "/flaky", base + "/fine"]
        runs = [_run(*args) for _ in range(3)]
        assert [code for code, _, _ in runs] == [0, 0, 1]
        assert [records[0]["consecutive_failures"] for _, records, _ in runs] == [1, 2, 3]
        assert [records[1]["consecutive_failures"] for _, records, _ in runs] == [0, 0, 0]
        site.pages["/flaky"].status = 200  # a success resets the count
        code, records, _ = _run(*args)
        assert code == 0 and records[0]["consecutive_failures"] == 0
        site.pages["/flaky"].status = 500
        assert [_run(*args)[0] for _ in range(3)] == [0, 0, 1]
        # --max-failures weighs only what --fail-after counts.
        assert _run("--max-failures", "1", *args)[0] == 0


def _usage(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def test_fail_after_without_state_and_other_misuse_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args, line in [
        (["--conditional"], "fetchcli: error: --conditional goes with --state FILE"),
        (["--only-changed"], "fetchcli: error: --only-changed goes with --state FILE"),
        (["--fail-after", "3"], "fetchcli: error: --fail-after goes with --state FILE"),
        (["--watch", "title"], "fetchcli: error: --watch goes with --state FILE"),
        (["--state", str(tmp_path / "s.db"), "--fail-after", "0"], "fetchcli: error: --fail-after must be 1 or more"),
    ]:
        code, err = _usage([*args, "http://127.0.0.1:9/"], capsys)
        assert code == 2 and err.strip() == line, args
    code, err = _usage(["--state", str(tmp_path / "s.db"), "--watch", "colour", "http://127.0.0.1:9/"], capsys)
    assert code == 2 and "--watch unknown field 'colour'; fields that can be watched: ok," in err


@pytest.mark.live
def test_a_file_that_is_not_fetchcli_state_is_refused_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("my notes, not a database\n" * 100)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    newer = tmp_path / "newer.db"
    statefile.StateStore.open(str(newer)).close()
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 99")
    urls = tmp_path / "urls.txt"
    site = Site(pages={"/x": Page()})
    with serving(site) as base:
        urls.write_text(base + "/x\n")
        out = tmp_path / "out.jsonl"
        cases = [
            (["--state", str(text)], "is not a fetchcli state file (not an SQLite database)"),
            (["--state", str(other)], "is an SQLite database but not a fetchcli state file"),
            (["--state", str(newer)], "was written by a newer fetchcli (state schema 99; this one reads up to 1)"),
            (["--state", str(urls)], "is the same file as --input"),
            (["-o", str(out), "--state", str(out)], "is the same file as --output"),
            (["--state", str(tmp_path)], "it is a directory"),
        ]
        for args, words in cases:
            code, err = _usage(["-i", str(urls), *args], capsys)
            assert code == 2, (args, err)
            assert err.startswith("fetchcli: error: --state") or "-o" in args, err
            assert len(err.strip().splitlines()) == 1 and words in err, err
        assert site.requests == 0
    assert text.read_text().startswith("my notes") and not out.exists()
    with sqlite3.connect(other) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0


@pytest.mark.live
def test_a_state_file_is_written_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.db"
    link = tmp_path / "link.db"
    link.symlink_to(real)
    site = Site(pages={"/x": Page()})
    with serving(site) as base:
        assert _run("--state", str(link), base + "/x")[0] == 0
    assert link.is_symlink() and list(_rows(real)) == [base + "/x"]


# Schema version 1 as it was released: a file written then must open with every later fetchcli.
V1_SCHEMA = """CREATE TABLE urls (key TEXT PRIMARY KEY, url TEXT NOT NULL, ok INTEGER NOT NULL, status INTEGER,
final_url TEXT, title TEXT, remote_ip TEXT, sha256 TEXT, not_after TEXT, etag TEXT, last_modified TEXT,
consecutive_failures INTEGER NOT NULL, last_success TEXT, last_failure TEXT, last_change TEXT,
last_seen TEXT NOT NULL) WITHOUT ROWID"""


def _v1_file(path: Path, url: str) -> None:
    with sqlite3.connect(path) as db:
        db.execute(V1_SCHEMA)
        db.execute("PRAGMA application_id = 1717924963")  # "fetc"
        db.execute("PRAGMA user_version = 1")
        db.execute(
            "INSERT INTO urls VALUES (?, ?, 1, 200, ?, 'old title', '127.0.0.1', NULL, NULL, '\"e1\"', NULL, 0,"
            " '2025-01-01T00:00:00Z', NULL, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')",
            (url, url, url),
        )


@pytest.mark.live
def test_a_version_1_file_opens_and_is_used(tmp_path: Path) -> None:
    site = Site(pages={"/x": Page(title="new title", etag='"e1"')})
    state = tmp_path / "v1.db"
    with serving(site) as base:
        _v1_file(state, base + "/x")
        code, [record], _ = _run("--state", str(state), "--conditional", base + "/x")
    assert code == 0 and record["not_modified"] is True  # the stored ETag was sent
    assert record["change"]["kind"] == "same"


def test_an_older_schema_is_migrated_forward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mechanism: with a schema 2 (a column added), a version 1 file is migrated on open."""
    state = tmp_path / "v1.db"
    _v1_file(state, "http://127.0.0.1:9/x")
    monkeypatch.setattr(statefile, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(statefile.MIGRATIONS, 1, ("ALTER TABLE urls ADD COLUMN note TEXT",))
    statefile.StateStore.open(str(state)).close()
    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert "note" in [row[1] for row in db.execute("PRAGMA table_info(urls)")]
        assert db.execute("SELECT title FROM urls").fetchall() == [("old title",)]


@pytest.mark.live
def test_without_state_the_new_fields_are_null(tmp_path: Path) -> None:
    site = Site(pages={"/x": Page()})
    with serving(site) as base:
        _, [record], _ = _run(base + "/x")
    assert (record["not_modified"], record["change"], record["consecutive_failures"]) == (None, None, None)


@pytest.mark.live
def test_workers_write_the_state_in_the_parent(tmp_path: Path) -> None:
    site = Site(pages={f"/w/{i}": Page(etag=f'"w{i}"') for i in range(40)})
    state = tmp_path / "state.db"
    with serving(site) as base:
        urls = [f"{base}/w/{i}" for i in range(40)]
        done = subprocess.run(
            [sys.executable, "-m", "fetchcli", "-q", "--workers", "2", "--state", str(state), "--conditional", *urls],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        done = subprocess.run(
            [sys.executable, "-m", "fetchcli", "-q", "--workers", "2", "--state", str(state), "--conditional", *urls],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0 and site.not_modified == 40
    assert sorted(_rows(state)) == sorted(urls)


@pytest.mark.live
def test_shards_share_one_state_file(tmp_path: Path) -> None:
    site = Site(pages={f"/s/{i}": Page() for i in range(300)})
    state = tmp_path / "state.db"
    urls = tmp_path / "urls.txt"
    with serving(site) as base:
        urls.write_text("".join(f"{base}/s/{i}\n" for i in range(300)))
        command = [sys.executable, "-m", "fetchcli", "-q", "--state", str(state), "-i", str(urls)]
        shards = [
            subprocess.Popen(
                [*command, "-o", str(tmp_path / f"out{k}.jsonl"), "--shard", f"{k}/3"], stderr=subprocess.PIPE
            )
            for k in (1, 2, 3)
        ]
        for shard in shards:
            _, err = shard.communicate(timeout=120)
            assert shard.returncode == 0, err
    assert len(_rows(state)) == 300


@pytest.mark.live
def test_kill_9_in_the_middle_loses_no_url_and_corrupts_nothing(tmp_path: Path) -> None:
    site = Site(pages={f"/k/{i}": Page() for i in range(5000)}, delay=0.005)
    state = tmp_path / "state.db"
    urls = tmp_path / "urls.txt"
    with serving(site) as base:
        urls.write_text("".join(f"{base}/k/{i}\n" for i in range(5000)))
        command = [sys.executable, "-m", "fetchcli", "-q", "-c", "8", "-f", "jsonl", "--state", str(state)]
        process = subprocess.Popen([*command, "-i", str(urls)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            recorded = 0
            deadline = time.monotonic() + 120
            while recorded < 1000 and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.2)
                if state.exists():
                    try:
                        with sqlite3.connect(state, timeout=30) as db:
                            recorded = db.execute("SELECT count(*) FROM urls").fetchone()[0]
                    except sqlite3.OperationalError:
                        recorded = 0  # not made yet
            assert process.poll() is None, "the run ended before it could be killed"
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.kill()
            process.wait(timeout=60)
        with sqlite3.connect(state) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            killed_with = db.execute("SELECT count(*) FROM urls").fetchone()[0]
        assert 1000 <= killed_with < 5000
        site.delay = 0.0
        done = subprocess.run([*command, "-i", str(urls)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        keys = {row[0] for row in db.execute("SELECT key FROM urls")}
    assert keys == {f"{base}/k/{i}" for i in range(5000)}


def test_dry_run_checks_the_state_file_and_writes_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    code, err = _usage(["--dry-run", "--state", str(text), "http://127.0.0.1:9/"], capsys)
    assert code == 2 and "is not a fetchcli state file" in err
    new = tmp_path / "new.db"
    assert main(["--dry-run", "--state", str(new), "--conditional", "--fail-after", "2", "http://127.0.0.1:9/"]) == 0
    out = capsys.readouterr().out
    assert f"state         {new}, conditional requests, a URL fails the run once it has failed 2 runs in a row" in out
    assert not new.exists()
    assert text.read_text().startswith("not a database")
