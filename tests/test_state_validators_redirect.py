"""A state file's validators belong to the URL that answered with them, and go nowhere else
(review r6a): under -L, the final response's ETag was stored for the first URL and sent to it
on the next run, and every redirect carried a request's If-None-Match on to the next host."""

from __future__ import annotations

import sqlite3
import urllib.parse
from pathlib import Path

import pytest

from fetchcli.engine.redirect import next_request
from fetchcli.transport.contract import Timeouts, WireRequest
from fetchcli.transport.wireurl import parse
from tests.server import running_server
from tests.test_state import Page, Site, _run, serving


def test_a_redirect_carries_no_conditional_header() -> None:
    headers: tuple[tuple[str, str], ...] = (("Host", "a.test"), ("If-None-Match", '"x"'), ("If-Match", '"y"'))
    headers += (("if-modified-since", "Tue, 01 Dec 2026 00:00:00 GMT"), ("X-Kept", "1"))
    request = WireRequest("GET", parse("http://a.test/p"), headers, Timeouts())
    for target in ("http://a.test/q", "http://b.test/q"):
        after = next_request(request, 302, parse(target), ())
        assert [name for name, _ in after.headers if name.lower().startswith("if-")] == [], target
        assert ("X-Kept", "1") in after.headers


@pytest.mark.live
def test_validators_of_a_redirected_answer_are_not_stored_nor_sent(tmp_path: Path) -> None:
    site = Site(pages={"/p": Page(etag='"b1"', last_modified="Tue, 01 Dec 2026 00:00:00 GMT")})
    state = tmp_path / "state.db"
    with serving(site) as other, running_server() as first:
        url = first.url("/location?to=" + urllib.parse.quote(other + "/p", safe=""))
        for _ in range(2):
            code, records, _ = _run("-L", "--state", str(state), "--conditional", url)
            assert code == 0 and records[0]["status"] == 200 and records[0]["not_modified"] is False
        assert site.conditional == 0  # the other host never saw an If-None-Match / If-Modified-Since
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT etag, last_modified FROM urls").fetchall() == [(None, None)]
