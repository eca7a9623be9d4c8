"""The default wire sends a plain request the short way (``transport/aiodirect.py``): from a
``ClientRequest`` through the connector, not through ``ClientSession._request``. Counted, not
timed: every request of a plain run goes that way, a request with a body or through a proxy goes
through the session, and the aiohttp API the short way relies on is there (this test fails when an
aiohttp release renames it; CI's lowest-deps pass runs it on pyproject's floor)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from fetchcli import FetchResult, fetch
from fetchcli.settings import Backend, RequestSettings, Settings
from fetchcli.transport import aio
from fetchcli.transport.aiodirect import direct_api_missing, send_direct
from tests.server import LoopbackServer


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    counts = {"direct": 0, "session": 0}
    direct, session = send_direct, aiohttp.ClientSession._request

    async def counting_direct(*args: Any, **kwargs: Any) -> Any:
        counts["direct"] += 1
        return await direct(*args, **kwargs)

    async def counting_session(self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> Any:
        counts["session"] += 1
        return await session(self, *args, **kwargs)

    monkeypatch.setattr(aio, "send_direct", counting_direct)
    monkeypatch.setattr(aiohttp.ClientSession, "_request", counting_session)
    yield counts


def _run(urls: list[str], settings: Settings) -> list[FetchResult]:
    async def go() -> list[FetchResult]:
        return [result async for result in fetch(urls, settings)]

    return asyncio.run(go())


def test_the_installed_aiohttp_has_what_the_short_way_uses() -> None:
    assert direct_api_missing() is None


def test_every_plain_request_goes_the_short_way(fresh_server: LoopbackServer, counted: dict[str, int]) -> None:
    urls = [fresh_server.url(f"/ok/{n}") for n in range(40)] + [fresh_server.url("/redirect/2")]
    results = _run(
        urls, Settings(backend=Backend.aiohttp, concurrency=8, request=RequestSettings(follow_redirects=True))
    )
    assert all(r.ok for r in results)
    assert fresh_server.stats.requests == 43  # 40, and the redirect's three hops
    assert counted == {"direct": 43, "session": 0}


def test_a_request_with_a_body_goes_through_the_session(fresh_server: LoopbackServer, counted: dict[str, int]) -> None:
    urls = [fresh_server.url(f"/ok/{n}") for n in range(5)]
    settings = Settings(backend=Backend.aiohttp, request=RequestSettings(method="POST", body=b"x=1"))
    results = _run(urls, settings)
    assert all(r.status == 200 for r in results)
    assert counted == {"direct": 0, "session": 5}
    assert [body for _, _, _, body in fresh_server.stats.bodies] == [b"x=1"] * 5
