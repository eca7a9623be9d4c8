"""Issue 22: ``-X HEAD --head-fallback``. A HEAD answered 405 or 501 is asked again with GET
(reading no body); a HEAD answered 403 or 404 too, and then the GET's answer counts only when it
is a 2xx (servers that hide HEAD: lychee #27, #1327). The record's ``method`` says which request
answered; the server's count proves what was sent. Both backends."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fetchcli.settings import Backend, RequestSettings, Settings
from tests.helpers import run
from tests.server import running_server


@pytest.mark.live
def test_head_falls_back_to_get_where_the_server_refuses_head(backend: Backend) -> None:
    settings = Settings(request=RequestSettings(method="HEAD", head_fallback=True))
    with running_server() as server:
        paths = ["/head/405/200", "/head/501/200", "/head/404/200", "/head/404/404", "/head/200/500", "/head/500/200"]
        results = run([server.url(p) for p in paths], settings, backend=backend)
        seen = sorted(server.stats.paths)
    assert [(r.status, r.method, r.attempts) for r in results] == [
        (200, "GET", 2),  # 405: GET
        (200, "GET", 2),  # 501: GET
        (200, "GET", 2),  # 404 on HEAD, 2xx on GET: GET's
        (404, "HEAD", 2),  # 404 on both: HEAD's answer stays (GET asked, counted)
        (200, "HEAD", 1),  # HEAD answered: no GET
        (500, "HEAD", 1),  # not a status that says HEAD is refused: no GET
    ]
    assert [r.bytes_read for r in results[:3]] == [0, 0, 0]  # the GET's body is not read
    assert seen == sorted(["/head/405/200"] * 2 + ["/head/501/200"] * 2 + ["/head/404/200"] * 2 + ["/head/404/404"] * 2
                          + ["/head/200/500", "/head/500/200"])  # fmt: skip


@pytest.mark.live
def test_without_the_flag_head_is_asked_once(backend: Backend) -> None:
    with running_server() as server:
        [result] = run([server.url("/head/405/200")], Settings(request=RequestSettings(method="HEAD")), backend=backend)
        assert (result.status, result.method, result.attempts) == (405, "HEAD", 1) and server.stats.requests == 1
        [get] = run([server.url("/ok")], Settings(), backend=backend)
        assert get.method == "GET"


def test_the_flag_goes_with_head() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fetchcli", "--head-fallback", "http://127.0.0.1:9/"], capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.strip() == "fetchcli: error: --head-fallback goes with -X HEAD"
