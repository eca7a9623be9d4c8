"""A blocking input (a pipe, a terminal) as the engine reads it: items read by a thread, ahead of
the engine, handed over to the event loop (``ThreadedSource``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

from fetchcli.models import UrlItem

_END = object()


class ThreadedSource:
    """Items from a blocking source (a pipe, a terminal), read by a thread ``prefetch`` items ahead.

    A pipe's writer may be slow; reading it on the event loop would freeze every request in
    flight. The thread blocks instead. ``poll`` takes an item already read without waiting, so
    a fast pipe costs no more than a file; ``anext`` waits for one.
    """

    def __init__(
        self, items: Iterator[UrlItem], *, prefetch: int = 256, stop_reading: Callable[[], None] | None = None
    ) -> None:
        self._items = items
        self._prefetch = prefetch
        self._stop_reading = stop_reading
        self._queue: asyncio.Queue[object] | None = None
        self._space = threading.Semaphore(prefetch)
        self._stopped = threading.Event()
        self._ended = False

    def __aiter__(self) -> ThreadedSource:
        return self

    def _start(self) -> asyncio.Queue[object]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()

        def hand_over(value: object) -> bool:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, value)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                return False
            return True

        def produce() -> None:
            try:
                for item in self._items:
                    self._space.acquire()
                    if self._stopped.is_set() or not hand_over(item):
                        return
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
                hand_over(exc)
            hand_over(_END)

        threading.Thread(target=produce, name="fetchcli-input", daemon=True).start()
        self._queue = queue
        return queue

    def _take(self, value: object) -> UrlItem:
        self._space.release()
        if value is _END:
            self._ended = True
            raise StopAsyncIteration
        if isinstance(value, BaseException):
            raise value
        assert isinstance(value, UrlItem)
        return value

    def poll(self) -> UrlItem | None:
        """An item read already, or None when none is waiting (StopAsyncIteration at the end)."""
        if self._ended:
            raise StopAsyncIteration
        queue = self._queue if self._queue is not None else self._start()
        if queue.empty():
            return None
        return self._take(queue.get_nowait())

    async def __anext__(self) -> UrlItem:
        if self._ended:
            raise StopAsyncIteration
        queue = self._queue if self._queue is not None else self._start()
        return self._take(await queue.get())

    def stop_reading(self) -> None:
        """Read nothing more from the input: what was read already still comes out, then the end."""
        if self._stop_reading is not None:
            self._stop_reading()

    def close(self) -> None:
        self._stopped.set()
        self._space.release()
