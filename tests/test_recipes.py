"""Every recipe in the README, run as written (with its file names and proxy standing for
loopback ones) by bash, and its output checked."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.certs import issue, server_context
from tests.server import LoopbackServer, running_server

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def recipes() -> dict[str, str]:
    """Title (the bold words before it) -> the code of each fenced block of the Recipes section."""
    section = README.split("\n## Recipes\n", 1)[1].split("\n## ", 1)[0]
    found = {}
    title = None
    for match in re.finditer(r"\*\*(?P<title>[^*]+)\*\*|```(?:sh|cron)\n(?P<code>.*?)```", section, re.DOTALL):
        if match.group("title"):
            title = match.group("title")
        elif title is not None:
            found[title] = match.group("code")
            title = None
    return found


RECIPES = recipes()


def test_every_recipe_has_a_check() -> None:
    assert set(RECIPES) == set(CHECKS), "a recipe without a check here, or a check without a recipe"


@pytest.fixture(scope="module")
def jq() -> None:
    if shutil.which("jq") is None:
        if os.environ.get("CI"):
            pytest.fail("jq is needed: .ci/run installs it")
        pytest.skip("jq is not installed (apt-get install jq)")


def _bash(code: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FETCHCLI_") and "proxy" not in k.lower()}
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**clean, "PATH": path, "COLUMNS": "120", **(env or {})},
    )  # fmt: skip


@pytest.fixture
def urls(server: LoopbackServer, tmp_path: Path) -> list[str]:
    listed = [
        server.url("/ok/a"),
        server.url("/status/404"),
        "http://127.0.0.1:9/",
        server.url("/redirect/2"),
        server.url("/html"),
        server.url("/slow/300?slowest"),
        server.url("/status/500"),
    ]
    (tmp_path / "urls.txt").write_text("# recipes\n" + "\n".join(listed) + "\n")
    return listed


def check_failures(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    done = _bash(code, tmp)
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert rows == [["1", urls[1], "404"], ["2", urls[2], "ConnectionRefused"], ["6", urls[6], "500"]]


def check_histogram(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    done = _bash(code, tmp)
    counts = {line.split()[1]: int(line.split()[0]) for line in done.stdout.splitlines()}
    assert counts == {"200": 3, "302": 1, "404": 1, "500": 1, "ConnectionRefused": 1}


def check_slowest(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    rows = [line.split("\t") for line in _bash(code, tmp).stdout.splitlines()]
    assert len(rows) == 7 and rows[0][1] == urls[5]  # the slow one first
    assert [float(ms) for ms, _ in rows] == sorted((float(ms) for ms, _ in rows), reverse=True)


def check_redirects(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    assert _bash(code, tmp).stdout == f"{urls[3]} -> {server.url('/ok')} (2 hops)\n"


def check_certificates(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    expiring = issue(tmp, "expiring", days=3)
    ca = issue(tmp, "ca", days=365, is_ca=True)
    healthy = issue(tmp, "healthy", days=90, ca=ca)
    with (
        running_server(ssl_context=server_context(expiring)) as soon,
        running_server(ssl_context=server_context(healthy)) as later,
    ):
        (tmp / "sites.txt").write_text(f"{soon.url('/')}\n{later.url('/')}\n")
        done = _bash(code, tmp)
    not_after = expiring.certificate.not_valid_after_utc.isoformat().replace("+00:00", "Z")
    assert done.stdout == f"2 days: {soon.url('/')} ({not_after})\n", done.stderr


def check_spreadsheet(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    done = _bash(code, tmp)
    assert done.returncode == 1 and done.stdout == ""  # some URLs failed; the records are in the file
    with open(tmp / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["index", "url", "status", "error.type", "elapsed_ms", "title"]
    assert [row["status"] or row["error.type"] for row in rows] == [
        "200",
        "404",
        "ConnectionRefused",
        "302",
        "200",
        "200",
        "500",
    ]
    assert rows[4]["title"].startswith("Café &")


def check_health(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    up, down = server.url('/say?text={"status":"up"}'), server.url("/say?text=down")
    (tmp / "health-urls.txt").write_text(f"{up}\n{up}\n{down}\n")
    healthy = _bash(code, tmp)
    assert (healthy.returncode, healthy.stdout) == (0, "healthy\n")
    (tmp / "health-urls.txt").write_text(f"{up}\n{down}\n{down}\n")
    sick = _bash(code, tmp)
    assert (sick.returncode, sick.stdout) == (1, "")


def check_proxy(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    direct = server.url("/ok/direct").replace("127.0.0.1", "localhost")
    (tmp / "urls.txt").write_text(f"http://far-away.invalid/page\n{direct}\n")
    done = _bash(code.replace("http://proxy.corp.example:3128", server.url("").rstrip("/")), tmp)
    lines = done.stdout.splitlines()
    base = server.url("").rstrip("/")
    assert lines[:2] == [
        f"proxy         {base} for http:// URLs (from http_proxy)",
        f"proxy         {base} for https:// URLs (from https_proxy)",
    ], done.stderr
    records = [json.loads(line) for line in lines[2:]]
    assert [r["snippet"] for r in records] == ["proxied http://far-away.invalid/page", "hello from /ok/direct"]


def check_stream(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    """A growing log: each failure comes out while the log is still open; Ctrl-C ends it."""
    log = tmp / "new-urls.log"
    log.write_text(server.url("/ok/s1") + "\n")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    proc = subprocess.Popen(
        ["bash", "-c", code], cwd=tmp, stdout=subprocess.PIPE, text=True, env={**os.environ, "PATH": path},
        start_new_session=True,
    )  # fmt: skip
    try:
        with open(log, "a") as f:
            f.write(server.url("/status/503") + "\n")
        assert proc.stdout is not None
        line = proc.stdout.readline()  # waits for the record: no timing involved
        assert json.loads(line)["status"] == 503
        assert proc.poll() is None  # still following the log
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def check_cron(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    command = code.strip().split(None, 5)[5]  # after the five time fields
    for where in ("/var/lib/fetchcli", "/etc/fetchcli", "/var/log/fetchcli"):
        command = command.replace(where, str(tmp))
    done = _bash(command, tmp)
    mailed = [json.loads(line) for line in done.stdout.splitlines()]  # what cron would mail
    assert [r["index"] for r in mailed] == [1, 2, 6] and done.stderr == ""
    summary = json.loads((tmp / "summary.json").read_text())
    assert (summary["total"], summary["ok"], summary["failed"]) == (7, 4, 3)
    # the log line says when: an ISO 8601 time in UTC
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 7 URLs: 4 ok, 3 failed", (tmp / "summary.log").read_text())
    assert len((tmp / "last.jsonl").read_text().splitlines()) == 7


CHECKS: dict[str, Callable[[str, Path, list[str], LoopbackServer], None]] = {
    "Only what failed": check_failures,
    "Status histogram": check_histogram,
    "Slowest ten": check_slowest,
    "Where redirects end up": check_redirects,
    "Certificates expiring within 14 days": check_certificates,
    "CSV into a spreadsheet": check_spreadsheet,
    "A health check": check_health,
    "Behind a corporate proxy": check_proxy,
    "A stream of URLs": check_stream,
    "Cron": check_cron,
}


@pytest.mark.usefixtures("jq")
@pytest.mark.parametrize("title", list(CHECKS))
def test_recipe(title: str, tmp_path: Path, urls: list[str], server: LoopbackServer) -> None:
    CHECKS[title](RECIPES[title], tmp_path, urls, server)
