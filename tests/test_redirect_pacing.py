"""A redirect hop followed with -L is a request to its host: it waits for its --rate and
--host-rate turn, as the first request, a retry and a resend do. Times are the server's arrivals."""

from __future__ import annotations

import pytest

from fetchcli.settings import Backend, PolitenessSettings, RequestSettings, Settings
from tests.helpers import run
from tests.server import LoopbackServer


@pytest.mark.parametrize("which", ["rate", "host_rate"])
def test_each_redirect_hop_waits_for_its_turn(server: LoopbackServer, backend: Backend, which: str) -> None:
    polite = PolitenessSettings(rate=5.0) if which == "rate" else PolitenessSettings(host_rate=5.0)
    settings = Settings(politeness=polite, request=RequestSettings(follow_redirects=True, max_redirects=5))
    path = f"/redirect/4?{backend.value}-{which}"
    (result,) = run([server.url(path)], settings, backend=backend)
    assert result.ok and result.attempts == 5 and len(result.redirects) == 4
    times = [t for host_times in server.stats.times_by_host.values() for t in host_times]
    arrivals = sorted(times)[-5:]  # this URL's five requests: the first and its four hops
    # At 5 a second, 200 ms apart: four gaps are 0.8 s; without the turn all five came within
    # a few ms. A generous 0.2 s of slack.
    assert arrivals[-1] - arrivals[0] >= 0.6
