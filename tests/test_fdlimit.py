"""Room for --max-connections among the files a process may open: the soft ``ulimit -n`` is
raised as far as the run needs, up to the hard limit; when the hard limit is too low, one
warning says so before anything is sent (review r7u: with ``ulimit -n 256``, 359 of 600 URLs
were TooManyOpenFiles with nothing said up front). The server holds every answer until it has
seen all the requests, so the run must hold that many connections open at once."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fetchcli.cli.fdlimit import make_room
from tests.server import running_server

REPO = Path(__file__).resolve().parent.parent
N = 300


def _limit(soft: int, hard: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return apply


def _run(tmp_path: Path, soft: int, hard: int) -> tuple[list[dict[str, object]], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FETCHCLI_") and "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(REPO)
    with running_server() as server:
        listing = tmp_path / "urls.txt"
        listing.write_text("".join(server.url(f"/hold/{N}/127.0.0.1?i={i}") + "\n" for i in range(N)))
        done = subprocess.run(
            [sys.executable, "-m", "fetchcli", "-c", str(N), "--max-connections", str(N), "-i", str(listing)],
            capture_output=True, text=True, env=env, timeout=120, preexec_fn=_limit(soft, hard),
        )  # fmt: skip
    return [json.loads(line) for line in done.stdout.splitlines()], done.stderr


@pytest.mark.skipif(resource.getrlimit(resource.RLIMIT_NOFILE)[1] < N + 200, reason="the hard limit here is too low")
def test_the_soft_limit_is_raised_for_the_connections(tmp_path: Path) -> None:
    records, stderr = _run(tmp_path, soft=200, hard=N + 200)
    assert len(records) == N
    assert [r["error"] for r in records if not r["ok"]] == [], stderr
    assert "warning" not in stderr


def test_a_hard_limit_too_low_is_one_warning_up_front(tmp_path: Path) -> None:
    records, stderr = _run(tmp_path, soft=200, hard=200)
    assert len(records) == N
    [warning] = [line for line in stderr.splitlines() if "warning" in line]
    assert warning == (
        f"fetchcli: warning: --max-connections {N} needs about {N + 64} open files and this process may open 200"
        " (ulimit -n): connections beyond them fail as TooManyOpenFiles"
    )


def test_a_limit_already_high_enough_is_left_as_it_is() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert make_room(10) is None
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (soft, hard)
