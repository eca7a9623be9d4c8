"""Bounded time and clean stops: --deadline, SIGINT/SIGTERM, atomic -o, --fsync."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fetchcli.settings import Settings
from tests.helpers import run
from tests.server import LoopbackServer


def test_deadline_reports_every_url_once(server: LoopbackServer) -> None:
    urls = [server.url("/ok/0"), server.url("/hang"), server.url("/hang")]
    urls += [server.url(f"/ok/{n}") for n in range(3, 30)] + ["ftp://invalid"]
    results = run(urls, Settings(concurrency=2, deadline=0.5))  # /hang would never end without it
    assert [r.index for r in results] == list(range(31))
    types = [r.error.type if r.error else None for r in results]
    assert types[0] is None
    assert types[1:3] == ["Cancelled", "Cancelled"]
    assert types[3:30] == ["NotStarted"] * 27
    assert types[30] == "InvalidURL"
    assert results[3].error is not None and "--deadline 0.5 s" in results[3].error.message
    assert results[1].attempts == 1 and results[3].attempts == 0  # /hang was sent; /ok/3 never was


def test_deadline_in_completion_order(server: LoopbackServer) -> None:
    from fetchcli.settings import Order

    urls = [server.url("/hang")] + [server.url(f"/slow/100?n={n}") for n in range(20)]
    results = run(urls, Settings(concurrency=2, deadline=0.4, order=Order.completion))
    assert sorted(r.index for r in results) == list(range(21))


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fetchcli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_path(server: LoopbackServer, path: str, timeout: float = 15) -> None:
    """Until the server has seen a request for ``path`` (from a subprocess starting up)."""
    limit = time.monotonic() + timeout
    while path not in server.stats.paths:
        if time.monotonic() > limit:
            raise AssertionError(f"the subprocess never asked for {path}")
        time.sleep(0.02)


def _wait_for_requests(server: LoopbackServer, count: int, timeout: float = 15) -> None:
    before = server.stats.requests
    limit = time.monotonic() + timeout
    while server.stats.requests - before < count:
        if time.monotonic() > limit:
            raise AssertionError("the subprocess never reached the server")
        time.sleep(0.02)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_flushes_and_exits(fresh_server: LoopbackServer, signum: int, status: int) -> None:
    urls = [fresh_server.url("/ok/0"), fresh_server.url("/ok/1")] + [fresh_server.url("/hang")] * 3
    proc = _spawn("-f", "json", "-c", "5", *urls)
    _wait_for_requests(fresh_server, 5)
    time.sleep(0.2)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == status
    records = json.loads(out)  # the array is closed and valid
    assert [r["index"] for r in records] == [0, 1, 2, 3, 4]
    assert [r["ok"] for r in records[:2]] == [True, True]
    assert {r["error"]["type"] for r in records[2:]} == {"Cancelled"}
    assert f"interrupted by {signal.Signals(signum).name}" in err
    assert "Traceback" not in err


def test_sigint_jsonl_never_ends_with_a_torn_line(fresh_server: LoopbackServer) -> None:
    urls = [fresh_server.url(f"/slow/{n * 20}") for n in range(40)] + [fresh_server.url("/hang")]
    proc = _spawn("-c", "4", "--order", "completion", *urls)
    _wait_for_requests(fresh_server, 12)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 130
    assert out.endswith("\n")
    lines = out.splitlines()
    assert len(lines) >= 4
    for line in lines:
        json.loads(line)


def test_output_file_appears_only_when_complete(server: LoopbackServer, tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    proc = _spawn("-f", "json", "-o", str(target), server.url("/slow/3000?atomic"), server.url("/ok/atomic"))
    _wait_for_path(server, "/ok/atomic")  # one result is in, the other still on its way
    assert not target.exists()  # being written beside it, not in place
    proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert [r["status"] for r in json.loads(target.read_text())] == [200, 200]
    assert sorted(os.listdir(tmp_path)) == ["out.json"]  # no temporary file left behind


def test_killed_run_leaves_no_half_written_file(server: LoopbackServer, tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text('["previous complete result"]\n')
    proc = _spawn("-f", "json", "-o", str(target), server.url("/ok/killed"), server.url("/hang?killed"))
    _wait_for_path(server, "/hang?killed")
    proc.kill()
    proc.communicate(timeout=15)
    assert json.loads(target.read_text()) == ["previous complete result"]


def test_fsync_jsonl(server: LoopbackServer, tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "fetchcli", "--fsync", "-o", str(target), server.url("/ok"), server.url("/ok/2")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0
    assert [json.loads(line)["status"] for line in target.read_text().splitlines()] == [200, 200]


def test_second_sigint_exits_at_once(fresh_server: LoopbackServer, tmp_path: Path) -> None:
    # Nobody reads stdout, so fetchcli blocks writing to a full pipe: only a signal can end it.
    listing = tmp_path / "urls.txt"
    listing.write_text("".join(fresh_server.url(f"/size/3000?n={n}") + "\n" for n in range(3000)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchcli", "--snippet-length", "3000", "-i", str(listing)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_requests(fresh_server, 40)  # 40 records of 3 KB fill a 64 KiB pipe
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None  # still blocked on the full pipe after the first Ctrl-C
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) in (-signal.SIGINT, 130)
    finally:
        proc.kill()
        proc.communicate()


def test_sigint_while_waiting_on_an_open_pipe(server: LoopbackServer) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchcli"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(server.url("/ok/1") + "\n" + server.url("/ok/2") + "\n")
    proc.stdin.flush()  # and the pipe stays open: fetchcli waits for more
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    assert ready, "no result while the input pipe stays open"
    first = proc.stdout.readline()
    assert json.loads(first)["index"] == 0
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=5)
    finally:
        proc.kill()
    # Not communicate(): it reads the pipe itself and would miss what readline() buffered.
    rest, err = proc.stdout.read(), proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 130
    assert [json.loads(line)["index"] for line in rest.splitlines()] == [1], (first, err)
    assert "Traceback" not in err


def test_deadline_with_an_open_pipe(server: LoopbackServer) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchcli", "--deadline", "1", "-c", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    proc.stdin.write("".join(server.url(p) + "\n" for p in ("/ok/0", "/hang", "/ok/2", "/ok/3")))
    proc.stdin.flush()  # never closed before the deadline
    try:
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
    types = [(json.loads(line)["error"] or {}).get("type") for line in out.splitlines()]
    assert types == [None, "Cancelled", "NotStarted", "NotStarted"]
    assert proc.returncode == 1


def _summary_unread(err: str) -> int:
    match = re.search(r"; ([\d,]+) URLs? in the input left unread", err)
    assert match is not None, err
    return int(match.group(1).replace(",", ""))


def test_sigint_reports_every_url_read_exactly_once(fresh_server: LoopbackServer, tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    urls = [fresh_server.url(f"/slow/{(n * 37) % 200}?n={n}") for n in range(300)]
    listing.write_text("".join(url + "\n" for url in urls))
    proc = _spawn("-c", "20", "-i", str(listing))
    _wait_for_requests(fresh_server, 60)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 130
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["index"] for r in records] == list(range(len(records)))
    assert [r["url"] for r in records] == urls[: len(records)]
    assert len(records) + _summary_unread(err) == 300  # the rest of the file was left, and counted
    # Read ahead but not started (the engine reads up to its reorder window ahead): NotStarted.
    types = [(r["error"] or {}).get("type") for r in records]
    assert set(types) <= {None, "Cancelled", "NotStarted"}


def test_sigint_reports_a_pipes_read_ahead_and_leaves_the_rest_in_the_pipe(fresh_server: LoopbackServer) -> None:
    lines = [fresh_server.url(f"/slow/50?n={n}") + "\n" for n in range(3000)]
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 1 << 20)  # room for all 3,000 lines at once
    os.write(write_end, "".join(lines).encode())  # and the pipe stays open: no end of input
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchcli", "-c", "10"],
        stdin=read_end,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_requests(fresh_server, 30)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
        os.set_blocking(read_end, False)
        left = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(read_end, 1 << 20):
                left += chunk
    finally:
        proc.kill()
        os.close(read_end)
        os.close(write_end)
    assert proc.returncode == 130
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["index"] for r in records] == list(range(len(records)))
    # What was read is reported once, in order; what was not is still in the pipe. A line read
    # only in part when the stop came is read on to its end first: never reported cut short.
    read = "".join(r["url"] + "\n" for r in records)
    assert read + left.decode() == "".join(lines)
    assert left  # the input was not all read
    assert len(records) < 3000 and "NotStarted" in {(r["error"] or {}).get("type") for r in records}
    assert "the input was not read to its end" in err
