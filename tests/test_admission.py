"""Host-affine admission (admission.py) and the pools' choice of the idle connection to close.

The server-counted effect (connections reused when a list has more hosts than connections) is
in test_backends.py; these pin the rules themselves."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx
import pytest

from fetchcli.engine.admission import Lookahead, host_of
from fetchcli.models import UrlItem
from fetchcli.settings import Backend, PoolSettings, Settings
from fetchcli.transport.client import build_client
from fetchcli.transport.hints import DEMAND
from fetchcli.transport.pool import ShardedPoolTransport


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://Example.COM/a", "example.com"),
        ("https://user:pw@example.com:8443/a?b#c", "example.com"),
        ("http://[::1]:8080/x", "::1"),
        ("http://127.0.0.1", "127.0.0.1"),
        ("http://example.com?q=a/b", "example.com"),
        ("http://bücher.example/", "xn--bcher-kva.example"),
    ],
)
def test_host_of_is_the_host_pools_key_connections_by(url: str, host: str) -> None:
    assert host_of(url) == host
    assert host_of(url) == httpx.URL(url).raw_host.decode()


def _items(hosts: str) -> list[UrlItem]:
    return [UrlItem(index=n, raw="", url=f"http://{h}.test/{n}") for n, h in enumerate(hosts)]


def _fill(look: Lookahead, hosts: str) -> None:
    for n, item in enumerate(_items(hosts)):
        look.add(n, item)


def test_with_fewer_hosts_than_connections_urls_start_in_input_order() -> None:
    look = Lookahead(connections=4)
    _fill(look, "abcabc")
    seq, _, host, _ = look.take()
    assert (seq, host) == (0, "a.test")
    look.released("a.test")  # 3 hosts, 4 connections: every host can keep one
    look.finished("a.test")
    assert [look.take()[0] for _ in range(5)] == [1, 2, 3, 4, 5]


def test_with_more_hosts_than_connections_a_finished_hosts_next_url_goes_first() -> None:
    look = Lookahead(connections=2)
    _fill(look, "abcabc")
    assert [look.take()[0] for _ in range(2)] == [0, 1]  # a, b in flight
    look.released("a.test")
    look.finished("a.test")
    seq, _, host, _ = look.take()
    assert (seq, host) == (3, "a.test")  # a's connection is idle: its next URL, ahead of c
    assert look.affine == 1
    assert look.take()[0] == 2  # no host finished: the oldest
    assert look.next_use("b.test") == 4 and look.next_use("a.test") is None
    assert [seq for seq, _ in look.drain()] == [4, 5]  # a stop reports the rest in order
    assert len(look) == 0


def test_a_finished_host_with_nothing_waiting_gives_way_to_the_oldest() -> None:
    look = Lookahead(connections=1)
    _fill(look, "abc")
    assert look.take()[0] == 0
    look.released("a.test")
    look.finished("a.test")
    assert look.take()[0] == 1
    assert look.oldest_seq() == 2


@dataclass
class _Shard(httpx.AsyncBaseTransport):
    host: str
    sent: list[str] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request.url.host)
        return httpx.Response(200, stream=httpx.ByteStream(b""), request=request)


def test_a_full_sharded_pool_gives_the_least_needed_idle_connection_away() -> None:
    """Three shards kept idle for a, b and c (a the longest idle); a URL of d needs one."""

    async def main(demand: dict[str, int | None] | None) -> str:
        pool = ShardedPoolTransport(lambda: _Shard("?"), max_connections=3, max_keepalive=3, pool_timeout=1.0)
        for host in "abc":
            request = httpx.Request("GET", f"http://{host}.test/")
            response = await pool.handle_async_request(request)
            await response.aread()
            await response.aclose()
        if demand is not None:
            DEMAND.set(lambda host: demand[host[0]])
        index = pool.table.pick((b"http", b"d.test", None))
        assert index is not None
        return pool.table.host(index)[0]  # the host whose connection it held

    assert asyncio.run(main(None)) == "a"  # without the engine: the longest idle
    assert asyncio.run(main({"a": 5, "b": None, "c": 9})) == "b"  # b has no URL waiting
    assert asyncio.run(main({"a": 5, "b": 7, "c": 9})) == "c"  # c's next URL comes last


class _KeepAliveServers:
    """A minimal keep-alive HTTP/1.1 server on each of several loopback addresses (one host each,
    as the pools key connections), in the test's own event loop: it answers every request with
    ``ok`` and notes the address whose connection the client closed."""

    def __init__(self) -> None:
        self.servers: list[asyncio.Server] = []
        self.urls: dict[str, str] = {}  # address -> URL
        self.closed: list[str] = []  # the addresses whose connection the client closed, in order

    async def start(self, addresses: list[str]) -> None:
        for address in addresses:
            server = await asyncio.start_server(self._serve, address, 0)
            self.servers.append(server)
            self.urls[address] = f"http://{address}:{server.sockets[0].getsockname()[1]}/"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = writer.get_extra_info("sockname")[0]
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed.append(address)
        finally:
            writer.close()

    async def wait_closed(self, count: int) -> None:
        for _ in range(500):  # up to 5 s: a close is seen within a loop step or two
            if len(self.closed) >= count:
                return
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        for server in self.servers:
            server.close()


async def _aiohttp_pool(servers: _KeepAliveServers, addresses: list[str], limit: int) -> httpx.AsyncClient:
    """An aiohttp-backed client whose pool of ``limit`` connections holds one idle connection to
    each of ``addresses``, fallen idle in that order."""
    settings = Settings(backend=Backend.aiohttp, pool=PoolSettings(max_connections=limit))
    client = build_client(settings)
    for address in addresses:
        assert (await client.get(servers.urls[address])).text == "ok"
    return client


@pytest.mark.live
@pytest.mark.parametrize(
    ("demand", "closed"),
    [(None, "127.0.0.2"), ({"127.0.0.2": 5, "127.0.0.3": None, "127.0.0.4": 9}, "127.0.0.3"),
     ({"127.0.0.2": 5, "127.0.0.3": 7, "127.0.0.4": 9}, "127.0.0.4")],
    ids=["longest-idle", "no-url-waiting", "needed-last"],
)  # fmt: skip
def test_a_full_aiohttp_connector_closes_the_least_needed_idle_connection(
    demand: dict[str, int | None] | None, closed: str
) -> None:
    """Three idle connections (127.0.0.2 idle longest), the pool full: a request to a fourth host
    closes the least needed one, as the servers see it: without the engine the longest idle,
    else one whose host has no URL waiting, else the one whose host's next URL comes last."""
    idle = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]

    async def main() -> list[str]:
        servers = _KeepAliveServers()
        await servers.start([*idle, "127.0.0.5"])
        client = await _aiohttp_pool(servers, idle, limit=3)
        try:
            if demand is not None:
                DEMAND.set(demand.__getitem__)
            assert (await client.get(servers.urls["127.0.0.5"])).text == "ok"
            await servers.wait_closed(1)
            return list(servers.closed)
        finally:
            await client.aclose()
            await servers.stop()

    assert asyncio.run(main()) == [closed]


def test_choosing_the_connection_to_close_weighs_a_bounded_number_whatever_the_pool() -> None:
    """A full pool of 200 idle shards, each host with a URL waiting (so no early stop): opening a
    connection for a new host weighs at most a fixed number of entries (routing_steps)."""
    from fetchcli.transport.hints import EVICTION_CANDIDATES

    async def main(shards: int) -> int:
        pool = ShardedPoolTransport(lambda: _Shard("?"), max_connections=shards, max_keepalive=shards, pool_timeout=1)
        for n in range(shards):
            response = await pool.handle_async_request(httpx.Request("GET", f"http://h{n}.test/"))
            await response.aread()
            await response.aclose()
        DEMAND.set(lambda host: int(host[1:].split(".")[0]))  # every host wanted; h0 soonest
        before = pool.routing_steps
        assert pool.table.pick((b"http", b"new.test", None)) is not None
        return pool.routing_steps - before

    assert asyncio.run(main(20)) <= 4 * EVICTION_CANDIDATES
    assert asyncio.run(main(200)) <= 4 * EVICTION_CANDIDATES  # 200 without the bound


@pytest.mark.live
def test_the_aiohttp_connector_weighs_a_bounded_number_of_idle_hosts() -> None:
    """A full pool of 60 idle connections, each host with a URL waiting (so no early stop): a
    request to a new host asks the engine's demand about EVICTION_CANDIDATES hosts, not 60, and
    closes one connection."""
    from fetchcli.transport.hints import EVICTION_CANDIDATES

    hosts = [f"127.0.1.{n}" for n in range(1, 61)]
    assert len(hosts) > 2 * EVICTION_CANDIDATES

    async def main() -> tuple[int, int]:
        servers = _KeepAliveServers()
        await servers.start([*hosts, "127.0.2.1"])
        client = await _aiohttp_pool(servers, hosts, limit=len(hosts))
        asked: list[str] = []

        def demand(host: str) -> int:
            asked.append(host)
            return 1  # every host wanted: no early stop

        try:
            DEMAND.set(demand)
            assert (await client.get(servers.urls["127.0.2.1"])).text == "ok"
            await servers.wait_closed(1)
            return len(asked), len(servers.closed)
        finally:
            await client.aclose()
            await servers.stop()

    assert asyncio.run(main()) == (EVICTION_CANDIDATES, 1)  # 60 without the bound
