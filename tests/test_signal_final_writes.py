"""A signal while a run writes its files (after the last URL, before the rename over ``-o``, or
``--summary-json`` and ``--metrics``) is noted and the writing goes on: the files are committed,
no temporary file is left, and the exit status says the signal. Before, the default action killed
the process between a temporary file and its rename (review r8a, SIGHUP and SIGTERM). The signal
is sent by the process to itself at the start of the commit, so the window is hit every time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fetchcli.cli.status import ExitStatus
from tests.server import running_server

REPO = Path(__file__).resolve().parent.parent

SCRIPT = """\
import os, signal, sys
from fetchcli.output import writer
real = writer._AtomicOutput.commit

def commit(self):
    if os.environ.pop("SEND", None) is not None:  # once (a second Ctrl-C would end the run at once)
        os.kill(os.getpid(), SENT)  # the signal, while the run's files are written
    return real(self)

SENT = int(os.environ["SEND"])

writer._AtomicOutput.commit = commit
from fetchcli.cli.app import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_during_the_commit_leaves_the_files_whole(tmp_path: Path, sent: signal.Signals) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FETCHCLI_") and "proxy" not in k.lower()}
    env.update(PYTHONPATH=str(REPO), SEND=str(int(sent)))
    records, summary = tmp_path / "r.json", tmp_path / "s.json"
    with running_server() as server:
        urls = [server.url("/ok/a"), server.url("/ok/b")]
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, "-q", "-f", "json", "-o", str(records), "--summary-json", str(summary), *urls],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
    expected = {signal.SIGTERM: ExitStatus.TERMINATED, signal.SIGHUP: ExitStatus.HANGUP}.get(
        sent, ExitStatus.INTERRUPTED
    )
    assert done.returncode == expected, done.stderr
    assert [r["ok"] for r in json.loads(records.read_text())] == [True, True]
    assert json.loads(summary.read_text())["ok"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "s.json"]  # no temporary file left
