"""The engine against a real HTTP server on 127.0.0.1: pool limits, reuse, streaming, order, timeouts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from fetchcli.engine.run import fetch
from fetchcli.models import UrlItem
from fetchcli.settings import Backend, BodySettings, Order, PoolSettings, RequestSettings, Settings, TimeoutSettings
from fetchcli.transport.client import build_client
from fetchcli.urls import iter_items
from tests.helpers import collect, run
from tests.server import LoopbackServer


def test_pool_limit_holds(fresh_server: LoopbackServer, backend: Backend) -> None:
    urls = [fresh_server.url(f"/slow/50?n={n}") for n in range(30)]
    results = run(urls, Settings(pool=PoolSettings(max_connections=3), concurrency=10), backend=backend)
    assert all(r.ok for r in results)
    assert fresh_server.stats.max_open <= 3
    assert fresh_server.stats.accepted <= 3


def test_connections_are_reused(fresh_server: LoopbackServer, backend: Backend) -> None:
    urls = [fresh_server.url(f"/ok/{n}") for n in range(100)]
    results = run(urls, Settings(pool=PoolSettings(max_connections=5)), backend=backend)
    assert [r.index for r in results] == list(range(100))
    assert all(r.ok for r in results)
    assert fresh_server.stats.requests == 100
    assert fresh_server.stats.accepted <= 5


def test_max_keepalive_bounds_idle_connections(fresh_server: LoopbackServer, backend: Backend) -> None:
    # Two waves on one client: after the first, at most one idle connection is kept, so the
    # second wave of four (slow enough to be in flight together) opens at least three new ones.
    settings = Settings(pool=PoolSettings(max_connections=4, max_keepalive=1), backend=backend)
    urls = [fresh_server.url(f"/slow/300?n={n}") for n in range(8)]

    async def two_waves() -> int:
        async with build_client(settings) as client:
            await collect(urls[:4], settings, client)
            after_first = fresh_server.stats.accepted
            await collect(urls[4:], settings, client)
        return after_first

    after_first = asyncio.run(two_waves())
    assert fresh_server.stats.max_open <= 4
    assert fresh_server.stats.accepted - after_first >= 3


def test_large_body_is_not_read_whole(fresh_server: LoopbackServer, backend: Backend) -> None:
    [result] = run([fresh_server.url("/endless")], Settings(body=BodySettings(max_body_bytes=65536)), backend=backend)
    assert result.ok and result.truncated
    assert result.bytes_read == 65536
    assert result.content_length == 2_000_000_000
    time.sleep(0.2)
    assert fresh_server.stats.body_bytes_sent < 16 * 1024 * 1024  # kernel buffers, not 2 GB


def test_gzip_bomb_costs_no_more_than_the_cap(server: LoopbackServer, backend: Backend) -> None:
    [result] = run([server.url("/gzipbomb")], Settings(body=BodySettings(max_body_bytes=1000)), backend=backend)
    assert result.ok and result.bytes_read == 1000 and result.truncated
    assert result.snippet == ""  # NUL bytes: a binary body


def test_input_order_holds_when_the_first_url_is_slow(server: LoopbackServer, backend: Backend) -> None:
    urls = [server.url("/slow/400")] + [server.url(f"/ok/{n}") for n in range(20)]
    results = run(urls, Settings(concurrency=5), backend=backend)
    assert [r.index for r in results] == list(range(21))
    completion = run(urls, Settings(concurrency=5, order=Order.completion), backend=backend)
    assert completion[-1].index == 0
    assert sorted(r.index for r in completion) == list(range(21))


def test_reorder_window_stops_admission(server: LoopbackServer, backend: Backend) -> None:
    pulled = 0

    def source() -> Iterator[UrlItem]:
        nonlocal pulled
        for item in iter_items([server.url("/slow/300")] + [server.url(f"/ok/{n}") for n in range(200)]):
            pulled += 1
            yield item

    async def first_result_after() -> int:
        async for result in fetch(source(), Settings(concurrency=20, order_window=10, backend=backend)):
            assert result.index == 0
            return pulled
        raise AssertionError("no result")

    # While URL 0 is slow, no more than the window may be admitted.
    assert asyncio.run(first_result_after()) <= 11


def test_read_timeout_fires(server: LoopbackServer, backend: Backend) -> None:
    # /hang never answers: a ReadTimeout record (not a hang, which pytest-timeout would end) is the proof.
    [result] = run([server.url("/hang")], Settings(timeouts=TimeoutSettings(read=0.3)), backend=backend)
    assert result.error is not None and result.error.type == "ReadTimeout"


def test_max_time_stops_a_trickling_server(server: LoopbackServer, backend: Backend) -> None:
    started = time.monotonic()
    [result] = run(
        [server.url("/trickle")], Settings(timeouts=TimeoutSettings(timeout=5, max_time=1.2)), backend=backend
    )
    assert result.error is not None and result.error.type == "TotalTimeout"
    assert "--max-time" in result.error.message
    assert time.monotonic() - started > 1.0  # a lower bound: a busy machine only adds to it


def test_connect_error(server: LoopbackServer, backend: Backend) -> None:
    [result] = run(["http://127.0.0.1:9/"], backend=backend)
    assert result.error is not None and result.error.type == "ConnectionRefused"


def test_hostile_strings_are_sanitised(server: LoopbackServer, backend: Backend) -> None:
    [result] = run([server.url("/escape")], backend=backend)
    for text in (result.snippet, result.reason or "", result.content_type or ""):
        assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert "[bold]markup[/bold]" in result.snippet


def test_binary_and_charsets(server: LoopbackServer, backend: Backend) -> None:
    binary, latin, unknown = run(
        [server.url("/binary"), server.url("/charset/iso-8859-1"), server.url("/charset/x-bogus")], backend=backend
    )
    assert binary.snippet == "" and binary.bytes_read > 0 and binary.binary
    assert latin.snippet == "café" and not latin.binary
    assert unknown.snippet == "caf\ufffd"


def test_binary_is_judged_from_the_response(server: LoopbackServer, backend: Backend) -> None:
    utf16, blank = run([server.url("/utf16"), server.url("/blank")], backend=backend)
    assert (utf16.snippet, utf16.binary) == ("café", False)  # NUL bytes, but declared UTF-16 text
    assert (blank.snippet, blank.binary, blank.bytes_read) == ("", False, 8)
    (short,) = run([server.url("/ok")], Settings(body=BodySettings(snippet_length=0)), backend=backend)
    assert (short.snippet, short.binary) == ("", False)


def test_redirects_live(server: LoopbackServer, backend: Backend) -> None:
    follow = Settings(request=RequestSettings(follow_redirects=True, max_redirects=5))
    chain, loop, to_file = run(
        [server.url("/redirect/3"), server.url("/loop"), server.url("/location?to=file:///etc/passwd")],
        follow,
        backend=backend,
    )
    assert chain.ok and chain.final_url == server.url("/ok")
    assert [(hop.url, hop.status) for hop in chain.redirects] == [
        (server.url("/redirect/3"), 302),
        (server.url("/redirect/2"), 302),
        (server.url("/redirect/1"), 302),
    ]
    assert chain.to_dict()["redirects"][0] == {"url": server.url("/redirect/3"), "status": 302}
    assert loop.error is not None and loop.error.type == "TooManyRedirects"
    assert len(loop.redirects) == 6  # every redirect received: the sixth is one more than --max-redirects 5
    assert to_file.error is not None and to_file.error.type == "UnsupportedRedirect"
    assert [hop.url for hop in to_file.redirects] == [server.url("/location?to=file:///etc/passwd")]


def test_redirects_are_listed_only_with_L(server: LoopbackServer) -> None:
    [result] = run([server.url("/redirect/2")])
    assert result.status == 302 and result.redirects == () and result.to_dict()["redirects"] == []


@pytest.mark.parametrize("order", [Order.input, Order.completion])
def test_every_url_appears_exactly_once(server: LoopbackServer, backend: Backend, order: Order) -> None:
    urls = [server.url(f"/slow/{n % 7 * 10}?n={n}") if n % 5 else "ftp://nope" for n in range(60)]
    results = run(urls, Settings(concurrency=8, order=order), backend=backend)
    assert sorted(r.index for r in results) == list(range(60))


def test_title_server_and_peer_address(server: LoopbackServer, backend: Backend) -> None:
    page, text = run([server.url("/html"), server.url("/ok")], backend=backend)
    assert page.title == "Café & [31mbar"  # entities decoded, whitespace collapsed, ESC removed
    assert text.title is None
    assert page.server == "test/1"
    assert (page.remote_ip, page.remote_port) == ("127.0.0.1", server.port)
