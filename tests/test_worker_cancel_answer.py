"""--workers: a URL the parent cancels (a --deadline, a signal) just as its worker's record comes
back is still counted as sent. Seen under load: the record reached the parent's pipe in the
same turn of the event loop as the cancel, the parent read it first, found the URL's wait
already cancelled and dropped it, then waited in vain for an answer to its "cancel" (the worker
had finished the URL) and reported a request the server had answered as NotStarted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from fetchcli.engine.ticket import Ticket
from fetchcli.engine.workers import CANCEL_ANSWER_WAIT, WorkerPool
from fetchcli.models import UrlItem
from fetchcli.settings import Settings
from tests.server import running_server


def _cancel_in(loop: asyncio.AbstractEventLoop, task: asyncio.Task[object], hops: int) -> None:
    """Cancel ``task`` after ``hops`` more turns of the loop."""
    if hops:
        loop.call_soon(_cancel_in, loop, task, hops - 1)
    else:
        task.cancel()


async def _cancel_as_the_record_arrives(url: str, requests_seen: Callable[[], bool], hops: int) -> tuple[int, float]:
    async with WorkerPool(Settings(workers=1)) as pool:
        ticket = Ticket()
        task = asyncio.create_task(pool.fetch(UrlItem(index=0, raw=url, url=url), ticket))
        limit = time.monotonic() + 30
        while not requests_seen():
            assert time.monotonic() < limit, "the worker never reached the server"
            await asyncio.sleep(0.01)
        loop = asyncio.get_running_loop()
        # The loop stands still while the server answers and the worker writes the record; then,
        # in the turn that finds the record in the pipe, a timer starts the cancel, which runs
        # ``hops`` turns later: at some depth it lands between the record being fed to the
        # parent's reader and the reader taking it (asyncio hands a subprocess pipe's data on
        # with a call_soon of its own), the order of the race seen under load.
        loop.call_later(0.05, _cancel_in, loop, task, hops)
        time.sleep(0.6)
        started = time.monotonic()
        try:
            record = await task
        except asyncio.CancelledError:
            return ticket.attempts, time.monotonic() - started
        return record.attempts, 0.0  # the cancel came after the record was taken: it stands


@pytest.mark.live
@pytest.mark.parametrize("hops", [0, 1, 2, 3])
def test_a_cancel_that_meets_the_workers_record_counts_the_request(hops: int) -> None:
    with running_server() as server:
        attempts, waited = asyncio.run(
            _cancel_as_the_record_arrives(server.url("/slow/100"), lambda: server.stats.requests >= 1, hops)
        )
        assert server.stats.requests == 1
        assert attempts == 1  # sent: a Cancelled record counts the try made (never NotStarted)
        assert waited < CANCEL_ANSWER_WAIT  # the answer in hand was used, not waited for
