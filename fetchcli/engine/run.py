"""The fetch engine: URLs in, ``FetchResult``s out, with bounded concurrency and memory.

One concurrency point: a URL starts only when a slot is free, and the input is read at most the
reorder window ahead (``admission.py`` chooses which of the URLs read starts next: one whose
host's connection just became idle, else the oldest), so neither tasks nor results pile up
however long the input is. Each URL runs in its own task (``request.fetch_one``).

A run can be stopped early, by ``Settings.deadline`` or by ``Stop.request`` (the CLI's signal
handlers): no URL is started after that, URLs in flight are cancelled and reported as
``Cancelled``, and the URLs read but not sent as ``NotStarted`` (those too that had a task but
were still waiting for their politeness turn). With a deadline the rest of
a file (or list) is read and reported too, so every input URL appears exactly once; a pipe,
which may never end (``tail -f log | fetchcli --deadline 60``), is not read further: the run
ends at its deadline whatever the input does, and what the pipe still held is left unread.
A URL whose task raises (a bug) is still reported: as ``Unexpected``, naming the exception.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from contextlib import aclosing
from typing import TYPE_CHECKING

from fetchcli.engine.admission import Lookahead
from fetchcli.engine.allips import AddressSource, Place
from fetchcli.engine.politeness import Gate, Lane
from fetchcli.engine.records import internal_error_result, invalid_result, unfinished_result
from fetchcli.engine.reorder import PlacedReorderBuffer, ReorderBuffer
from fetchcli.engine.request import fetch_one
from fetchcli.engine.savedir import folds_case
from fetchcli.engine.savename import NameClaims
from fetchcli.engine.selection import Selection
from fetchcli.engine.source import Source, UrlSource
from fetchcli.engine.ticket import Ticket
from fetchcli.errortype import ErrorType
from fetchcli.models import FetchResult, UrlItem
from fetchcli.settings import Order, Settings
from fetchcli.transport.contract import Wire
from fetchcli.transport.hints import DEMAND
from fetchcli.transport.slots import Slots

if TYPE_CHECKING:
    import httpx

RemoteFetch = Callable[[UrlItem, Ticket], Awaitable[FetchResult]]
_WAKE = -1  # sequence number of the wake-up entry Stop puts in the done queue


class Stop:
    """Ask a running ``fetch`` to stop. ``report_unstarted``: read the rest of a file (not a
    pipe) and report each URL as ``NotStarted`` (what a deadline wants; an interrupt does not)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.report_unstarted = False
        self._listeners: list[Callable[[], None]] = []

    def request(self, reason: str, *, report_unstarted: bool = False) -> None:
        if self.reason is not None:
            return
        self.reason = reason
        self.report_unstarted = report_unstarted
        for listener in list(self._listeners):
            listener()

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` when a stop is requested."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.remove(listener)


class _Run:
    """State of one ``fetch`` call: the slot count, the look-ahead, the reorder buffer
    (``reorder.py``) and the done queue."""

    def __init__(
        self,
        wire: Wire | None,
        settings: Settings,
        remote: RemoteFetch | None = None,
        on_finished: Callable[[FetchResult], None] | None = None,
        prepare: Callable[[UrlItem], UrlItem] | None = None,
        placed: bool = False,
    ) -> None:
        self.wire = wire
        self.prepare = prepare  # applied to each URL taken (after --shard/--unique): --conditional
        # --save: each name claimed by the first request of the run that maps to it
        save_dir = settings.body.save_dir
        self.claims = NameClaims(settings.body.save_name, folds_case(save_dir)) if save_dir is not None else None
        self.on_finished = on_finished  # told of each URL's record as it is made, whatever the order
        self.settings = settings
        self.remote = remote  # --workers: each URL is fetched in a worker process (workers.py)
        self.limit = settings.effective_concurrency
        self.window = settings.effective_order_window
        self.in_order = settings.order is Order.input
        # A slot per request on the network; tasks parked (waiting on politeness or a retry
        # backoff) lend theirs out, but tasks alive at once stay under max(window, limit).
        self.slots = Slots(self.limit)
        self.task_cap = max(self.window, self.limit)
        polite = settings.politeness
        gate = Gate(polite.per_host, polite.rate, polite.host_rate)
        self.gate = gate if gate.active and remote is None else None  # else the workers are polite
        self.parking = remote is None and (self.gate is not None or settings.retry.retries > 0)
        # seq, item, host, and the URL's ticket (what it has done, should it be cancelled)
        self.running: dict[asyncio.Task[FetchResult], tuple[int, UrlItem, str, Ticket]] = {}
        self.ends: float | None = None  # the event loop's time of the run's --deadline
        self.done: asyncio.Queue[tuple[int, FetchResult | None]] = asyncio.Queue()
        self.posted = asyncio.Event()  # set while the done queue has entries
        # Input order only; placed: items read out of input order, each told its place (--all-ips)
        self.buffer: ReorderBuffer[FetchResult] | PlacedReorderBuffer[FetchResult] = (
            PlacedReorderBuffer(self.window) if placed and self.in_order else ReorderBuffer(self.window)
        )
        self.waiting = Lookahead(settings.pool.max_connections)  # read from the input, not started
        self.read = 0  # sequence number of the next URL read from the input
        self.stopping = False  # cancel_all was called: a cancelled task is the engine's doing
        self.loop = asyncio.get_running_loop()  # asked once (ticket.Ticket says why)

    def has_room(self) -> bool:
        """A URL can start now."""
        return not self.slots.locked() and len(self.running) < self.task_cap

    def can_read(self) -> bool:
        """The input may be read one URL further: at most ``window`` past the oldest result not
        written (input order) or the oldest URL not started (completion order)."""
        if self.in_order:
            return self.buffer.admits(self.read)
        oldest = self.waiting.oldest_seq()
        return oldest is None or self.read - oldest < self.window

    def is_turn(self, head: tuple[int, int]) -> bool:
        """Whether the item at ``head`` (a placed input's first not read) is the next result to
        leave in input order: then it is read even when the window is full."""
        return self.in_order and isinstance(self.buffer, PlacedReorderBuffer) and self.buffer.is_turn(*head)

    def number(self, place: Place | None = None) -> int:
        """The sequence number of the next item read, told its ``place`` in input order."""
        seq = self.read
        self.read += 1
        if place is not None and isinstance(self.buffer, PlacedReorderBuffer):
            self.buffer.place(seq, *place)
        return seq

    def post(self, entry: tuple[int, FetchResult | None]) -> None:
        self.done.put_nowait(entry)
        self.posted.set()

    def _wake(self) -> None:
        self.post((_WAKE, None))

    async def _one(self, item: UrlItem, host: str, lane: Lane, ticket: Ticket) -> FetchResult:
        DEMAND.set(self.waiting.next_use)  # in this task's own context: its pool asks it
        try:
            if self.remote is not None:
                return await self.remote(item, ticket)
            assert self.wire is not None
            return await fetch_one(self.wire, item, self.settings, lane if self.parking else None, self.gate, ticket)
        finally:
            # Before the slot is free: whatever the engine starts in it may take this connection.
            self.waiting.released(host)
            lane.release()

    def take(self, item: UrlItem, place: Place | None = None) -> FetchResult | None:
        """An item read from the input: it waits for a slot, or is a result at once (invalid)."""
        seq = self.number(place)
        if item.url is None:
            return self.accept(seq, invalid_result(item))
        if self.prepare is not None:
            item = self.prepare(item)
        if self.claims is not None:
            item = self.claims.apart(item)
        self.waiting.add(seq, item, time.perf_counter())  # queued_ms starts here
        return None

    async def start_next(self) -> None:
        seq, item, host, read_at = self.waiting.take()
        await self.slots.acquire()  # has_room() said one is free: this does not wait
        ticket = Ticket(read_at, self.ends, self.loop)
        task = self.loop.create_task(self._one(item, host, Lane(self.slots, self._wake), ticket))
        self.running[task] = (seq, item, host, ticket)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[FetchResult]) -> None:
        seq, item, host, _ = self.running.pop(task)
        self.waiting.finished(host)
        if task.cancelled():
            if not self.stopping:  # not cancelled by the engine: a CancelledError escaped the URL's code
                self.post((seq, internal_error_result(item, asyncio.CancelledError())))
            return  # cancelled by a stop: cancel_all reports it
        try:
            result = task.result()
        except Exception as exc:  # noqa: BLE001 - a URL whose task raised still gets its record, not a gap
            result = internal_error_result(item, exc)
        self.post((seq, result))

    def accept(self, seq: int, result: FetchResult) -> FetchResult | None:
        """Returns the result at once in completion order; buffers it in input order."""
        if self.on_finished is not None:
            self.on_finished(result)
        if not self.in_order:
            return result
        self.buffer.put(seq, result)
        return None

    def ready(self) -> Iterator[FetchResult]:
        """The results whose turn has come (input order; none in completion order)."""
        return self.buffer.ready()

    async def cancel_all(self, reason: str | None = None) -> list[FetchResult]:
        """Cancel every URL in flight; with the stop's ``reason``, return a record for each that
        did not finish first (those that did are left in the done queue): ``Cancelled`` when a
        request of it had been sent, ``NotStarted`` when it was still waiting for its turn
        (``--rate``, ``--per-host``, ``--host-rate``, a slot, a pooled connection): none of it
        reached a server (``queued_ms`` then says how long it waited in the pool, if it did)."""
        self.stopping = True
        tasks = dict(self.running)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if reason is None:
            return []
        unfinished = []
        for task, (seq, item, _, ticket) in tasks.items():
            if task.cancelled():
                if ticket.attempts:
                    result = unfinished_result(
                        item, ErrorType.Cancelled, f"cancelled: stopped by {reason}", ticket, self.settings
                    )
                else:
                    result = unfinished_result(item, ErrorType.NotStarted, f"not started: stopped by {reason}", ticket)
                unfinished.append(self.accept(seq, result))
        return [r for r in unfinished if r is not None]


async def run_fetch(
    items: UrlSource,
    settings: Settings,
    wire: Wire | None,
    stop: Stop | None = None,
    selection: Selection | None = None,
    remote: RemoteFetch | None = None,
    on_finished: Callable[[FetchResult], None] | None = None,
    prepare: Callable[[UrlItem], UrlItem] | None = None,
) -> AsyncGenerator[FetchResult, None]:
    """Like ``fetch`` over a wire (``transport/contract.py``) the caller owns and closes."""
    if selection is None and (settings.shard is not None or settings.unique):
        selection = Selection(settings.shard, settings.unique)
    read = Source(items, selection if selection is not None and selection.active else None)
    addresses = AddressSource(read, settings) if settings.request.all_ips else None  # --all-ips: one per address
    source = addresses or read
    run = _Run(wire, settings, remote, on_finished, prepare, placed=addresses is not None)
    if selection is not None and run.claims is not None:
        # --save: a URL another shard fetches, or one done before (--resume), keeps its name, so
        # that every shard (and every run) agrees that the first in the whole input has it
        selection.on_left_out = run.claims.apart  # its conflict name too, when it would be set apart
    stop = stop or Stop()

    def on_stop() -> None:
        run.post((_WAKE, None))

    stop.subscribe(on_stop)
    timer = None
    if settings.deadline is not None:
        timer = asyncio.get_running_loop().call_later(
            settings.deadline, lambda: stop.request(f"--deadline {settings.deadline:g} s", report_unstarted=True)
        )
        run.ends = timer.when()  # a retry that would wait past it is not waited for (request.py)
    try:
        while stop.reason is None:
            while stop.reason is None:
                if run.waiting and run.has_room():
                    await run.start_next()
                    continue
                if source.exhausted:
                    break
                # A slow pipe must not hold back results: the wait ends when one is posted.
                if addresses is None:
                    if not run.can_read() or (item := await read.next(run.posted)) is None:
                        break
                    if (immediate := run.take(item)) is not None:
                        yield immediate
                    continue
                # --all-ips: past a full window, only the item whose result leaves next
                head_only = not run.can_read()
                if head_only and not run.is_turn(addresses.head):
                    break
                if (item := await addresses.next(run.posted, head_only)) is None:
                    break
                if (immediate := run.take(item, addresses.place)) is not None:
                    yield immediate
            for result in run.ready():
                yield result
            if source.exhausted and not run.running and not run.waiting and run.done.empty():
                return
            seq, finished = await run.done.get()
            while True:
                if finished is not None and (immediate := run.accept(seq, finished)) is not None:
                    yield immediate
                if run.done.empty():
                    run.posted.clear()
                    break
                seq, finished = run.done.get_nowait()
            for result in run.ready():
                yield result
        # Stopped: cancel what is in flight, keep what finished, report the rest.
        for result in await run.cancel_all(stop.reason):
            yield result
        while not run.done.empty():
            seq, finished = run.done.get_nowait()
            if finished is not None and (immediate := run.accept(seq, finished)) is not None:
                yield immediate
        for seq, item in run.waiting.drain():  # read, never started
            result = unfinished_result(item, ErrorType.NotStarted, f"not started: stopped by {stop.reason}")
            if (immediate := run.accept(seq, result)) is not None:
                yield immediate
        for result in run.ready():
            yield result
        # What was taken from the input already (a pipe's read-ahead) is reported; with a
        # deadline, so is the rest of a file. A pipe is not read on: it may never end.
        while (item := await source.rest(stop.report_unstarted)) is not None:
            result = (
                invalid_result(item)
                if item.url is None
                else unfinished_result(item, ErrorType.NotStarted, f"not started: stopped by {stop.reason}")
            )
            seq = run.number(addresses.place if addresses is not None else None)
            if (immediate := run.accept(seq, result)) is not None:
                yield immediate
            for result in run.ready():
                yield result
    finally:
        if timer is not None:
            timer.cancel()
        stop.unsubscribe(on_stop)
        source.close()
        await run.cancel_all()


async def fetch(
    items: UrlSource,
    settings: Settings | None = None,
    *,
    client: httpx.AsyncClient | None = None,
    stop: Stop | None = None,
    selection: Selection | None = None,
    remote: RemoteFetch | None = None,
    on_finished: Callable[[FetchResult], None] | None = None,
    prepare: Callable[[UrlItem], UrlItem] | None = None,
) -> AsyncGenerator[FetchResult, None]:
    """Fetch every URL in ``items`` (strings or ``UrlItem``s, sync or async) and yield one
    ``FetchResult`` each, in input order unless ``settings.order`` is ``completion``.

    ``async for result in fetch(["https://example.com"]): ...``. The client is built from
    ``settings`` unless given, and then closed at the end. ``stop`` ends the run early.
    ``settings.shard`` and ``settings.unique`` choose which URLs are fetched; ``selection``
    (a ``fetchcli.engine.selection.Selection``) does that too, with a resume set (``fetchcli.input.resume``),
    and counts what it left out. ``on_finished`` is called with each record as soon as it is
    made, before it waits for its turn in input order (a progress count of URLs done).
    ``prepare`` is given each valid URL chosen, before it waits for a slot, and returns the item
    to fetch (``--conditional`` adds the validators a state file holds).
    """
    settings = settings or Settings()
    if remote is not None:  # --workers, whose processes have the wires
        async with aclosing(run_fetch(items, settings, None, stop, selection, remote, on_finished, prepare)) as results:
            async for result in results:
                yield result
        return
    if client is not None:
        from fetchcli.transport.httpxwire import HttpxWire, connects_by

        connects_by(client, settings.request)  # --resolve, -4/-6, --all-ips... it would ignore: an error
        wire: Wire = HttpxWire(client)  # the caller's: not closed here
    else:
        from fetchcli.transport.wires import build_wire

        wire = build_wire(settings)
    try:
        async with aclosing(run_fetch(items, settings, wire, stop, selection, None, on_finished, prepare)) as results:
            async for result in results:
                yield result
    finally:
        await wire.aclose()
