"""--resume FILE takes one run at a time: a second run on the same file (a cron job that overran
its slot) is a usage error before it reads or fetches anything, instead of both runs fetching
what the file lacks and writing every record twice."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server import LoopbackServer

FETCHCLI = [sys.executable, "-m", "fetchcli"]


@pytest.mark.parametrize("existing", [True, False], ids=["with-records", "empty"])
def test_a_second_run_on_a_resume_file_is_refused(server: LoopbackServer, tmp_path: Path, existing: bool) -> None:
    resume = tmp_path / "run.jsonl"
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(server.url(f"/ok/{n}") + "\n" for n in range(3)))
    if existing:
        first = subprocess.run(
            [*FETCHCLI, "-q", "-i", str(urls), "--resume", str(resume)], capture_output=True, text=True, timeout=60
        )
        assert first.returncode == 0, first.stderr
    else:
        resume.unlink(missing_ok=True)
        resume.touch()
    before = resume.read_bytes()
    requests = server.stats.requests
    # another run holds the file: the same lock a run takes (fcntl.flock, exclusive)
    with open(resume, "r+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        second = subprocess.run(
            [*FETCHCLI, "-q", "-i", str(urls), "--resume", str(resume)], capture_output=True, text=True, timeout=60
        )
    assert second.returncode == 2, second.stderr
    assert second.stderr.startswith("fetchcli: error: --resume ")
    assert "in use by another fetchcli run" in second.stderr and "Traceback" not in second.stderr
    assert resume.read_bytes() == before and server.stats.requests == requests
    # once the other run is done, the file is carried on as usual
    third = subprocess.run(
        [*FETCHCLI, "-q", "-i", str(urls), "--resume", str(resume)], capture_output=True, text=True, timeout=60
    )
    assert third.returncode == 0, third.stderr
    assert sorted(json.loads(line)["index"] for line in resume.read_text().splitlines()) == [0, 1, 2]


def test_two_runs_in_one_process_one_after_the_other(server: LoopbackServer, tmp_path: Path) -> None:
    """The lock ends with the run: the Python entry point run twice in one process on one file."""
    from fetchcli.cli.app import main

    resume = tmp_path / "run.jsonl"
    url = server.url("/ok/1")
    assert main(["-q", url, "--resume", str(resume)]) == 0
    assert main(["-q", url, "--resume", str(resume)]) == 0
    assert len(resume.read_text().splitlines()) == 1
