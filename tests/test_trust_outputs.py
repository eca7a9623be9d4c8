"""Round two of the files a run must not destroy or lose: a ``--resume`` FILE that is not
fetchcli's, descriptor aliases (``-o /proc/self/fd/3``, ``/dev/stdout`` on a closed stdout), CA
files as inputs, a FIFO with no writer, the shell's ``>`` on the input list, outputs replaced
atomically (and a folder that refuses the temporary file), and a cron job with no URLs at all.

No test hands fetchcli a device node as an output: a descriptor alias names a descriptor the test
opened itself on a file in a temporary folder, or one that is not open; ``-o /dev/stdout`` is
used only with stdout closed (the documented write error), where nothing is written anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import pytest

from fetchcli.models import FetchResult
from fetchcli.resume import ResumeFile
from fetchcli.settings import Backend
from fetchcli.status import ExitStatus
from tests.server import LoopbackServer

ROOT = Path(__file__).resolve().parent.parent


def _fetchcli(
    *args: str,
    cwd: Path | None = None,
    stdin: IO[Any] | int | None = subprocess.DEVNULL,
    stdout: IO[Any] | int = subprocess.PIPE,
    env: dict[str, str] | None = None,
    pass_fds: Sequence[int] = (),
    preexec_fn: Callable[[], None] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """fetchcli as a process, its streams redirected as a shell would; none of the caller's
    FETCHCLI_*, proxy or SSL_CERT_* variables, plus ``env``."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FETCHCLI_") and "proxy" not in k.lower() and k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")
    }
    return subprocess.run(
        [sys.executable, "-m", "fetchcli", *args],
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**kept, "PYTHONPATH": str(ROOT), **(env or {})},
        pass_fds=pass_fds,
        preexec_fn=preexec_fn,
    )


def _refused(done: subprocess.CompletedProcess[str], *parts: str) -> None:
    """Exit 2 and one line holding every one of ``parts``."""
    assert done.returncode == ExitStatus.USAGE, done.stderr
    assert done.stderr.startswith("fetchcli: error: ") and done.stderr.count("\n") == 1, done.stderr
    for part in parts:
        assert part in done.stderr, done.stderr


def _records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def _url_list(tmp_path: Path, server: LoopbackServer, n: int = 2) -> Path:
    listing = tmp_path / "list.txt"
    listing.write_text("".join(server.url(f"/ok/{i}") + "\n" for i in range(n)))
    return listing


# 1. --resume FILE whose last line has no newline --------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        '{"name":"app","version":"1"}',  # a package.json given by mistake
        '{"index": 0, "url": "http://127.0.0.1:9/", "ok": true}',  # JSON, but not as fetchcli writes it
        '{"schema_version": 1, "index": x',  # the head, then no index
        "{}",
        "{ ",
    ],
    ids=["package-json", "other-order", "not-an-index", "empty-object", "brace-space"],
)
def test_a_last_line_that_is_not_a_torn_record_is_not_cut(
    fresh_server: LoopbackServer, tmp_path: Path, content: str
) -> None:
    """``printf '{"name":"app"}' > package.json; fetchcli --resume package.json URL`` emptied
    package.json: any last line without a newline that began with ``{`` was cut as torn."""
    target = tmp_path / "package.json"
    target.write_text(content)
    done = _fetchcli("--resume", str(target), fresh_server.url("/ok"))
    _refused(done, f"--resume line 1 of {target}", "not a fetchcli record", "left as it is")
    assert target.read_text() == content  # nothing cut, nothing appended
    assert fresh_server.stats.requests == 0


def _a_real_record() -> bytes:
    """A record as the JSON Lines sink writes it (the serialisation, not a copy of its text)."""
    result = FetchResult(7, "http://127.0.0.1:9/x", False, error=None, status=503)
    return (json.dumps(result.to_dict()) + "\n").encode()


@pytest.mark.parametrize("cut", [1, 5, 18, 31, 32, 33, 60, -2, -1])
def test_a_torn_record_of_any_length_is_cut_off(tmp_path: Path, cut: int) -> None:
    """Only the beginning of a real record is torn: any prefix of one (a kill can stop a write
    anywhere), up to all but its newline."""
    whole = json.dumps(FetchResult(0, "http://127.0.0.1:9/a", True).to_dict()).encode() + b"\n"
    torn = _a_real_record()[:cut]
    resume = tmp_path / "results.jsonl"
    resume.write_bytes(whole + torn)
    loaded = ResumeFile.load(str(resume), urls=8)
    assert loaded.torn and loaded.records == 1
    assert resume.read_bytes() == whole  # cut back to the last whole record


def test_a_torn_last_line_is_cut_and_its_url_fetched_again(
    fresh_server: LoopbackServer, tmp_path: Path, backend: Backend
) -> None:
    urls = [fresh_server.url(f"/ok/{n}") for n in range(3)]
    first = _fetchcli("--resume", str(tmp_path / "r.jsonl"), "--backend", backend.value, *urls[:1])
    assert first.returncode == 0, first.stderr
    resume = tmp_path / "r.jsonl"
    with resume.open("ab") as f:
        f.write(b'{"schema_version": 1, "index": 1, "url": "' + urls[1].encode())
    done = _fetchcli("--resume", str(resume), "--backend", backend.value, *urls)
    assert done.returncode == 0, done.stderr
    assert [r["index"] for r in _records(resume.read_text())] == [0, 1, 2]
