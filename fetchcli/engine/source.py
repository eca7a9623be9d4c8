"""The input as the engine reads it: URLs or ``UrlItem``s, from a list, a file or a pipe (sync
or async). A wait on a pipe can be interrupted (a stop) without losing the item it waited for;
after a stop, what is left to report is given (a file read to its end; a pipe only what it
had handed over already)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from fetchcli.models import UrlItem

UrlSource = Iterable[UrlItem | str] | AsyncIterable[UrlItem]


def _as_items(urls: Iterable[UrlItem | str]) -> Iterator[UrlItem]:
    """Items as given, strings read by the rule of an input file: blank lines and '#' comments
    are skipped, and indexes count URLs only."""
    from fetchcli.urls import iter_items

    index = 0
    for url in urls:
        if isinstance(url, UrlItem):
            index = url.index + 1
            yield url
            continue
        for item in iter_items((url,), start=index):
            index = item.index + 1
            yield item


async def done_unless(future: asyncio.Future[Any], interrupt: asyncio.Event | None) -> bool:
    """Wait for ``future`` unless ``interrupt`` is set first (None: no interrupt); whether it is
    done. The future is left running when interrupted."""
    if future.done():
        return True
    waits: set[asyncio.Future[Any]] = {future}
    interrupted = asyncio.ensure_future(interrupt.wait()) if interrupt is not None else None
    if interrupted is not None:
        waits.add(interrupted)
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    if interrupted is not None:
        interrupted.cancel()
    return future.done()


class Source:
    """The input, sync or async. An async source (a pipe) may block as long as its writer likes,
    so a wait for its next item can be interrupted, and the item it was waiting for is kept."""

    def __init__(self, items: UrlSource, keep: Callable[[UrlItem], bool] | None = None) -> None:
        self._keep = keep  # a Selection: items it refuses are skipped here, as if not in the input
        self._sync: Iterator[UrlItem] | None = None
        self._async: AsyncIterator[UrlItem] | None = None
        self._poll: Callable[[], UrlItem | None] | None = None
        if isinstance(items, AsyncIterable):
            self._async = aiter(items)
            self._poll = getattr(self._async, "poll", None)
        else:
            self._sync = _as_items(items)
        self._pending: asyncio.Future[UrlItem] | None = None
        self.exhausted = False

    @property
    def reads_at_once(self) -> bool:
        """The next item comes without waiting (a list, a file; not a pipe)."""
        return self._sync is not None

    async def next(self, interrupt: asyncio.Event | None = None) -> UrlItem | None:
        """The next item; None at the end (``exhausted``), or when ``interrupt`` is set before an
        item comes."""
        while True:
            item = await self._next(interrupt)
            if item is None or self._keep is None or self._keep(item):
                return item

    async def _next(self, interrupt: asyncio.Event | None) -> UrlItem | None:
        try:
            if self._sync is not None:
                return next(self._sync)
            assert self._async is not None
            if self._pending is None:
                if self._poll is not None and (item := self._poll()) is not None:
                    return item  # already read: no waiting, no task
                self._pending = asyncio.ensure_future(anext(self._async))
            if not await done_unless(self._pending, interrupt):
                return None
            pending, self._pending = self._pending, None
            return pending.result()
        except (StopIteration, StopAsyncIteration):
            self.exhausted = True
            return None

    async def taken(self) -> UrlItem | None:
        """After a stop: the next item that was read from the input already (a pipe's
        read-ahead), or None. Nothing more is read from the input itself."""
        stop_reading = getattr(self._async, "stop_reading", None)
        if stop_reading is None:
            return None  # a sync source is read one item at a time: nothing was taken ahead
        stop_reading()
        return await self.next()

    async def rest(self, whole: bool) -> UrlItem | None:
        """After a stop: the next item left to report, or None. ``whole`` (a deadline): a sync
        source (a file, a list: it ends) is read on to its end; an async one (a pipe, which may
        never end) gives what was taken from it already, and nothing more is read from it."""
        if whole and self._sync is not None:
            return await self.next()
        return await self.taken()

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
        close = getattr(self._async, "close", None)
        if callable(close):
            close()
