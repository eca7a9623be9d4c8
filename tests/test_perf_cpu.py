"""Guards for fetchcli's own CPU per request that count work instead of timing it.

``asyncio.get_running_loop()`` (and ``asyncio.current_task()`` and ``asyncio.create_task()``,
which call it) makes a ``getpid()`` system call each time on Python < 3.12; the default path made
five such calls per URL (about 1 us, and 2,800 instructions per URL by callgrind, 0.3%). The engine
and the default wire ask for the loop once per run and carry it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

import fetchcli
from fetchcli.settings import Backend, Settings
from tests.helpers import collect
from tests.server import LoopbackServer

_FETCHCLI = str(Path(fetchcli.__file__).resolve().parent)
_ASYNCIO = str(Path(asyncio.__file__).resolve().parent)


def _from_fetchcli(frame: FrameType | None) -> bool:
    """Whether the call came from fetchcli's code, directly or through one of asyncio's helpers
    (``current_task``, ``create_task``)."""
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_ASYNCIO):
        frame = frame.f_back
    return frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_FETCHCLI)


@pytest.fixture
def loop_lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How often fetchcli's own code asked asyncio for the running loop."""
    counter = [0]
    original = asyncio.events.get_running_loop

    def counting() -> asyncio.AbstractEventLoop:
        if _from_fetchcli(sys._getframe(1)):
            counter[0] += 1
        return original()

    # asyncio.tasks calls events.get_running_loop; fetchcli's modules call asyncio.get_running_loop.
    monkeypatch.setattr(asyncio.events, "get_running_loop", counting)
    monkeypatch.setattr(asyncio, "get_running_loop", counting)
    yield counter


def test_the_running_loop_is_asked_for_once_per_run_not_per_url(
    fresh_server: LoopbackServer, backend: Backend, loop_lookups: list[int]
) -> None:
    urls = [fresh_server.url(f"/ok/{n}") for n in range(100)]
    results = asyncio.run(collect(urls, Settings(backend=backend, concurrency=10)))
    assert [r.ok for r in results] == [True] * 100
    # Before: 5 per URL on the default wire (the task's creation, the --max-time timer armed and
    # disarmed, the task it cancels, the aiohttp request), 4 on the httpx one.
    assert loop_lookups[0] <= 5
