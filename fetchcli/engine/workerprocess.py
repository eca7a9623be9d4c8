"""A ``--workers`` worker process: it fetches what its parent sends (``request.fetch_one``, with
its own event loop, client and politeness gate) until its stdin ends, and sends each record back
(``workerframes``). Records go on what was its stdout; its stdout itself becomes stderr, so that a
stray print cannot put the stream out of step. Started by ``workers.worker_command``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os

from fetchcli.engine.ticket import Ticket
from fetchcli.engine.workerframes import READY, frame, read_frame
from fetchcli.models import FetchResult, UrlItem
from fetchcli.settings import Settings


async def _serve(protocol_fd: int) -> None:
    """A worker: fetch what the parent sends, until its stdin ends; records go to ``protocol_fd``."""
    from fetchcli.engine import request
    from fetchcli.engine.politeness import Gate, Lane
    from fetchcli.engine.records import internal_error_result
    from fetchcli.transport.wires import build_wire

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0))
    transport, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(protocol_fd, "wb", buffering=0))
    settings: Settings | None = await read_frame(reader)
    if settings is None:
        return
    polite = settings.politeness
    gate = Gate(polite.per_host, polite.rate, polite.host_rate)
    slots = asyncio.Semaphore(1 << 20)  # the parent bounds what is in flight; lanes only park here
    tasks: dict[int, asyncio.Task[FetchResult]] = {}
    cancelled: set[int] = set()  # the parent's "cancel": it has its record, no answer is due

    def finished(seq: int, item: UrlItem, ticket: Ticket, task: asyncio.Task[FetchResult]) -> None:
        tasks.pop(seq, None)
        asked = seq in cancelled
        cancelled.discard(seq)
        if task.cancelled():
            if asked:
                if not closing:
                    transport.write(frame((seq, ticket.attempts)))  # the tries its record counts
                return
            result = internal_error_result(item, asyncio.CancelledError())  # not ours: a fault
        else:
            try:
                result = task.result()
            except Exception as exc:  # noqa: BLE001 - the parent awaits a record for every URL it sent
                result = internal_error_result(item, exc)
        try:
            message = frame((seq, result))
        except Exception as exc:  # noqa: BLE001 - a record that cannot be sent is still answered
            message = frame((seq, internal_error_result(item, exc)))
        transport.write(message)

    async def one(item: UrlItem, ticket: Ticket) -> FetchResult:
        await slots.acquire()  # the ticket's wait (queued_ms) includes this and the politeness gate
        lane = Lane(slots, lambda: None)
        try:
            return await request.fetch_one(wire, item, settings, lane, gate if gate.active else None, ticket)
        finally:
            lane.release()

    closing = False
    wire = build_wire(settings)
    try:
        transport.write(frame((READY, None)))
        while (message := await read_frame(reader)) is not None:
            if message[0] == "fetch":
                _, seq, item, left = message
                ticket = Ticket(ends=None if left is None else loop.time() + left)
                task = asyncio.create_task(one(item, ticket))
                tasks[seq] = task
                task.add_done_callback(functools.partial(finished, seq, item, ticket))
            elif message[0] == "cancel" and message[1] in tasks and tasks[message[1]].cancel():
                cancelled.add(message[1])
        closing = True
        cancelled.update(tasks)  # the parent is gone: nothing more is answered
        for task in list(tasks.values()):
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    finally:
        await wire.aclose()
    transport.close()


def main() -> None:
    from fetchcli.engine.eventloop import run_loop

    # Records go to the parent on what was fd 1; fd 1 itself (and so sys.stdout) becomes stderr,
    # so that a stray write to stdout (a library's print) cannot put the stream out of step.
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    with contextlib.suppress(KeyboardInterrupt):  # a worker is in its own session: not expected
        run_loop(_serve(protocol_fd), 32)


if __name__ == "__main__":
    main()
