"""The record's timing: which phases a request went through, the same on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from fetchcli.settings import Backend, PoolSettings, RequestSettings, Settings
from tests.helpers import run, self_signed_context
from tests.server import LoopbackServer, running_server


def _phases(result: object) -> dict[str, float | None]:
    timing = getattr(result, "timing", None)
    assert timing is not None
    return dict(timing.to_dict())


def test_a_new_connection_is_timed_and_a_reused_one_is_not(server: LoopbackServer, backend: Backend) -> None:
    first, second = run([server.url("/ok/t1"), server.url("/ok/t2")], Settings(concurrency=1), backend=backend)
    new, reused = _phases(first), _phases(second)
    assert new["dns_ms"] is None  # an IP address: nothing to look up
    assert new["connect_ms"] is not None and new["tls_ms"] is None
    assert new["ttfb_ms"] is not None and new["ttfb_ms"] >= new["connect_ms"]
    assert reused["connect_ms"] is None and reused["dns_ms"] is None and reused["ttfb_ms"] is not None
    assert server.stats.accepted >= 1


def test_names_are_looked_up_once_per_ten_seconds(fresh_server: LoopbackServer, backend: Backend) -> None:
    """Two new connections to 'localhost' (no keep-alive): the second uses the cached lookup, as
    aiohttp's connector does; the httpx backend does the same (fetchcli/transport/netbackend.py)."""
    urls = [fresh_server.url(f"/ok/n{n}").replace("127.0.0.1", "localhost") for n in range(2)]
    settings = Settings(concurrency=1, pool=PoolSettings(max_keepalive=0))
    first, second = run(urls, settings, backend=backend)
    assert first.ok and second.ok
    assert _phases(first)["dns_ms"] is not None
    assert _phases(second)["dns_ms"] is None and _phases(second)["connect_ms"] is not None
    assert fresh_server.stats.accepted == 2


@pytest.mark.live
def test_the_tls_handshake_is_timed(tmp_path: Path, backend: Backend) -> None:
    with running_server(ssl_context=self_signed_context(tmp_path)) as tls:
        [result] = run([tls.url("/ok/tls")], Settings(request=RequestSettings(insecure=True)), backend=backend)
    phases = _phases(result)
    assert phases["connect_ms"] is not None and phases["tls_ms"] is not None
    assert phases["ttfb_ms"] is not None and phases["ttfb_ms"] >= phases["tls_ms"]


def test_a_failed_connection_has_no_phases_and_invalid_input_no_timing(backend: Backend) -> None:
    refused, invalid = run(["http://127.0.0.1:9/", "ftp://x"], backend=backend)
    assert refused.error is not None and refused.error.type == "ConnectionRefused"
    assert set(_phases(refused).values()) == {None}
    assert invalid.timing is None and invalid.to_dict()["timing"] is None
