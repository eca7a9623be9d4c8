"""A URL's ticket through the run (``Ticket``): when it was read from the input, when its first
request was sent, its tries so far, and ``--max-time``; the records' ``fetched_at``,
``queued_ms`` and ``elapsed_ms`` come from it. The engine makes one per URL it starts and keeps
it, so a URL it cancels is still reported with what it had done (``attempts``)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from fetchcli.transport.hints import PhaseClock, since

if TYPE_CHECKING:
    from fetchcli.models import FetchResult
    from fetchcli.transport.contract import WireResponse
    from fetchcli.transport.wireurl import WireURL

_second: list[object] = [None, ""]  # the current second and its ISO 8601 text, made once per second


def now_iso(now: float | None = None) -> str:
    """The time ``now`` (a ``time.time()`` reading; default: now), ISO 8601 UTC to the
    millisecond (``2026-11-25T15:09:17.123Z``); the text of the second is made once per second
    (it was 3% of the CPU per request)."""
    if now is None:
        now = time.time()
    second = int(now)
    if _second[0] != second:
        _second[0] = second
        _second[1] = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_second[1]}.{int((now - second) * 1000):03d}Z"


@dataclass(slots=True)
class Trail:
    """The requests of one try: the URL asked last (the one that failed, if one did) and each
    redirect followed on the way to it."""

    last: WireURL
    redirects: list[tuple[WireURL, int]] = field(default_factory=list)  # the URL that answered, its status
    clock: PhaseClock | None = None  # the phases of the last request
    response: WireResponse | None = None  # the last request's, once its headers came
    body: list[bytes] | None = None  # the last response's body bytes while they are read
    method: str = "GET"  # the method of the request asked last


class Ticket:
    """One URL on its way through the run: when the engine read it from the input
    (``admitted``, a ``time.perf_counter()`` reading), and what has happened to it so far: its
    tries, when its first request was handed to the transport, the try in progress. The engine
    makes it and keeps it, so a URL it cancels is still reported with what it had done. It also
    holds ``--max-time``, which starts with the first request (waiting to be sent is not the
    URL's time) and cancels the URL's task when it is up (``expired``).

    The record's times come from it: ``fetched_at``, the first request sent (handed to the
    transport, plus what the transport waited for a pooled connection); ``queued_ms``, from
    ``admitted`` to then; ``elapsed_ms``, from then to now."""

    __slots__ = ("admitted", "attempts", "clock", "ends", "expired", "handle", "loop", "sent", "sent_wall", "trail")

    def __init__(
        self,
        admitted: float | None = None,
        ends: float | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.admitted = time.perf_counter() if admitted is None else admitted
        self.ends = ends  # the event loop's time at which the run's --deadline stops it; None: none
        # The running loop, asked once: asyncio.get_running_loop() (so current_task() and
        # create_task() too) calls getpid() each time on Python < 3.12, a system call (0.2-0.3 us
        # here, more on some virtual machines); the engine hands its own.
        self.loop = loop
        self.attempts = 0  # requests sent (redirects, resends, the one in progress included)
        self.sent: float | None = None  # perf_counter: the first request handed to the transport
        self.sent_wall = 0.0  # the same moment, time.time()
        self.clock: PhaseClock | None = None  # the first request's (the transport adds its pool wait)
        self.trail: Trail | None = None  # the try in progress, or the last one
        self.expired = False
        self.handle: asyncio.TimerHandle | None = None

    def first_request(self, clock: PhaseClock, now: float, max_time: float | None) -> None:
        """The URL's first request is handed to the transport (``now``): its times start, and
        ``--max-time`` with them."""
        self.sent, self.sent_wall, self.clock = now, time.time(), clock
        if max_time is not None and self.handle is None:  # armed once: a try that was not sent keeps it
            loop = self._loop()
            task = asyncio.current_task(loop)
            assert task is not None
            self.handle = loop.call_later(max_time, self._fire, task)

    def sending(self, clock: PhaseClock, now: float, max_time: float | None) -> None:
        """A request (a try, a redirect, a resend) is handed to the transport: counted in
        ``attempts`` (undone by ``unsent`` if it never leaves the pool); the first one starts the
        URL's times."""
        self.attempts += 1
        if self.sent is None:
            self.first_request(clock, now, max_time)

    def unsent(self, clock: PhaseClock) -> None:
        """The request of ``clock`` never left the transport's pool (its wait for a connection
        timed out or was cancelled): not a request sent, so not an attempt; if it was the URL's
        first, the URL has not been sent yet."""
        self.attempts -= 1
        if self.clock is clock:
            self.sent, self.clock = None, None

    def _loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        return self.loop

    def _fire(self, task: asyncio.Task[FetchResult]) -> None:
        self.expired = True
        task.cancel()

    def disarm(self) -> float | None:
        """Stop the ``--max-time`` timer; the seconds that were left (None: no limit)."""
        if self.handle is None:
            return None
        self.handle.cancel()
        return self.handle.when() - self._loop().time()

    def time_left(self) -> tuple[float, str] | None:
        """The seconds left before ``--max-time`` or the run's ``--deadline`` stops this URL,
        whichever comes first, and which it is; None when neither is set."""
        now = self._loop().time()
        left = None
        if self.handle is not None:
            left = (self.handle.when() - now, "--max-time")
        if self.ends is not None and (left is None or self.ends - now < left[0]):
            left = (self.ends - now, "--deadline")
        return left

    def _on_wire(self) -> float:
        assert self.sent is not None and self.clock is not None
        return self.sent + self.clock.pool_s

    def fetched_at(self) -> str:
        assert self.clock is not None
        return now_iso(self.sent_wall + self.clock.pool_s)

    def queued_ms(self) -> float:
        """From ``admitted`` to the first request on the wire; for a URL never sent (its every
        request waited in the pool until it gave up or was stopped), to now: the whole wait."""
        until = time.perf_counter() if self.sent is None else self._on_wire()
        return round((until - self.admitted) * 1000, 1)

    def elapsed_ms(self) -> float:
        return since(self._on_wire())
