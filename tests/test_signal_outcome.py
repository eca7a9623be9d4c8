"""Signals while a run writes its files and decides its exit status (review of r8a's fix).

The process signals itself at a chosen point (``AT``): at the commit of the first atomic file
(``commit``: ``-o``, or ``--summary-json`` when the records go to stdout) or as the summary line
is written (``say``: after every file is committed). So the window is hit every time, with no
timing. What is pinned:

- the exit status and ``--summary-json``'s ``stopped_by`` always agree: a signal counts until
  the outcome is decided (the records written, ``-o`` committed); after that it changes nothing;
- fetchcli's handlers stay until the exit status is returned: a signal after the files are
  committed is not the default action (killed by the signal, against what the files say);
- only a second Ctrl-C (SIGINT after SIGINT) abandons the files; SIGTERM then SIGINT does not.
"""

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
from fetchcli.cli import runner
from fetchcli.output import writer

SENT = [int(s) for s in os.environ.pop("SEND").split(",")]
AT = os.environ.pop("AT")

def send():
    while SENT:
        os.kill(os.getpid(), SENT.pop(0))

real_commit = writer._AtomicOutput.commit

def commit(self):
    if AT == "commit":
        send()
    return real_commit(self)

real_say = runner.say

def say(env, line):
    if AT == "say" and "URL" in line:  # the summary line
        send()
    return real_say(env, line)

writer._AtomicOutput.commit = commit
runner.say = say
from fetchcli.cli.app import main
sys.exit(main(sys.argv[1:]))
"""

STATUS = {
    signal.SIGTERM: ExitStatus.TERMINATED,
    signal.SIGHUP: ExitStatus.HANGUP,
    signal.SIGINT: ExitStatus.INTERRUPTED,
}


def _run(tmp_path: Path, sent: list[signal.Signals], at: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FETCHCLI_") and "proxy" not in k.lower()}
    env.update(PYTHONPATH=str(REPO), SEND=",".join(str(int(s)) for s in sent), AT=at)
    with running_server() as server:
        urls = [server.url("/ok/a"), server.url("/ok/b")]
        return subprocess.run(
            [sys.executable, "-c", SCRIPT, "-f", "json", *args, *urls],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip


@pytest.mark.live
@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_while_the_summary_json_is_written_leaves_it_and_the_exit_status_agreeing(
    tmp_path: Path, sent: signal.Signals
) -> None:
    summary = tmp_path / "s.json"
    done = _run(tmp_path, [sent], "commit", "--summary-json", str(summary))  # records to stdout
    stopped_by = json.loads(summary.read_text())["stopped_by"]
    assert (done.returncode, stopped_by) == (ExitStatus.OK, None), done.stderr  # both: the run had finished
    assert [r["ok"] for r in json.loads(done.stdout)] == [True, True]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


@pytest.mark.live
@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_during_the_rename_of_o_is_reported_by_both(tmp_path: Path, sent: signal.Signals) -> None:
    records, summary = tmp_path / "r.json", tmp_path / "s.json"
    done = _run(tmp_path, [sent], "commit", "-o", str(records), "--summary-json", str(summary))
    assert done.returncode == STATUS[sent], done.stderr
    assert json.loads(summary.read_text())["stopped_by"] == sent.name
    assert [r["ok"] for r in json.loads(records.read_text())] == [True, True]


@pytest.mark.live
@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_after_the_files_are_committed_is_not_the_default_action(tmp_path: Path, sent: signal.Signals) -> None:
    """Sent as the summary line is written: the handlers were put back before, and the default
    action killed the process (SIGINT: 130, while --summary-json said the run finished)."""
    summary = tmp_path / "s.json"
    done = _run(tmp_path, [sent], "say", "--summary", "--summary-json", str(summary))
    assert done.returncode == ExitStatus.OK, done.stderr
    assert json.loads(summary.read_text())["stopped_by"] is None
    assert "Traceback" not in done.stderr
    assert "2 URLs" in done.stderr  # the summary line was written whole


@pytest.mark.live
def test_sigterm_then_sigint_during_the_commit_still_commits_the_files(tmp_path: Path) -> None:
    """A SIGINT after a SIGTERM is the first Ctrl-C, not a second one: the files are committed
    and the exit status is the first signal's (before: the run ended at once, -o lost)."""
    records, summary = tmp_path / "r.json", tmp_path / "s.json"
    records.write_text("old\n")
    sent = [signal.SIGTERM, signal.SIGINT]
    done = _run(tmp_path, sent, "commit", "-o", str(records), "--summary-json", str(summary))
    assert done.returncode == ExitStatus.TERMINATED, done.stderr
    assert [r["ok"] for r in json.loads(records.read_text())] == [True, True]
    assert json.loads(summary.read_text())["stopped_by"] == "SIGTERM"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "s.json"]


@pytest.mark.live
def test_a_second_ctrl_c_during_the_commit_ends_the_run_at_once(tmp_path: Path) -> None:
    """Two Ctrl-Cs are the user's way out, even of the final writes (documented): killed by
    SIGINT, the temporary files removed, ``-o`` left as it was."""
    records, summary = tmp_path / "r.json", tmp_path / "s.json"
    records.write_text("old\n")
    done = _run(tmp_path, [signal.SIGINT, signal.SIGINT], "commit", "-o", str(records), "--summary-json", str(summary))
    assert done.returncode == -signal.SIGINT, done.stderr
    assert records.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]
