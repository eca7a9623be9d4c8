"""Misbehaving servers: each URL gets a clear error or a correct result, the rest of the run
is unaffected, and memory stays bounded. (More cases, on both backends, in test_engine_live.)"""

from __future__ import annotations

import tracemalloc

from fetchcli.settings import Backend, RequestSettings, Settings
from tests.helpers import run
from tests.server import LoopbackServer


def test_hostile_servers(server: LoopbackServer, backend: Backend) -> None:
    urls = [
        server.url("/reset-status"),
        server.url("/bigheader"),
        server.url("/status799"),
        server.url("/http10"),
        server.url("/ok/after"),
    ]
    reset, bigheader, odd, http10, after = run(urls, backend=backend)
    assert reset.error is not None and reset.error.type in ("RemoteProtocolError", "ReadError")
    assert bigheader.error is not None and bigheader.error.type == "RemoteProtocolError"
    # A status outside 100-599 breaks HTTP (tests/test_trust_protocol.py has the others).
    assert odd.status is None and odd.error is not None and odd.error.type == "RemoteProtocolError"
    assert http10.ok and http10.http_version == "HTTP/1.0" and http10.snippet == "close-delimited body"
    assert after.ok


def test_long_redirect_chains(server: LoopbackServer, backend: Backend) -> None:
    settings = Settings(request=RequestSettings(follow_redirects=True, max_redirects=20))
    within, beyond = run([server.url("/redirect/20"), server.url("/redirect/21")], settings, backend=backend)
    assert within.ok and within.final_url == server.url("/ok")
    assert beyond.error is not None and beyond.error.type == "TooManyRedirects"


def test_memory_stays_bounded(server: LoopbackServer, backend: Backend) -> None:
    urls = [server.url(path) for path in ("/endless", "/gzipbomb", "/bigheader", "/endless", "/escape")]
    tracemalloc.start()
    try:
        results = run(urls, backend=backend)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(results) == 5
    assert peak < 24 * 1024 * 1024  # 2 GB bodies, a 64 MiB bomb and a 1 MiB header cost far less
