"""Connect and pool timeouts, TLS verification (-k), and --proxy, against real loopback servers."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fetchcli.settings import Backend, PoolSettings, RequestSettings, Settings, TimeoutSettings
from tests.helpers import run, self_signed_context
from tests.server import LoopbackServer, running_server


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose accept queue is full: connecting to it hangs until the connect timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(listener.getsockname())
        fillers.append(filler)
    time.sleep(0.1)
    yield int(listener.getsockname()[1])
    for filler in fillers:
        filler.close()
    listener.close()


def test_connect_timeout(full_backlog: int, backend: Backend) -> None:
    [result] = run(
        [f"http://127.0.0.1:{full_backlog}/"], Settings(timeouts=TimeoutSettings(connect=0.3)), backend=backend
    )
    assert result.error is not None and result.error.type == "ConnectTimeout"


def test_pool_timeout(server: LoopbackServer, backend: Backend) -> None:
    settings = Settings(pool=PoolSettings(max_connections=1), concurrency=2, timeouts=TimeoutSettings(pool=0.2))
    slow, waiting = run([server.url("/slow/1000"), server.url("/ok")], settings, backend=backend)
    assert slow.ok
    assert waiting.error is not None and waiting.error.type == "PoolTimeout"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    with running_server(ssl_context=self_signed_context(tmp_path_factory.mktemp("tls"))) as srv:
        yield srv


def test_tls_is_verified_unless_insecure(tls_server: LoopbackServer, backend: Backend) -> None:
    url = tls_server.url("/ok/tls")
    [refused] = run([url], backend=backend)
    assert refused.error is not None and refused.error.type == "CertificateError"
    assert "certificate" in refused.error.message.lower()
    [accepted] = run([url], Settings(request=RequestSettings(insecure=True)), backend=backend)
    assert accepted.ok and accepted.snippet == "hello from /ok/tls"


def test_proxy(server: LoopbackServer, backend: Backend) -> None:
    proxied = Settings(request=RequestSettings(proxy=server.url("")))
    [result] = run(["http://far-away.invalid/page"], proxied, backend=backend)
    assert result.ok and result.snippet == "proxied http://far-away.invalid/page"


def test_socks5_proxy(server: LoopbackServer) -> None:
    """--proxy socks5:// (the socks extra, httpx backend): the request goes through the tunnel."""
    from tests.server import Socks5Proxy

    proxy = Socks5Proxy().start()
    try:
        settings = Settings(request=RequestSettings(proxy=f"socks5://127.0.0.1:{proxy.port}"))
        (result,) = run([server.url("/ok/via-socks")], settings)
    finally:
        proxy.stop()
    assert result.ok, result.error
    assert result.snippet == "hello from /ok/via-socks"
    assert proxy.tunnels == [("127.0.0.1", server.port)]


@pytest.mark.live
def test_http2_is_negotiated(tmp_path: Path) -> None:
    """--http2 offers HTTP/2 by ALPN and speaks it when the server takes it (httpx backend, h2)."""
    pytest.importorskip("h2")
    from tests.server import H2Server

    h2_server = H2Server(self_signed_context(tmp_path)).start()
    try:
        settings = Settings(request=RequestSettings(http2=True, insecure=True))
        urls = [f"https://127.0.0.1:{h2_server.port}/ok/{n}" for n in range(3)]
        results = run(urls, settings)
    finally:
        h2_server.stop()
    assert [r.http_version for r in results] == ["HTTP/2"] * 3, [r.error for r in results]
    assert [r.snippet for r in results] == [f"h2 /ok/{n}" for n in range(3)]
    assert h2_server.streams == 3


def test_https_proxy(tls_server: LoopbackServer) -> None:
    """--proxy https:// (httpx backend): TLS to the proxy, verified like any server (-k here, for
    its self-signed certificate), then the request in absolute form through it."""
    settings = Settings(request=RequestSettings(proxy=tls_server.url(""), insecure=True))
    [result] = run(["http://far-away.invalid/page"], settings)
    assert result.ok, result.error
    assert result.snippet == "proxied http://far-away.invalid/page"
    [refused] = run(["http://far-away.invalid/page"], Settings(request=RequestSettings(proxy=tls_server.url(""))))
    assert refused.error is not None and refused.error.type in ("CertificateError", "ProxyError")


def test_every_timeout_flag_reaches_httpx() -> None:
    """--connect/read/write/pool-timeout become httpx.Timeout's phases (the aiohttp backend has no
    write phase, as the README says; fetchcli sends no body that could wait on it)."""
    from fetchcli.transport.client import timeout_of

    timeouts = TimeoutSettings(timeout=9, connect=1, read=2, write=3, pool=4)
    assert timeout_of(Settings(timeouts=timeouts)) == httpx.Timeout(connect=1, read=2, write=3, pool=4)
    assert timeout_of(Settings(timeouts=TimeoutSettings(timeout=0))) == httpx.Timeout(None)


@pytest.mark.live
def test_http2_multiplexes_on_one_connection(tmp_path: Path) -> None:
    """--http2: 200 URLs at -c 50 to one origin share one connection (many streams), instead of
    a connection per request in flight; and --max-connections still bounds connections."""
    from tests.server import H2Server

    h2_server = H2Server(self_signed_context(tmp_path)).start()
    try:
        settings = Settings(request=RequestSettings(http2=True, insecure=True), concurrency=50)
        urls = [f"https://127.0.0.1:{h2_server.port}/mux/{n}" for n in range(200)]
        results = run(urls, settings)
    finally:
        h2_server.stop()
    assert all(r.ok and r.http_version == "HTTP/2" for r in results), {r.error for r in results}
    assert [r.snippet for r in results] == [f"h2 /mux/{n}" for n in range(200)]
    assert h2_server.streams == 200
    assert h2_server.connections == 1


@pytest.mark.live
def test_http2_offered_to_an_http1_server_keeps_its_concurrency(tmp_path: Path) -> None:
    """--http2 against an https server that answers HTTP/1.1: after the first answer the origin
    is known, and its requests run side by side on their own connections, as without --http2."""
    with running_server(ssl_context=self_signed_context(tmp_path)) as server:
        settings = Settings(request=RequestSettings(http2=True, insecure=True), concurrency=10)
        results = run([server.url(f"/slow/200?h1={n}") for n in range(30)], settings)
        assert all(r.ok and r.http_version == "HTTP/1.1" for r in results)
        assert server.stats.max_open >= 5  # side by side, not one at a time
        assert server.stats.accepted <= 10


@pytest.mark.live
@pytest.mark.slow  # seconds of timers
def test_http2_does_not_hold_a_burst_behind_a_slow_first_answer(tmp_path: Path) -> None:
    """The others wait for the first answer of an origin only briefly (PROBE_WAIT), then go their
    own way: no PoolTimeout because the first URL is slow."""
    from tests.server import H2Server

    h2_server = H2Server(self_signed_context(tmp_path), first_answer_after=2.5).start()
    try:
        settings = Settings(
            request=RequestSettings(http2=True, insecure=True), concurrency=10, timeouts=TimeoutSettings(pool=1.5)
        )
        results = run([f"https://127.0.0.1:{h2_server.port}/slow-first/{n}" for n in range(20)], settings)
    finally:
        h2_server.stop()
    assert all(r.ok for r in results), {r.error for r in results}
    assert h2_server.connections == 1  # the protocol is known at the handshake: the others share at once
