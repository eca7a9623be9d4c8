"""issue 22: ``location`` without ``-L``. A 3xx record says where it points, resolved against the
URL that answered (as -L would), masked and cleaned, the same on both backends; the table shows
``→ target``; with -L a chain that ends elsewhere has none."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from fetchcli.settings import Backend, RequestSettings, Settings
from tests.helpers import fetchcli_in_clean_env, run
from tests.server import LoopbackServer


def _to(server: LoopbackServer, target: str) -> str:
    return server.url("/location?to=" + urllib.parse.quote(target, safe=""))


@pytest.mark.live
def test_a_3xx_says_where_it_points(server: LoopbackServer, backend: Backend) -> None:
    urls = [
        server.url("/redirect/1"),  # Location: /ok (relative)
        _to(server, "https://example.test/a b?x=1#top"),  # absolute, a space quoted as -L sends it
        _to(server, "//other.test/p"),  # scheme-relative: the scheme of the URL that answered
        _to(server, "../up?q"),  # dot segments against /location
        _to(server, "http://user:hunter2@example.test/"),  # credentials: masked
        _to(server, "http://[::1"),  # not a URL: as it came
        server.url("/ok"),  # not a 3xx
        server.url("/status/300"),  # a 3xx without Location
    ]
    results = run(urls, Settings(), backend=backend)
    assert [r.status for r in results] == [302, 302, 302, 302, 302, 302, 200, 300]
    assert [r.location for r in results] == [
        server.url("/ok"),
        "https://example.test/a%20b?x=1#top",
        "http://other.test/p",
        server.url("/up?q"),
        "http://user:***@example.test/",
        "http://[::1",
        None,
        None,
    ]
    assert all("hunter2" not in (r.location or "") + r.snippet for r in results)
    assert results[0].final_url == server.url("/redirect/1") and not results[0].redirects  # not followed


@pytest.mark.live
def test_with_follow_the_end_of_a_chain_has_no_location(server: LoopbackServer, backend: Backend) -> None:
    settings = Settings(request=RequestSettings(follow_redirects=True))
    [followed, stopped] = run([server.url("/redirect/2"), server.url("/status/300")], settings, backend=backend)
    assert followed.status == 200 and followed.location is None and len(followed.redirects) == 2
    assert stopped.status == 300 and stopped.location is None


@pytest.mark.live
def test_a_hostile_location_is_cleaned(server: LoopbackServer) -> None:
    [result] = run([server.url("/evil-location")], Settings())
    assert result.location is not None and "/ok/" in result.location  # not a URL (control characters): as it came
    assert "\x1b" not in result.location and "\u202e" not in result.location and "\x07" not in result.location


@pytest.mark.live
def test_the_table_shows_the_target_and_jsonl_the_field(server: LoopbackServer) -> None:
    table = fetchcli_in_clean_env("-f", "table", server.url("/redirect/1"), env={"COLUMNS": "160"})
    assert f"→ {server.url('/ok')}" in table.stdout
    jsonl = fetchcli_in_clean_env("-f", "jsonl", server.url("/redirect/1"), server.url("/ok"))
    assert [json.loads(line)["location"] for line in jsonl.stdout.splitlines()] == [server.url("/ok"), None]
    csv = fetchcli_in_clean_env("-f", "csv", server.url("/redirect/1"))
    header, row = csv.stdout.splitlines()[:2]
    names = header.rstrip("\r").split(",")
    at = names.index("location")
    assert names[at - 1 : at + 4] == ["queued_ms", "location", "method", "saved_path", "meta"]
    assert row.rstrip("\r").split(",")[at : at + 2] == [server.url("/ok"), "GET"]
