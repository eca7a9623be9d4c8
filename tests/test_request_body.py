"""Issue 22: request bodies. ``-d``, ``--data-binary`` and ``--json`` (text, ``@FILE``, ``@-``),
with curl's meanings, sent to every URL, proven by what a loopback server received, on both
backends; a redirect keeps the body only with the method; bad uses are one-line usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fetchcli.settings import Backend
from tests.helpers import fetchcli_in_clean_env
from tests.server import LoopbackServer, running_server


def _sent(server: LoopbackServer) -> list[tuple[str, str, str | None, str | None, bytes]]:
    """(method, target, Content-Type, Accept, body) of each request with a body, in order."""
    return [
        (method, target, headers.get("content-type"), headers.get("accept"), body)
        for method, target, headers, body in server.stats.bodies
    ]


@pytest.mark.live
def test_data_is_posted_form_encoded_to_every_url(backend: Backend) -> None:
    with running_server() as server:
        _posted_to_every_url(server, backend)


def _posted_to_every_url(server: LoopbackServer, backend: Backend) -> None:
    done = fetchcli_in_clean_env(
        "--backend", backend.value, "-f", "jsonl", "-d", "a=1", "-d", "b=é", server.url("/method"), server.url("/ok/2")
    )
    assert done.returncode == 0, done.stderr
    form = "application/x-www-form-urlencoded"
    body = "a=1&b=é".encode()
    assert _sent(server) == [("POST", "/method", form, "*/*", body), ("POST", "/ok/2", form, "*/*", body)]
    assert '"snippet": "POST 8"' in done.stdout  # the length the server was told


@pytest.mark.live
def test_files_and_json(backend: Backend, tmp_path: Path) -> None:
    with running_server() as server:
        _files_and_json(server, backend, tmp_path)


def _files_and_json(server: LoopbackServer, backend: Backend, tmp_path: Path) -> None:
    lines = tmp_path / "form.txt"
    lines.write_bytes(b"x=1\r\ny=2\n")
    exact = tmp_path / "payload.bin"
    exact.write_bytes(b"line 1\nline 2\n\x00\xff")
    document = tmp_path / "doc.json"
    document.write_text('{"id": 7}')
    url = server.url("/method")
    for args in (["-d", f"@{lines}"], ["--data-binary", f"@{exact}"], ["--json", f"@{document}"],
                 ["-X", "PUT", "--json", '{"a":', "--json", " 1}", "-H", "accept: text/plain"]):  # fmt: skip
        done = fetchcli_in_clean_env("--backend", backend.value, "-q", *args, url)
        assert done.returncode == 0, (args, done.stderr)
    assert _sent(server) == [
        ("POST", "/method", "application/x-www-form-urlencoded", "*/*", b"x=1y=2"),  # curl's -d: no newlines
        ("POST", "/method", "application/x-www-form-urlencoded", "*/*", b"line 1\nline 2\n\x00\xff"),
        ("POST", "/method", "application/json", "application/json", b'{"id": 7}'),
        ("PUT", "/method", "application/json", "text/plain", b'{"a": 1}'),  # -X kept; -H accept kept
    ]


@pytest.mark.live
def test_a_redirect_keeps_the_body_only_with_the_method(backend: Backend) -> None:
    with running_server() as server:
        _redirected(server, backend)


def _redirected(server: LoopbackServer, backend: Backend) -> None:
    done = fetchcli_in_clean_env(
        "--backend", backend.value, "-f", "jsonl", "-L", "-d", "k=v", server.url("/307"), server.url("/redirect/1")
    )
    assert done.returncode == 0, done.stderr
    # 307: POST again with the body; 302: the body went to the first hop only, then GET /ok.
    assert sorted((m, t, b) for m, t, _, _, b in _sent(server)) == [
        ("POST", "/307", b"k=v"), ("POST", "/method", b"k=v"), ("POST", "/redirect/1", b"k=v"),
    ]  # fmt: skip
    assert sorted(server.stats.paths) == ["/307", "/method", "/ok", "/redirect/1"]  # /ok: a GET, no body


@pytest.mark.live
def test_stdin_as_the_body(tmp_path: Path) -> None:
    with running_server() as server:
        _from_stdin(server, tmp_path)


def _from_stdin(server: LoopbackServer, tmp_path: Path) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text(server.url("/method") + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "fetchcli", "-q", "--data-binary", "@-", "-i", str(urls)],
        input=b"from stdin", capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [b for *_, b in _sent(server)] == [b"from stdin"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-d", "@-"], "--data @- reads standard input, which carries the URLs"),
        (["-d", "@/nonexistent/body"], "--data cannot read '/nonexistent/body'"),
        (["--json", "{}", "-d", "a"], "--json cannot be mixed with -d or --data-binary"),
        (["-d", "a", "--data-binary", "b"], "--data-binary cannot be mixed with -d"),
        (["--json", "@"], "--json @ names no file"),
    ],
)
def test_bad_bodies_are_usage_errors_before_anything_is_sent(args: list[str], says: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fetchcli", *args], input=b"http://127.0.0.1:9/\n", capture_output=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert says in done.stderr.decode() and done.stdout == b""
    assert len(done.stderr.decode().strip().splitlines()) == 1


def test_dry_run_says_the_body_is_sent_and_its_length_only() -> None:
    done = fetchcli_in_clean_env("--dry-run", "-d", "password=hunter2", "http://127.0.0.1:9/")
    assert done.returncode == 0, done.stderr
    assert "request       POST," in done.stdout and "request body  16 bytes, sent to every URL" in done.stdout
    assert "hunter2" not in done.stdout and "Content-Type: application/x-www-form-urlencoded" in done.stdout


@pytest.mark.live
def test_a_post_is_retried_only_with_retry_all_methods_and_workers_send_the_body_too() -> None:
    with running_server() as server:
        once = fetchcli_in_clean_env("-f", "jsonl", "--retries", "2", "--retry-backoff", "0.01", "-d", "x",
                                     server.url("/fail/a/1?status=503"))  # fmt: skip
        again = fetchcli_in_clean_env("-f", "jsonl", "--retries", "2", "--retry-backoff", "0.01", "-d", "x",
                                      "--retry-all-methods", server.url("/fail/b/1?status=503"))  # fmt: skip
        assert '"status": 503' in once.stdout and '"attempts": 1' in once.stdout
        assert '"status": 200' in again.stdout and '"attempts": 2' in again.stdout
        workers = fetchcli_in_clean_env(
            "-q", "--workers", "2", "-d", "w=1", *(server.url(f"/ok/{n}") for n in range(4))
        )
        assert workers.returncode == 0, workers.stderr
        assert sorted(t for m, t, _, _, b in _sent(server) if b == b"w=1" and m == "POST") == [
            f"/ok/{n}" for n in range(4)
        ]
