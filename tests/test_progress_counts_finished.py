"""The progress line counts URLs as they finish, not as their records are written: in input
order one slow URL at the head of the list would otherwise hold the count (``0/10``), the rate
and the ETA until it ends, while the nine after it were long done. ``fetch(on_finished=...)`` is
the seam: it is told of each record as it is made, before the record waits for its turn."""

from __future__ import annotations

import asyncio
import dataclasses

from fetchcli.engine.run import fetch
from fetchcli.models import FetchResult
from fetchcli.settings import Backend, Order, Settings
from tests.server import LoopbackServer


def test_each_record_is_told_as_it_is_made(server: LoopbackServer, backend: Backend) -> None:
    urls = [server.url("/slow/1500")] + [server.url(f"/ok/{n}") for n in range(1, 10)]
    finished: list[int] = []

    async def main() -> list[FetchResult]:
        chosen = dataclasses.replace(Settings(), backend=backend, order=Order.input)
        out = []
        async for result in fetch(urls, chosen, on_finished=lambda r: finished.append(r.index)):
            out.append(result)
            if result.index == 0:
                # the slow URL's record: by then the nine others were told, before it
                assert sorted(finished[:9]) == list(range(1, 10)) and finished[9] == 0
        return out

    results = asyncio.run(main())
    assert sorted(finished) == list(range(10)) and len(results) == 10
    assert [r.index for r in results] == list(range(10))  # the records themselves in input order
