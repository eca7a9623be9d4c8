"""Every exit status fetchcli documents, each reached by a real process, in one place: a new
status cannot be added to ``ExitStatus`` (and so to --help and the README) without a case here.
Other tests go deeper into each (test_output_target.py, test_stopping.py...)."""

from __future__ import annotations

import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fetchcli.cli.status import ExitStatus
from tests.server import LoopbackServer

FETCHCLI = [sys.executable, "-m", "fetchcli"]


def _ok(server: LoopbackServer, tmp: Path) -> int:
    return subprocess.run([*FETCHCLI, server.url("/ok/0")], capture_output=True, timeout=60).returncode


def _failures(server: LoopbackServer, tmp: Path) -> int:
    return subprocess.run([*FETCHCLI, server.url("/status/404")], capture_output=True, timeout=60).returncode


def _usage(server: LoopbackServer, tmp: Path) -> int:
    return subprocess.run(
        [*FETCHCLI, "--timeout", "soon", server.url("/ok")], capture_output=True, timeout=60
    ).returncode


def _small_files() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))


def _io_error(server: LoopbackServer, tmp: Path) -> int:
    urls = [server.url(f"/size/500?io={n}") for n in range(20)]
    done = subprocess.run(
        [*FETCHCLI, "--snippet-length", "400", "-o", str(tmp / "out.jsonl"), *urls],
        capture_output=True, timeout=60, preexec_fn=_small_files,
    )  # fmt: skip
    return done.returncode


def _until_seen(server: LoopbackServer, path: str, proc: subprocess.Popen[bytes]) -> None:
    """Wait until the server has the request (a counted event, not a timed one)."""
    limit = time.monotonic() + 60
    while path not in server.stats.paths and proc.poll() is None and time.monotonic() < limit:
        time.sleep(0.01)
    assert path in server.stats.paths


def _signalled(signum: int) -> Callable[[LoopbackServer, Path], int]:
    def run(server: LoopbackServer, tmp: Path) -> int:
        path = f"/hang?signal={signum}"
        proc = subprocess.Popen([*FETCHCLI, server.url(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _until_seen(server, path, proc)
        proc.send_signal(signum)
        proc.communicate(timeout=60)
        return proc.returncode

    return run


def _broken_pipe(server: LoopbackServer, tmp: Path) -> int:
    urls = [server.url(f"/size/3000?pipe={n}") for n in range(400)]
    proc = subprocess.Popen(
        [*FETCHCLI, "--snippet-length", "3000", "-c", "4", *urls], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # `| head -1`
    proc.stdout.close()
    proc.wait(timeout=60)
    return proc.returncode


CASES: dict[ExitStatus, Callable[[LoopbackServer, Path], int]] = {
    ExitStatus.OK: _ok,
    ExitStatus.FAILURES: _failures,
    ExitStatus.USAGE: _usage,
    ExitStatus.IO_ERROR: _io_error,
    ExitStatus.INTERRUPTED: _signalled(signal.SIGINT),
    ExitStatus.BROKEN_PIPE: _broken_pipe,
    ExitStatus.TERMINATED: _signalled(signal.SIGTERM),
    ExitStatus.HANGUP: _signalled(signal.SIGHUP),
}


def test_every_status_has_a_case() -> None:
    assert set(CASES) == set(ExitStatus)


@pytest.mark.parametrize("status", list(ExitStatus), ids=lambda s: f"{s.value}-{s.name}")
def test_a_real_process_exits_with(status: ExitStatus, server: LoopbackServer, tmp_path: Path) -> None:
    assert CASES[status](server, tmp_path) == status


def test_the_readme_and_help_list_every_status() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme.split("\n## Exit status\n", 1)[1].split("\n## ", 1)[0]
    assert sorted(int(code) for code in re.findall(r"^\| (\d+) \|", table, flags=re.MULTILINE)) == sorted(ExitStatus)
