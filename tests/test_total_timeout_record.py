"""A ``TotalTimeout`` keeps what arrived (issue 18 review, LOW 1): the body bytes read before
``--max-time`` (``bytes_read``, ``snippet``), and, on the last hop of redirects that never
answered, ``final_url`` (the URL asked last). Both backends, real loopback server."""

from __future__ import annotations

from fetchcli.settings import Backend, RequestSettings, Settings, TimeoutSettings
from tests.helpers import run
from tests.server import LoopbackServer


def test_total_timeout_keeps_the_body_read_so_far(server: LoopbackServer, backend: Backend) -> None:
    # /trickle: a 200 with Content-Length 100, then one "x" every 0.5 s.
    settings = Settings(backend=backend, timeouts=TimeoutSettings(timeout=5, max_time=1.6))
    (result,) = run([server.url("/trickle")], settings)
    assert result.error is not None and result.error.type == "TotalTimeout"
    assert result.status == 200
    assert result.bytes_read >= 1 and result.snippet == "x" * result.bytes_read
    assert not result.truncated


def test_total_timeout_after_a_redirect_names_the_url_asked_last(server: LoopbackServer, backend: Backend) -> None:
    settings = Settings(
        backend=backend,
        timeouts=TimeoutSettings(timeout=5, max_time=1),
        request=RequestSettings(follow_redirects=True, max_redirects=3),
    )
    (result,) = run([server.url("/location?to=/hang")], settings)
    assert result.error is not None and result.error.type == "TotalTimeout"
    assert [hop.status for hop in result.redirects] == [302]
    assert result.final_url == server.url("/hang")
    assert result.status is None
