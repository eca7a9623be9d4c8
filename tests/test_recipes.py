"""Every recipe in the README and every example of ``--help``, run as written (with its file
names and proxy standing for loopback ones) by bash, and its output checked.

Each sees records of every kind, failures included: the URL list holds answers (200, 302, 404,
500), a refused port, a line that is no URL (``InvalidURL``) and URLs that hang, and the
environment stands for a user's config that makes the run end as runs do: one URL at a time,
``--max-time 1`` and ``--deadline 4``. So the first hanging URL (one that answered 200 and then
stalls in its body: its record keeps the status) is a ``TotalTimeout`` (the
URLs before it take well under 3 s), and the deadline leaves the last URL ``NotStarted`` (five
hanging URLs take more than 4 s), with ``TotalTimeout``, ``Cancelled`` or ``NotStarted``
records between them: those have a null ``status``, and all but ``TotalTimeout`` a null
``elapsed_ms``. (The "Slowest ten" recipe once failed on them: ``null (null) cannot be
negated``.)"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest

from fetchcli.cli.help import EPILOG
from tests.certs import issue, server_context
from tests.server import LoopbackServer, running_server

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
# A user's config, as environment variables: see the module docstring.
EVERY_KIND = {"FETCHCLI_CONCURRENCY": "1", "FETCHCLI_MAX_TIME": "1", "FETCHCLI_DEADLINE": "4"}
INVALID = "ftp://files.example/list"  # a line that is no URL fetchcli fetches: InvalidURL
STOPPED = {"TotalTimeout", "Cancelled", "NotStarted"}  # what a hanging URL ends as, by timing


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


def _bash(
    code: str, cwd: Path, env: dict[str, str] | None = None, *, errexit: bool = True
) -> subprocess.CompletedProcess[str]:
    """``code`` run by bash (with ``-e`` unless ``errexit`` is False: several commands a user
    would type one by one), with the caller's FETCHCLI_* and proxy variables dropped and the
    ``EVERY_KIND`` ones set."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FETCHCLI_") and "proxy" not in k.lower()}
    flags = "-eo" if errexit else "-o"
    return subprocess.run(
        ["bash", flags, "pipefail", "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**clean, "PATH": path, "COLUMNS": "120", **EVERY_KIND, **(env or {})},
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
        INVALID,
        server.url("/trickle?1"),  # a 200, then a byte every 0.5 s: TotalTimeout with status 200
        *(server.url(f"/hang?{n}") for n in range(2, 6)),
        server.url("/ok/late"),
    ]
    (tmp_path / "urls.txt").write_text("# recipes\n" + "\n".join(listed) + "\n")
    return listed


# Why each URL of the list fails (the error type, else the status), or None when it is ok; a set:
# any of these, as the timing decides.
WHY: list[str | set[str] | None] = [
    None,
    "404",
    "ConnectionRefused",
    None,
    None,
    None,
    "500",
    "InvalidURL",
    "TotalTimeout",
    STOPPED,
    STOPPED,
    STOPPED,
    STOPPED,
    "NotStarted",
]
FAILED = [index for index, why in enumerate(WHY) if why is not None]


def _matches(why: str, expected: str | set[str] | None) -> bool:
    return why in expected if isinstance(expected, set) else why == expected


def _no_jq_error(done: subprocess.CompletedProcess[str]) -> None:
    assert "jq: error" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def check_failures(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    done = _bash(code, tmp)
    _no_jq_error(done)
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert [(int(index), url) for index, url, _ in rows] == [(index, urls[index]) for index in FAILED]
    assert all(_matches(why, WHY[int(index)]) for index, _, why in rows), rows


def check_histogram(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    done = _bash(code, tmp)
    _no_jq_error(done)
    counts = {line.split()[1]: int(line.split()[0]) for line in done.stdout.splitlines()}
    stopped = {why: counts.pop(why) for why in STOPPED if why in counts}
    assert counts == {"200": 3, "302": 1, "404": 1, "500": 1, "ConnectionRefused": 1, "InvalidURL": 1}
    assert sum(stopped.values()) == 6 and stopped["TotalTimeout"] >= 1 and stopped["NotStarted"] >= 1


def check_slowest(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    done = _bash(code, tmp)
    _no_jq_error(done)
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    times = [float(ms) for ms, _ in rows]
    assert times == sorted(times, reverse=True)
    shown = [url for _, url in rows]
    tried = [url for url in urls if url not in (INVALID, urls[-1])]  # the late one was never started
    assert 8 <= len(rows) <= 10 and set(shown) <= set(tried)
    hangs = [url for url in shown if "/hang" in url or "/trickle" in url]  # cut at 1 s, the slowest
    assert hangs and shown[: len(hangs)] == hangs and shown[len(hangs)] == urls[5]  # then the slow one


def check_redirects(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    assert _bash(code, tmp).stdout == f"{urls[3]} -> {server.url('/ok')} (2 hops)\n"


def check_locations(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    assert _bash(code, tmp).stdout == f"302 {urls[3]} -> {server.url('/redirect/1')}\n"


def check_all_ips(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    """A name with two addresses (given by FETCHCLI_RESOLVE: the test has no DNS), the server
    listening on the first only; a name that does not resolve is one record."""
    site = server.url("/ok/ips").replace("127.0.0.1", "site.test")
    (tmp / "urls.txt").write_text(f"{site}\nhttp://nowhere.invalid/\n")
    done = _bash(code, tmp, {"FETCHCLI_RESOLVE": f"site.test:{server.port}:127.0.0.1,127.0.0.2"}, errexit=False)
    _no_jq_error(done)
    assert [line.split("\t") for line in done.stdout.splitlines()] == [
        ["0", site, "127.0.0.1", "200"],
        ["0", site, "127.0.0.2", "ConnectionRefused"],
        ["1", "http://nowhere.invalid/", "", "DNSError"],
    ], done.stderr


def check_certificates(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    expiring = issue(tmp, "expiring", days=3)
    ca = issue(tmp, "ca", days=365, is_ca=True)
    healthy = issue(tmp, "healthy", days=90, ca=ca)
    with (
        running_server(ssl_context=server_context(expiring)) as soon,
        running_server(ssl_context=server_context(healthy)) as later,
    ):
        (tmp / "sites.txt").write_text(f"{soon.url('/')}\n{later.url('/')}\nhttps://127.0.0.1:9/\n{INVALID}\n")
        done = _bash(code, tmp)
    not_after = expiring.certificate.not_valid_after_utc.isoformat().replace("+00:00", "Z")
    assert done.stdout == f"2 days: {soon.url('/')} ({not_after})\n", done.stderr


def check_spreadsheet(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    done = _bash(code, tmp)
    assert done.returncode == 1 and done.stdout == ""  # some URLs failed; the records are in the file
    with open(tmp / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["index", "url", "status", "error.type", "elapsed_ms", "title"]
    assert [row["index"] for row in rows] == [str(n) for n in range(len(urls))]
    whys = [row["error.type"] or row["status"] for row in rows]
    assert whys[:8] == ["200", "404", "ConnectionRefused", "302", "200", "200", "500", "InvalidURL"]
    assert all(_matches(why, WHY[n]) for n, why in enumerate(whys) if n >= 8), whys
    assert rows[4]["title"].startswith("Café &")
    assert rows[7]["elapsed_ms"] == rows[-1]["elapsed_ms"] == ""  # null: an empty cell


def _say(server: LoopbackServer, text: str) -> str:
    return server.url("/say?text=" + urllib.parse.quote(text))


def check_health(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    """Healthy with one failure out of three (here a line that is no URL), whether the JSON has
    spaces around its colon or not; sick with two."""
    spaced, compact, down = _say(server, '{"status": "up"}'), _say(server, '{"status":"up"}'), _say(server, "down")
    (tmp / "health-urls.txt").write_text(f"{spaced}\n{compact}\n{INVALID}\n")
    healthy = _bash(code, tmp)
    assert (healthy.returncode, healthy.stdout) == (0, "healthy\n"), healthy.stderr
    (tmp / "health-urls.txt").write_text(f"{spaced}\n{down}\n{INVALID}\n")
    sick = _bash(code, tmp)
    assert (sick.returncode, sick.stdout) == (1, "")


def check_jsonl_requests(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    """The failures come back under the lines' own ids (a bad line has none), in input order."""
    (tmp / "requests.jsonl").write_text(
        json.dumps({"url": server.url("/method?recipe"), "method": "DELETE", "meta": {"id": 7}})
        + "\n"
        + json.dumps({"url": server.url("/status/404?recipe"), "meta": {"id": "b-2"}})
        + "\n"
        + json.dumps({"url": "http://127.0.0.1:9/", "meta": {"id": 3}})
        + "\n{not json\n"
    )
    done = _bash(code, tmp, errexit=False)
    assert done.stdout.splitlines() == ["b-2\t404", "3\tConnectionRefused", "\tInvalidInput"], done.stderr


def check_json_health(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    """Healthy when every URL's JSON says up with every check ok; sick when one check is not."""
    up = _say(server, '{"status": "up", "checks": [{"ok": true}, {"ok": true}]}')
    failing = _say(server, '{"status": "up", "checks": [{"ok": true}, {"ok": false}]}')
    (tmp / "health-urls.txt").write_text(f"{up}\n{up}\n")
    healthy = _bash(code, tmp)
    assert (healthy.returncode, healthy.stdout) == (0, "healthy\n"), healthy.stderr
    (tmp / "health-urls.txt").write_text(f"{up}\n{failing}\n")
    sick = _bash(code, tmp)
    assert (sick.returncode, sick.stdout) == (1, "")


def check_tsv_tools(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    done = _bash(code, tmp)
    assert done.stdout.splitlines() == [urls[0], urls[4], urls[5]], done.stderr


def check_proxy(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    """Run as typed in a terminal, a line at a time (not stopped by ``--dry-run``'s exit status
    1 for the line that is no URL)."""
    direct = server.url("/ok/direct").replace("127.0.0.1", "localhost")
    (tmp / "urls.txt").write_text(f"http://far-away.invalid/page\n{direct}\nhttp://localhost:9/\n{INVALID}\n")
    done = _bash(code.replace("http://proxy.corp.example:3128", server.url("").rstrip("/")), tmp, errexit=False)
    _no_jq_error(done)
    lines = done.stdout.splitlines()
    base = server.url("").rstrip("/")
    assert lines[:2] == [
        f"proxy         {base} for http:// URLs (from http_proxy)",
        f"proxy         {base} for https:// URLs (from https_proxy)",
    ], done.stderr
    records = [json.loads(line) for line in lines[2:]]
    assert [r["snippet"] for r in records] == ["proxied http://far-away.invalid/page", "hello from /ok/direct", "", ""]
    assert [r["status"] for r in records] == [200, 200, None, None]


def check_stream(code: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    """A growing log: each failure comes out while the log is still open (a line that is no URL
    too); Ctrl-C ends it."""
    log = tmp / "new-urls.log"
    log.write_text(server.url("/ok/s1") + "\n")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    proc = subprocess.Popen(
        ["bash", "-c", code], cwd=tmp, stdout=subprocess.PIPE, text=True, env={**os.environ, "PATH": path},
        start_new_session=True,
    )  # fmt: skip
    try:
        with open(log, "a") as f:
            f.write(f"{INVALID}\n{server.url('/status/503')}\n")
        assert proc.stdout is not None
        first, second = json.loads(proc.stdout.readline()), json.loads(proc.stdout.readline())  # no timing involved
        assert (first["error"]["type"], first["url"]) == ("InvalidURL", INVALID)
        assert second["status"] == 503
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
    assert "--deadline 240" in command
    done = _bash(command.replace("--deadline 240", "--deadline 4"), tmp)  # the test's deadline
    mailed = [json.loads(line) for line in done.stdout.splitlines()]  # what cron would mail
    assert [r["index"] for r in mailed] == FAILED and done.stderr == ""
    summary = json.loads((tmp / "summary.json").read_text())
    assert (summary["total"], summary["ok"]) == (len(urls), 4)
    [logged] = (tmp / "summary.log").read_text().splitlines()
    # the log line says when: an ISO 8601 time in UTC; and why the run ended early, if it did
    assert re.match(
        rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ (stopped by --deadline 4 s: )?{len(urls)} URLs: 4 ok", logged
    ), logged
    assert len((tmp / "last.jsonl").read_text().splitlines()) == len(urls)


CHECKS: dict[str, Callable[[str, Path, list[str], LoopbackServer], None]] = {
    "Only what failed": check_failures,
    "Status histogram": check_histogram,
    "Slowest ten": check_slowest,
    "Where redirects end up": check_redirects,
    "Which URLs redirect, and where to": check_locations,
    "Every address of a host": check_all_ips,
    "Requests from JSON Lines, failures by your own ids": check_jsonl_requests,
    "Certificates expiring within 14 days": check_certificates,
    "CSV into a spreadsheet": check_spreadsheet,
    "A health check": check_health,
    "A JSON health check": check_json_health,
    "With awk, cut or read": check_tsv_tools,
    "Behind a corporate proxy": check_proxy,
    "A stream of URLs": check_stream,
    "Cron": check_cron,
}


@pytest.mark.usefixtures("jq")
@pytest.mark.parametrize("title", list(CHECKS))
def test_recipe(title: str, tmp_path: Path, urls: list[str], server: LoopbackServer) -> None:
    CHECKS[title](RECIPES[title], tmp_path, urls, server)


# The examples of --help.


def examples() -> dict[str, str]:
    """What each example of ``--help`` does (its line, without the colon) -> its command (the
    next line, indented more)."""
    section = EPILOG.split("\nExamples\n", 1)[1].split("\n\n", 1)[0]
    found, what = {}, None
    for line in section.splitlines():
        if line.startswith("    ") and what is not None:
            found[what] = line.strip()
            what = None
        else:
            what = line.strip().rstrip(":")
    return found


EXAMPLES = examples()


def example_pipe(command: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    done = _bash(command, tmp)
    assert [json.loads(line)["index"] for line in done.stdout.splitlines()] == list(range(len(urls)))


def example_failed(command: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    done = _bash(command, tmp)
    _no_jq_error(done)
    assert [json.loads(line)["index"] for line in done.stdout.splitlines()] == FAILED


def example_csv(command: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    done = _bash(command, tmp)
    assert done.returncode == 1 and done.stdout == ""
    with open(tmp / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["url"] for row in rows] == urls
    assert [row["error.type"] for row in rows][7] == "InvalidURL" and rows[-1]["error.type"] == "NotStarted"


def example_tsv(command: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    done = _bash(command, tmp)
    assert done.stdout.splitlines() == [f"true\t200\t{urls[n]}" for n in (0, 4, 5)], done.stderr


def example_health(command: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    """Silent when every URL is up (cron mails nothing); the failures, as JSON, when not: a body
    that merely contains "up" (``"uptime"``, "backup") is not up."""
    up = [_say(server, '{"status": "up"}'), _say(server, '{"status":"up","uptime":3}')]
    healthy = _bash(command.replace("URL...", " ".join(up)), tmp)
    assert (healthy.stdout, healthy.stderr) == ("", "")
    down = _say(server, '{"status": "down", "uptime": 0, "backup": "up-to-date"}')
    sick = _bash(command.replace("URL...", " ".join([*up, down, INVALID])), tmp)
    assert [(r["index"], r["error"]["type"]) for r in map(json.loads, sick.stdout.splitlines())] == [
        (2, "ExpectFailed"),
        (3, "InvalidURL"),
    ]


def example_certificates(command: str, tmp: Path, urls: list[str], server: LoopbackServer) -> None:
    expiring = issue(tmp, "expiring", days=3)
    with running_server(ssl_context=server_context(expiring)) as soon:
        (tmp / "sites.txt").write_text(f"{soon.url('/')}\nhttps://127.0.0.1:9/\n{INVALID}\n")
        done = _bash(command, tmp)
    assert done.returncode == 1
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["error"]["type"] for r in records] == ["CertificateExpiring", "ConnectionRefused", "InvalidURL"]
    assert records[0]["tls"]["days_left"] == 2


EXAMPLE_CHECKS: dict[str, Callable[[str, Path, list[str], LoopbackServer], None]] = {
    "A table on a terminal, JSON Lines in a pipe": example_pipe,
    "Only what failed": example_failed,
    "CSV, chosen by the extension": example_csv,
    "TSV for awk, cut and read (a record per line, LF line ends, no header row): what answered 200": example_tsv,
    "A health check for cron, which mails what a job prints: nothing unless a URL failed": example_health,
    "Certificates expiring within 14 days (exit status 1 when there is one)": example_certificates,
}


def test_every_example_has_a_check() -> None:
    section = EPILOG.split("\nExamples\n", 1)[1].split("\n\n", 1)[0]
    assert len(section.splitlines()) == 2 * len(EXAMPLES), "each example: what it does, then its command"
    assert set(EXAMPLES) == set(EXAMPLE_CHECKS), "an example without a check here, or a check without an example"


@pytest.mark.usefixtures("jq")
@pytest.mark.parametrize("what", list(EXAMPLE_CHECKS))
def test_help_example(what: str, tmp_path: Path, urls: list[str], server: LoopbackServer) -> None:
    assert what in EXAMPLES, "no such example in --help"
    EXAMPLE_CHECKS[what](EXAMPLES[what], tmp_path, urls, server)
