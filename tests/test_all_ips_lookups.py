"""``--all-ips``: each URL's name lookup delays only that URL's probes. A lookup held back (a
patched ``socket.getaddrinfo``, which the event loop's resolver threads call) until a later
URL's probe has reached its server: where each request arrived, and in which order, is
counted at the servers (``ARRIVALS``); the records still come in input order."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from fetchcli.engine.run import fetch
from fetchcli.models import FetchResult, UrlItem
from fetchcli.settings import Backend, RequestSettings, Settings, TimeoutSettings
from fetchcli.transport.addressmap import parse_resolve
from fetchcli.urls import iter_items
from tests.test_all_ips import ARRIVALS, servers_on


@pytest.fixture
def slow_lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """``slow.test`` resolves to 127.0.0.2 only once a request has reached a server (or after
    5 s, well within the tests' connect timeout, so that a failing test ends); each lookup of
    it is listed (one: --all-ips's; a pinned request looks nothing up)."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "slow.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        for _ in range(500):
            if ARRIVALS:
                break
            threading.Event().wait(0.01)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    ARRIVALS.clear()
    yield lookups
    ARRIVALS.clear()


async def _collect(urls: list[str], settings: Settings, piped: bool) -> list[FetchResult]:
    """The records of ``urls`` given as a list, or (``piped``) as an async source, as a pipe is."""

    async def pipe() -> AsyncIterator[UrlItem]:
        for item in iter_items(urls):
            yield item

    return [result async for result in fetch(pipe() if piped else urls, settings)]


@pytest.mark.live
@pytest.mark.parametrize("window", [None, 1])
@pytest.mark.parametrize("piped", [False, True], ids=["list", "pipe"])
def test_a_slow_lookup_delays_only_its_own_urls_probes(
    backend: Backend, slow_lookups: list[str], window: int | None, piped: bool
) -> None:
    """The first URL's lookup ends only after the second URL's probes reached their servers:
    they were not held back by it (before: they waited for it, in input order). Records in
    input order still. An order window of 1 is full with the second URL's first probe: then
    the first URL's probe, whose result leaves first, is read past it (else nothing could
    leave), and the second URL's next probe waits for its turn."""
    with servers_on("127.0.0.2", "127.0.0.3", "127.0.0.4") as (two, three, four):
        port = two.port
        resolve = (parse_resolve("--resolve", f"site.test:{port}:127.0.0.3,127.0.0.4"),)
        settings = Settings(
            request=RequestSettings(resolve=resolve, all_ips=True),
            timeouts=TimeoutSettings(connect=60),
            backend=backend,
            concurrency=4,
            order_window=window,
        )
        urls = [f"http://slow.test:{port}/first", f"http://site.test:{port}/second"]
        records = asyncio.run(_collect(urls, settings, piped))
        if window is None:  # both probes of the second URL went while the first was looked up
            assert sorted(ARRIVALS[:2]) == [("127.0.0.3", "/second"), ("127.0.0.4", "/second")]
            assert ARRIVALS[2:] == [("127.0.0.2", "/first")]
        else:  # one item read and not written at a time, but the first URL's, whose turn it is
            assert ARRIVALS == [("127.0.0.3", "/second"), ("127.0.0.2", "/first"), ("127.0.0.4", "/second")]
        assert [(r.index, r.remote_ip, r.status) for r in records] == [
            (0, "127.0.0.2", 200),
            (1, "127.0.0.3", 200),
            (1, "127.0.0.4", 200),
        ]
        assert (two.hits, three.hits, four.hits) == (1, 1, 1) and slow_lookups == ["slow.test"]
