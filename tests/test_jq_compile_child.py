"""--expect-jq's expression is compiled in a child process, not in fetchcli's: libjq aborts the
process on some programs (the jq package's 1.2.3 floor did on an ``import`` it could not find), and
a run must then end with a one-line usage error, not SIGABRT (noticed in the fourth session of
2026-12-03). A stand-in ``jq`` module whose ``compile`` aborts plays libjq's assertion."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import fetchcli_in_clean_env
from tests.server import running_server

REPO = Path(__file__).resolve().parent.parent

ABORTING_JQ = """\
import os
import time

def compile(expression):
    if "abort" in expression:
        os.abort()  # as libjq's assert() does
    if "slow" in expression:
        time.sleep(120)
    raise ValueError("jq: error: stand-in\\njq: 1 compile error")
"""


def test_an_expression_that_aborts_jq_is_a_one_line_usage_error(tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "jq.py").write_text(ABORTING_JQ)
    with running_server() as server:
        done = fetchcli_in_clean_env("--expect-jq", ".abort", server.url("/ok"), env={"PYTHONPATH": f"{fake}:{REPO}"})
        assert done.returncode == 2, (done.returncode, done.stderr)
        assert done.stderr.splitlines() == [
            "fetchcli: error: --expect-jq does not compile: jq stopped while compiling it (signal 6, SIGABRT)"
        ]
        assert server.stats.requests == 0 and server.stats.accepted == 0


def test_jqs_own_message_still_says_why(tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "jq.py").write_text(ABORTING_JQ)
    done = fetchcli_in_clean_env("--expect-jq", ".ok", "http://127.0.0.1:9/", env={"PYTHONPATH": f"{fake}:{REPO}"})
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["fetchcli: error: --expect-jq does not compile: stand-in"]


def test_the_check_is_bounded_by_the_deadline(tmp_path: Path) -> None:
    """A compile that takes long (a huge program) is bounded by --deadline, as the run is
    (review r8a: 21.7 s with --deadline 2; up to the check's own 30 s)."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "jq.py").write_text(ABORTING_JQ)
    done = fetchcli_in_clean_env(
        "--deadline", "1", "--expect-jq", ".slow", "http://127.0.0.1:9/", env={"PYTHONPATH": f"{fake}:{REPO}"}
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["fetchcli: error: --expect-jq does not compile within 1 s (--deadline)"]
