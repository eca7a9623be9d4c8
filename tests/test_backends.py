"""Both transports keep the pool contract: --max-connections bounds open connections even
across many hosts, and --max-keepalive bounds idle ones. Counted by a real server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import uvloop

from fetchcli.settings import Backend, PoolSettings, RequestSettings, Settings, SettingsError
from fetchcli.transport.backendchoice import uses_aiohttp
from fetchcli.transport.client import build_client
from tests.helpers import collect, run
from tests.server import LoopbackServer, running_server

HOSTS = tuple(f"127.0.0.{n}" for n in range(2, 14))


@pytest.fixture
def multi_host_server() -> Iterator[LoopbackServer]:
    with running_server(extra_hosts=HOSTS) as server:
        yield server


def test_max_connections_bounds_open_connections_across_hosts(
    multi_host_server: LoopbackServer, backend: Backend
) -> None:
    urls = [multi_host_server.url(f"/slow/10?n={n}", host=HOSTS[n % len(HOSTS)]) for n in range(72)]
    results = run(urls, Settings(pool=PoolSettings(max_connections=4)), backend=backend)
    assert all(r.ok for r in results)
    assert multi_host_server.stats.max_open <= 4


def test_reuse_per_host_when_the_pool_is_large_enough(multi_host_server: LoopbackServer, backend: Backend) -> None:
    urls = [multi_host_server.url(f"/ok/{n}", host=HOSTS[n % len(HOSTS)]) for n in range(120)]
    results = run(urls, Settings(pool=PoolSettings(max_connections=40), concurrency=4), backend=backend)
    assert all(r.ok for r in results)
    assert multi_host_server.stats.accepted <= 2 * len(HOSTS)


def test_backend_choice_is_validated() -> None:
    socks = RequestSettings(proxy="socks5://127.0.0.1:9")
    with pytest.raises(SettingsError, match="--backend aiohttp does not support a proxy other than http://"):
        build_client(Settings(request=socks, backend=Backend.aiohttp))


def test_socks_without_its_extra_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "socksio" else real(name, *a))
    with pytest.raises(
        SettingsError, match=r"--proxy socks5:// needs the socksio package: .* pip install '\.\[socks\]'"
    ):
        RequestSettings(proxy="socks5://127.0.0.1:9")
        Settings(request=RequestSettings(proxy="socks5://127.0.0.1:9"))


def test_auto_picks_aiohttp_unless_it_cannot_serve_the_settings() -> None:
    assert uses_aiohttp(Settings())
    assert not uses_aiohttp(Settings(backend=Backend.httpx))
    assert not uses_aiohttp(Settings(request=RequestSettings(proxy="socks5://127.0.0.1:9")))  # SOCKS: httpx
    assert uses_aiohttp(Settings(request=RequestSettings(proxy="http://127.0.0.1:9")))


MANY_HOSTS = tuple(f"127.0.1.{n}" for n in range(1, 41))  # 40 hosts, a pool of 10


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.live
def test_more_hosts_than_connections_still_reuse_connections(backend: Backend, loop: str) -> None:
    """A list cycling through more hosts than --max-connections: URLs whose host's connection
    is idle start first (admission.py), and a full pool closes the idle connection least
    needed, so connections are reused instead of one opened per URL; records stay in input
    order."""
    with running_server(extra_hosts=MANY_HOSTS) as server:
        urls = [server.url(f"/ok/{n}", host=MANY_HOSTS[n % len(MANY_HOSTS)]) for n in range(800)]
        settings = Settings(pool=PoolSettings(max_connections=10), backend=backend)
        runner = asyncio.run if loop == "asyncio" else uvloop.run
        results = runner(collect(urls, settings))
        assert [r.url for r in results] == urls
        assert all(r.ok for r in results)
        assert server.stats.max_open <= 10
        assert server.stats.accepted <= 200, server.stats.accepted  # was 800: one per URL
