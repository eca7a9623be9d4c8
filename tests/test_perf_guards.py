"""Regression guards for the hot path that count work instead of timing it.

httpcore's single pool re-checks every connection for every queued request, so its work per
request grows with the pool (encode/httpx#3215). fetchcli's sharded pool must not: these tests
count connection checks and routing steps per request at two pool sizes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest

from fetchcli import FetchResult, fetch
from fetchcli.settings import Backend, PoolSettings, RequestSettings, Settings
from fetchcli.transport.client import build_client, sharded_transport
from tests.helpers import collect
from tests.server import LoopbackServer


@pytest.fixture
def idle_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    counter = [0]
    original = httpcore.AsyncHTTPConnection.is_idle

    def counting(self: httpcore.AsyncHTTPConnection) -> bool:
        counter[0] += 1
        return original(self)

    monkeypatch.setattr(httpcore.AsyncHTTPConnection, "is_idle", counting)
    yield counter


def _checks_per_request(
    server: LoopbackServer, counter: list[int], pool: int, transport: httpx.AsyncBaseTransport | None
) -> float:
    settings = Settings(pool=PoolSettings(max_connections=pool))
    requests = 4 * pool
    urls = [server.url(f"/slow/5?n={n}") for n in range(requests)]
    counter[0] = 0

    async def go() -> None:
        client = build_client(settings, transport=transport or sharded_transport(settings))
        async with client:
            results = await collect(urls, settings, client)
        assert all(r.ok for r in results)

    asyncio.run(go())
    return counter[0] / requests


def test_connection_checks_per_request_do_not_grow_with_the_pool(
    server: LoopbackServer, idle_checks: list[int]
) -> None:
    small = _checks_per_request(server, idle_checks, 10, None)
    large = _checks_per_request(server, idle_checks, 100, None)
    assert large <= 8
    assert large <= small * 1.5 + 1


@pytest.mark.slow
def test_the_guard_would_catch_a_single_big_pool(server: LoopbackServer, idle_checks: list[int]) -> None:
    """The same measure on httpx's own transport grows with the pool: the guard can fail."""
    small = _checks_per_request(
        server, idle_checks, 10, httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=10))
    )
    large = _checks_per_request(
        server, idle_checks, 100, httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=100))
    )
    assert large > 8 and large > small * 1.5 + 1


def test_routing_steps_per_request_are_constant(server: LoopbackServer) -> None:
    for pool in (10, 100):
        settings = Settings(pool=PoolSettings(max_connections=pool))
        transport = sharded_transport(settings)
        urls = [server.url(f"/ok/{n}") for n in range(5 * pool)]

        async def go(
            settings: Settings = settings, transport: httpx.AsyncBaseTransport = transport, urls: list[str] = urls
        ) -> None:
            async with build_client(settings, transport=transport) as client:
                await collect(urls, settings, client)

        asyncio.run(go())
        assert transport.routing_steps / len(urls) <= 3


def test_small_workload_opens_at_most_max_connections(fresh_server: LoopbackServer) -> None:
    settings = Settings(pool=PoolSettings(max_connections=50))
    urls = [fresh_server.url(f"/ok/{n}") for n in range(1000)]
    results = asyncio.run(collect(urls, settings))
    assert all(r.ok for r in results)
    assert fresh_server.stats.accepted <= 50


def test_reorder_buffer_stays_bounded(server: LoopbackServer) -> None:
    """Memory per run does not grow with the input: the URLs read and not yet handed out (running,
    done and waiting for their turn in input order, or read ahead) stay within the window, while
    a slow first URL holds the rest back. Counted through public seams only: the URLs the input
    gave, the records made (``on_finished``) and the records yielded."""
    counts = {"read": 0, "finished": 0, "yielded": 0}
    held: list[int] = []  # read and not yet yielded, at each URL read
    waiting: list[int] = []  # finished and not yet yielded, at each record made

    def urls() -> Iterator[str]:
        yield server.url("/slow/200")
        for n in range(500):
            counts["read"] += 1
            held.append(counts["read"] + 1 - counts["yielded"])  # + the slow first URL
            yield server.url(f"/ok/{n}")

    def finished(_: FetchResult) -> None:
        counts["finished"] += 1
        waiting.append(counts["finished"] - counts["yielded"])

    async def main() -> list[FetchResult]:
        results = []
        async for result in fetch(urls(), Settings(concurrency=10, order_window=40), on_finished=finished):
            counts["yielded"] += 1
            results.append(result)
        return results

    results = asyncio.run(main())
    assert [r.index for r in results] == list(range(501)) and all(r.ok for r in results)
    assert max(held) <= 40  # never more read than the window
    assert max(waiting) >= 20  # the slow URL did hold records back: the bound was tested


def test_aiohttp_connector_does_no_per_request_scans(fresh_server: LoopbackServer) -> None:
    """The bounded connector walks its idle connections only to open a new connection (or
    when --max-keepalive is below --max-connections), never for every request."""
    from fetchcli.transport.client import aiohttp_transport

    settings = Settings(backend=Backend.aiohttp, pool=PoolSettings(max_connections=20))
    transport = aiohttp_transport(settings)
    urls = [fresh_server.url(f"/ok/{n}") for n in range(600)]

    async def go() -> list[FetchResult]:
        async with build_client(settings, transport=transport) as client:
            return await collect(urls, settings, client)

    assert all(r.ok for r in asyncio.run(go()))
    assert 0 < transport.idle_walks <= fresh_server.stats.accepted <= 20


def test_plain_requests_skip_client_send_and_give_the_same_records(
    server: LoopbackServer, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """request.send goes straight to the transport of fetchcli's own client unless httpx's send
    has work to do (-L, URL credentials); the records are the same either way."""
    from fetchcli.transport.httpxwire import OWN_TRANSPORT

    sends = [0]
    original = httpx.AsyncClient.send

    async def counting(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> httpx.Response:
        sends[0] += 1
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "send", counting)
    paths = ["/ok", "/status/404", "/redirect/1", "/bad-gzip", "/short", "/utf16", "/html"]
    urls = [server.url(p) for p in paths] + ["http://127.0.0.1:9/"]
    settings = Settings(backend=backend)

    async def records(plain: bool) -> list[dict[str, Any]]:
        async with build_client(settings) as client:
            if not plain:
                del OWN_TRANSPORT[client]  # as for a client the caller made
            results = await collect(urls, settings, client)
        unstable = ("elapsed_ms", "queued_ms", "fetched_at", "timing", "remote_port")
        return [{k: v for k, v in r.to_dict().items() if k not in unstable} for r in results]

    plain = asyncio.run(records(plain=True))
    assert sends[0] == 0
    assert plain == asyncio.run(records(plain=False))
    assert sends[0] == len(urls)
    sends[0] = 0
    asyncio.run(collect([server.url("/redirect/1")], Settings(request=RequestSettings(follow_redirects=True))))
    asyncio.run(collect([server.url("/ok").replace("http://", "http://u:p@")], Settings()))
    assert sends[0] == 0  # redirects and URL credentials are the engine's (engine/redirect.py) now


@pytest.mark.live
def test_http2_routing_per_request_does_not_grow_with_the_streams(tmp_path: Path) -> None:
    """--http2: requests of one origin share its connection as streams; the pool's routing work
    per request stays the same at 10 and at 50 streams in flight."""
    from tests.helpers import self_signed_context
    from tests.server import H2Server

    h2_server = H2Server(self_signed_context(tmp_path)).start()
    try:
        for streams in (10, 50):
            settings = Settings(request=RequestSettings(http2=True, insecure=True), concurrency=streams)
            transport = sharded_transport(settings)
            urls = [f"https://127.0.0.1:{h2_server.port}/steps/{streams}/{n}" for n in range(8 * streams)]

            async def go(settings: Settings = settings, transport: httpx.AsyncBaseTransport = transport,
                         urls: list[str] = urls) -> None:  # fmt: skip
                async with build_client(settings, transport=transport) as client:
                    results = await collect(urls, settings, client)
                assert all(r.ok and r.http_version == "HTTP/2" for r in results)

            asyncio.run(go())
            assert transport.routing_steps / len(urls) <= 0.1, (streams, transport.routing_steps)
    finally:
        h2_server.stop()
    assert h2_server.connections == 2  # one per run
