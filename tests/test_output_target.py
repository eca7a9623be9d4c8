"""``-o PATH`` writes through what PATH is (as curl does) and is atomic only for regular files;
a write that fails ends the run with one line and its own exit status, in every format.

No test here hands fetchcli a device node: a FIFO, a symlink in a temporary directory, a pipe
closed early and a file size limit stand in for them."""

from __future__ import annotations

import errno
import io
import json
import os
import resource
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fetchcli.cli.runner import Environment, OutputOptions, execute
from fetchcli.cli.status import ExitStatus
from fetchcli.settings import OutputFormat, Settings
from tests.server import LoopbackServer

FORMATS = ["json", "jsonl", "table"]


def _fetchcli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fetchcli", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("fmt", FORMATS)
def test_through_a_symlink_the_link_stays_and_its_target_is_written(
    server: LoopbackServer, tmp_path: Path, fmt: str
) -> None:
    target = tmp_path / "real" / "results.out"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "link.out"
    link.symlink_to(target)
    done = _fetchcli("-f", fmt, "-o", str(link), server.url("/ok"))
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert "hello from /ok" in target.read_text()
    assert sorted(p.name for p in target.parent.iterdir()) == ["results.out"]  # no temporary file left


@pytest.mark.parametrize("fmt", FORMATS)
def test_to_a_fifo_the_reader_gets_everything(server: LoopbackServer, tmp_path: Path, fmt: str) -> None:
    fifo = tmp_path / "results.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    done = _fetchcli("-f", fmt, "-o", str(fifo), server.url("/ok/1"), server.url("/ok/2"))
    reader.join(timeout=30)
    assert done.returncode == 0, done.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # still a FIFO, not replaced by a file
    text = received[0].decode()
    if fmt == "json":
        assert [r["index"] for r in json.loads(text)] == [0, 1]
    elif fmt == "jsonl":
        assert [json.loads(line)["index"] for line in text.splitlines()] == [0, 1]
    else:
        assert "hello from /ok/1" in text and "hello from /ok/2" in text


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_existing_file_keeps_its_mode(server: LoopbackServer, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / "results.out"
    target.write_text("old\n")
    target.chmod(0o644)
    done = _fetchcli("-f", fmt, "-o", str(target), server.url("/ok"))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert "old" not in target.read_text()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_new_file_honours_the_umask(server: LoopbackServer, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / "results.out"
    done = subprocess.run(
        ["sh", "-c", f'umask 027 && exec "{sys.executable}" -m fetchcli -f {fmt} -o "{target}" "{server.url("/ok")}"'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    done = _fetchcli("-f", "jsonl", "-o", str(tmp_path), "http://127.0.0.1:9/")
    assert done.returncode == 2
    assert done.stderr.startswith("fetchcli: error: --output") and done.stderr.count("\n") == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_reader_that_goes_away_ends_the_run_quietly_with_141(
    fresh_server: LoopbackServer, tmp_path: Path, fmt: str
) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text("".join(fresh_server.url(f"/size/2000?n={n}") + "\n" for n in range(2000)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchcli", "-f", fmt, "--snippet-length", "2000", "-c", "4", "-i", str(listing)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()  # `| head -1`
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=30) == ExitStatus.BROKEN_PIPE
    assert err == b""  # no traceback, no summary, no "Exception ignored"
    assert fresh_server.stats.requests < 2000  # the run ended at once, not after every URL


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))  # writes past 3,000 bytes fail: EFBIG


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("to_stdout", [True, False], ids=["stdout", "dash-o"])
def test_a_file_that_cannot_grow_is_one_line_and_74(
    server: LoopbackServer, tmp_path: Path, fmt: str, to_stdout: bool
) -> None:
    target = tmp_path / "results.out"
    target.write_text("old\n")
    urls = [server.url(f"/size/500?n={n}") for n in range(60)]
    command = [sys.executable, "-m", "fetchcli", "-f", fmt, "--snippet-length", "400", *urls]
    with open(target, "a") as sink:
        done = subprocess.run(
            command if to_stdout else [*command, "-o", str(target)],
            stdout=sink if to_stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            preexec_fn=_limit_file_size,
        )
    assert done.returncode == ExitStatus.IO_ERROR, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("fetchcli: error: cannot write ")
    assert "File too large" in done.stderr
    if not to_stdout and fmt != "jsonl":  # replaced atomically: the old file is still whole
        assert target.read_text() == "old\n"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["results.out"]


class _FullDisk(io.StringIO):
    def __init__(self, after: int) -> None:
        super().__init__()
        self._left = after

    def write(self, text: str) -> int:
        self._left -= 1
        if self._left < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(text)


@pytest.mark.parametrize("fmt", [OutputFormat.json, OutputFormat.jsonl, OutputFormat.table])
def test_a_full_disk_at_the_sink(server: LoopbackServer, fmt: OutputFormat) -> None:
    stdout, stderr = _FullDisk(after=2), io.StringIO()
    env = Environment(stdin=io.BytesIO(), stdout=stdout, stderr=stderr, stdin_isatty=True, stdout_isatty=False)
    urls = [server.url(f"/ok/{n}") for n in range(20)]
    status = execute(Settings(), urls, [], OutputOptions(format=fmt), env)
    assert status == ExitStatus.IO_ERROR
    assert stderr.getvalue() == "fetchcli: error: cannot write stdout: No space left on device\n"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_descriptor_alias_is_appended_to_not_replaced(server: LoopbackServer, tmp_path: Path, fmt: str) -> None:
    """`-o /dev/stdout >> log` (here /proc/self/fd/1: no test touches /dev): the shell's file is
    written through, and not truncated, even though it is a regular file."""
    log = tmp_path / "log.txt"
    log.write_text("earlier run\n")
    with open(log, "a") as appending:
        done = subprocess.run(
            [sys.executable, "-m", "fetchcli", "-f", fmt, "-o", "/proc/self/fd/1", server.url("/ok")],
            stdout=appending,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    text = log.read_text()
    assert text.startswith("earlier run\n") and "hello from /ok" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.txt"]


def _limit_file_size_to_nothing_more() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))  # the file below is 3,000 bytes: no write fits


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_the_first_write_failing_unbuffered_is_141_or_74_too(server: LoopbackServer, tmp_path: Path, fmt: str) -> None:
    """With ``PYTHONUNBUFFERED=1`` (Docker images, systemd units) CSV and TSV write their header
    row when the run's sink is made: a reader already gone gave exit 1 and nothing said (typer's
    own EPIPE handler), a full file a traceback (review r7u)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "fetchcli", "-f", fmt, server.url("/ok")]
    read, write = os.pipe()
    os.close(read)  # `| jqq`: the reader is gone before fetchcli writes a byte
    try:
        done = subprocess.run(command, stdout=write, stderr=subprocess.PIPE, env=env, timeout=60)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (ExitStatus.BROKEN_PIPE, b"")
    target = tmp_path / "results.out"
    target.write_bytes(b"x" * 3000)
    with open(target, "ab") as sink:
        full = subprocess.run(
            command,
            stdout=sink,
            stderr=subprocess.PIPE,
            env=env,
            timeout=60,
            preexec_fn=_limit_file_size_to_nothing_more,
        )
    assert full.returncode == ExitStatus.IO_ERROR, full.stderr
    assert full.stderr.decode().startswith("fetchcli: error: cannot write") and full.stderr.count(b"\n") == 1, (
        full.stderr
    )
