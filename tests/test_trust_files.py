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
from pathlib import Path
from typing import IO, Any

import pytest

from fetchcli.cli import main
from fetchcli.settings import Backend
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
