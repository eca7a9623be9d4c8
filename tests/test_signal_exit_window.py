"""The last moments of the process (review r11a): from ``main``'s return to the interpreter's
exit, a SIGTERM, SIGHUP or SIGINT got its default action, so a run whose ``--summary-json`` said
it had finished (``stopped_by`` null) was killed by the signal (a shell saw 143). Now such a
signal ends the process at once with the exit status already decided. The process signals itself
right after ``main()`` returns (``AT=return``) or from an ``atexit`` hook, during the
interpreter's shutdown (``AT=atexit``): the window is hit every time, with no timing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server import running_server

REPO = Path(__file__).resolve().parent.parent

SCRIPT = """\
import atexit, os, sys
SENT = int(os.environ.pop("SEND"))
AT = os.environ.pop("AT")
MARKER = os.environ.pop("MARKER")
from fetchcli.cli.app import main
# Registered before main(): would run after fetchcli's own exit hook, in the shutdown past it.
atexit.register(lambda: open(MARKER, "w").close())
sys.argv = ["fetchcli", *sys.argv[1:]]
status = main()  # the process's own command line, as the console script calls it
if AT == "return":
    os.kill(os.getpid(), SENT)
if AT == "atexit":  # registered after main(): runs in the shutdown, before fetchcli's hook
    atexit.register(lambda: os.kill(os.getpid(), SENT))
sys.exit(status)
"""


@pytest.mark.parametrize("at", ["return", "atexit", "none"])
@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=["TERM", "HUP", "INT"])
def test_a_signal_after_main_returns_keeps_the_decided_exit_status(
    tmp_path: Path, sent: signal.Signals, at: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FETCHCLI_") and "proxy" not in k.lower()}
    marker = tmp_path / "shutdown-went-on"
    env.update(PYTHONPATH=str(REPO), SEND=str(int(sent)), AT=at, MARKER=str(marker))
    summary = tmp_path / "summary.json"
    with running_server() as server:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, "-f", "jsonl", "-o", str(tmp_path / "out.jsonl"),
             "--summary-json", str(summary), server.url("/ok/a"), server.url("/status/503")],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1, (done.returncode, done.stderr)  # the run's own status: a 503
    assert json.loads(summary.read_text())["stopped_by"] is None
    assert "Traceback" not in done.stderr
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2
    # The shutdown ends with fetchcli's hook (review r12a): past it CPython puts the default
    # actions back (_PySignal_Fini) before the process is gone, a window a signal could hit.
    assert not marker.exists()
