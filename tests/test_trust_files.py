"""Issue 17: files a run must not destroy (item 8), ``--resume`` files that must not crash a run
or eat its memory (item 12), and ``--fsync`` on what cannot be synced.

Each refusal is checked the way a cron job meets it: exit 2, one line on stderr naming both
options, the file byte for byte as it was, and not one request on the loopback server. No test
hands fetchcli a device node: FIFOs, pipes and symlinks in a temporary folder stand in."""

from __future__ import annotations

import errno
import json
import os
import resource
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path
from typing import IO, Any

import pytest

from fetchcli.cli import main
from fetchcli.settings import Backend, SettingsError
from fetchcli.status import ExitStatus
from tests.server import LoopbackServer

ROOT = Path(__file__).resolve().parent.parent


def _fetchcli(
    *args: str,
    cwd: Path | None = None,
    stdin: IO[Any] | None = None,
    stdout: IO[Any] | int = subprocess.PIPE,
    limit_memory: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """fetchcli as a process, its stdin and stdout redirected as a shell would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FETCHCLI_") and "proxy" not in k.lower()}

    def limit() -> None:
        if limit_memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_memory, limit_memory))

    return subprocess.run(
        [sys.executable, "-m", "fetchcli", *args],
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        preexec_fn=limit,
    )


def _url_list(tmp_path: Path, server: LoopbackServer) -> Path:
    listing = tmp_path / "list.txt"
    listing.write_text("".join(server.url(f"/ok/{n}") + "\n" for n in range(3)))
    return listing


def _record(index: object, url: str) -> str:
    return json.dumps({"schema_version": 1, "index": index, "url": url, "ok": True}) + "\n"


def _refused(done: subprocess.CompletedProcess[str], *names: str) -> None:
    """Exit 2 and one line naming every one of ``names``."""
    assert done.returncode == ExitStatus.USAGE, done.stderr
    assert done.stderr.startswith("fetchcli: error: ") and done.stderr.count("\n") == 1, done.stderr
    for name in names:
        assert name in done.stderr, done.stderr


# Item 12: a crafted or mistaken --resume file ------------------------------------------------


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("{neg}", 1),
        ("{first}{huge}", 2),
        ("{first}" + _record(5, "http://x/"), 2),  # beyond the input's 3 URLs
        (_record(True, "http://x/"), 1),  # JSON's true is not an index
        (_record("0", "http://x/"), 1),
        ("[1, 2]\n", 1),
        ("[" * 100_000 + "\n", 1),  # nesting that would overflow the parser's stack
        ("{first}http://example.com/\n", 2),  # a URL list given by mistake: a whole line
        ("http://example.com/", 1),  # ... its last line without a newline is not a torn record
    ],
    ids=["negative", "huge", "beyond", "bool", "string", "array", "nested", "url-line", "url-unterminated"],
)
def test_a_crafted_resume_file_is_one_line_naming_the_line(
    fresh_server: LoopbackServer, tmp_path: Path, content: str, line: int
) -> None:
    urls = [fresh_server.url(f"/ok/{n}") for n in range(3)]
    resume = tmp_path / "resume.jsonl"
    resume.write_text(
        content.replace("{neg}", _record(-1, urls[0]))
        .replace("{first}", _record(0, urls[0]))
        .replace("{huge}", _record(10_000_000_000, urls[1]))
    )
    before = resume.read_bytes()
    done = _fetchcli("--resume", str(resume), *urls)
    _refused(done, f"--resume line {line} of {resume}")
    assert "Traceback" not in done.stderr
    assert resume.read_bytes() == before  # nothing cut off
    assert fresh_server.stats.requests == 0


def test_a_huge_index_allocates_nothing(tmp_path: Path) -> None:
    """A 68-byte line with index 10,000,000,000 once grew a bitmap past 1 GB: under a 500 MB
    address-space limit the run would die of MemoryError; it is a usage error instead."""
    resume = tmp_path / "resume.jsonl"
    resume.write_text('{"schema_version": 1, "index": 10000000000, "url": "http://127.0.0.1:9/", "ok": true}\n')
    done = _fetchcli("--resume", str(resume), "http://127.0.0.1:9/", limit_memory=500 << 20)
    _refused(done, f"--resume line 1 of {resume}", "index 10,000,000,000")


def test_a_150_mb_line_is_refused_without_being_read_whole(tmp_path: Path) -> None:
    from fetchcli.resume import ResumeFile

    resume = tmp_path / "resume.jsonl"
    with resume.open("w") as f:
        f.write(_record(0, "http://a/"))
        f.write('{"schema_version": 1, "index": 1, "url": "http://b/", "ok": true, "snippet": "')
        chunk = "x" * (1 << 20)
        for _ in range(150):
            f.write(chunk)
        f.write('"}\n')
    tracemalloc.start()
    try:
        with pytest.raises(SettingsError, match=r"--resume line 2 of .* is longer than [\d,]+ bytes"):
            ResumeFile.load(str(resume))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20  # the line was 150 MB; at most the limit (a few MB) of it was read


def test_the_line_limit_fits_the_largest_record() -> None:
    """The cap is generous: a record with every URL at its longest, each character the worst to
    escape in JSON, fits under it."""
    from fetchcli.models import FetchResult, Redirect
    from fetchcli.resume import record_line_limit
    from fetchcli.settings import DEFAULT_MAX_REDIRECTS, DEFAULT_SNIPPET_LENGTH
    from fetchcli.sources import MAX_URL_LENGTH

    url = "http://h/" + "\U0001f600" * (MAX_URL_LENGTH - 9)
    record = FetchResult(
        index=0,
        url=url,
        ok=True,
        final_url=url,
        redirects=tuple(Redirect(url, 301) for _ in range(DEFAULT_MAX_REDIRECTS)),
        snippet="\U0001f600" * DEFAULT_SNIPPET_LENGTH,
    )
    assert len(json.dumps(record.to_dict()).encode()) < record_line_limit()


# --fsync on a pipe or a FIFO ---------------------------------------------------------------------


def test_fsync_into_a_pipe_is_skipped(server: LoopbackServer, backend: Backend) -> None:
    """``fetchcli --fsync URL | cat``: a pipe cannot be synced (EINVAL); that is no write error."""
    done = _fetchcli("--fsync", "--backend", backend.value, server.url("/ok/1"), server.url("/ok/2"))
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["index"] for line in done.stdout.splitlines()] == [0, 1]


def test_fsync_into_a_fifo_is_skipped(server: LoopbackServer, tmp_path: Path, backend: Backend) -> None:
    fifo = tmp_path / "results.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    done = _fetchcli("--fsync", "-f", "jsonl", "-o", str(fifo), "--backend", backend.value, server.url("/ok/1"))
    reader.join(timeout=30)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["index"] for line in received[0].decode().splitlines()] == [0]


def test_a_real_fsync_failure_is_still_a_write_error(
    server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", failing)
    out = tmp_path / "out.jsonl"
    assert main(["--fsync", "-o", str(out), server.url("/ok")]) == ExitStatus.IO_ERROR
    err = capsys.readouterr().err
    assert err == f"fetchcli: error: cannot write {str(out)!r}: {os.strerror(errno.EIO)}\n"
