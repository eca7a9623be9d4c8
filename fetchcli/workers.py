"""``--workers P``: one run over P worker processes, each with its own event loop and client,
so that a run can use every core (fetchcli's CPU per request is mostly Python, held by one GIL).

The engine stays in the parent: it reads the input, admits URLs under the whole run's ``-c``,
keeps the reorder window, the deadline, signals and the summary, exactly as with one process;
only the fetching of each URL (``request.fetch_one``) runs in a worker. So every flag keeps its
meaning for the whole run: ``-c`` is the parent's, ``--max-connections`` and ``--rate`` are
split between the workers (their sum is the flag's value), and when ``--per-host`` or
``--host-rate`` is set each host is routed to one worker, which enforces them whole; otherwise a
URL goes to its host's worker (by a hash of the host: where connections to it may be idle),
unless that worker is out of connections or has more in flight than the least busy by a quarter
of its share, and then to the least busy (so a list of one host still keeps every worker busy).

Protocol: length-prefixed pickles over the worker's stdin and stdout (``python -m
fetchcli.workers``): the settings first; then ``("fetch", seq, UrlItem)`` and ``("cancel",
seq)``; back ``(seq, FetchResult)``. A worker runs in its own session (a Ctrl-C at the terminal
goes to the parent alone, which cancels what is in flight), and ends when its stdin closes, so
workers never outlive a parent killed with ``kill -9``. A worker that dies fails the URLs it had
with an ``Unexpected`` record.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import pickle
import struct
import sys
from typing import Any

from fetchcli.admission import host_of
from fetchcli.models import FetchResult, UrlItem
from fetchcli.selection import url_hash
from fetchcli.settings import PolitenessSettings, PoolSettings, Settings

_LENGTH = struct.Struct("!I")


def frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next message, or None at the end of the stream."""
    try:
        head = await reader.readexactly(_LENGTH.size)
        return pickle.loads(await reader.readexactly(_LENGTH.unpack(head)[0]))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


def worker_count(settings: Settings) -> int:
    """Workers actually started: no more than connections to share out."""
    return max(1, min(settings.workers, settings.pool.max_connections))


def worker_settings(settings: Settings, count: int) -> Settings:
    """One worker's share: connections and the overall rate split (their sums are the flags'
    values); per-host limits whole (a host is routed to one worker when they are set)."""
    pool, polite = settings.pool, settings.politeness
    connections = max(1, pool.max_connections // count)
    keepalive = None if pool.max_keepalive is None else max(0, pool.max_keepalive // count)
    return dataclasses.replace(
        settings,
        pool=PoolSettings(max_connections=connections, max_keepalive=keepalive, keepalive_expiry=pool.keepalive_expiry),
        politeness=PolitenessSettings(
            per_host=polite.per_host,
            rate=polite.rate / count if polite.rate is not None else None,
            host_rate=polite.host_rate,
        ),
        concurrency=None,
        deadline=None,
        shard=None,
        unique=False,
        workers=1,
    )


class _Worker:
    def __init__(self, number: int, process: asyncio.subprocess.Process) -> None:
        self.number = number
        self.process = process
        self.inflight = 0
        self.alive = True
        self.reading: asyncio.Task[None] | None = None


class WorkerPool:
    """The parent's side: ``fetch(item)`` sends a URL to a worker and awaits its record."""

    def __init__(self, settings: Settings) -> None:
        self.count = worker_count(settings)
        self._settings = worker_settings(settings, self.count)
        self._by_host = settings.politeness.per_host is not None or settings.politeness.host_rate is not None
        self._connections_each = self._settings.pool.max_connections
        self._slack = max(1, settings.effective_concurrency // self.count // 4)
        self._workers: list[_Worker] = []
        self._pending: dict[int, tuple[asyncio.Future[FetchResult], _Worker, UrlItem]] = {}
        self._next_seq = 0

    async def __aenter__(self) -> WorkerPool:
        for number in range(self.count):
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "fetchcli.workers",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
            worker = _Worker(number, process)
            assert process.stdin is not None
            process.stdin.write(frame(self._settings))
            worker.reading = asyncio.create_task(self._read(worker))
            self._workers.append(worker)
        return self

    def _route(self, item: UrlItem) -> _Worker:
        alive = [w for w in self._workers if w.alive] or self._workers
        least = min(alive, key=lambda w: w.inflight)
        if item.url is None:
            return least
        # The host as pools key connections and the worker's Gate counts (no port, no userinfo).
        home = alive[url_hash(host_of(item.url)) % len(alive)]
        if self._by_host:
            return home  # one worker sees every request the limits are about
        if home.inflight < self._connections_each and home.inflight <= least.inflight + self._slack:
            return home  # its connections to the host may be idle (admission.py starts such URLs)
        return least

    async def fetch(self, item: UrlItem) -> FetchResult:
        worker = self._route(item)
        if not worker.alive:
            return _died(item, worker)
        seq = self._next_seq
        self._next_seq += 1
        future: asyncio.Future[FetchResult] = asyncio.get_running_loop().create_future()
        self._pending[seq] = (future, worker, item)
        worker.inflight += 1
        assert worker.process.stdin is not None
        try:
            worker.process.stdin.write(frame(("fetch", seq, item)))
            return await future
        except asyncio.CancelledError:
            if worker.alive and worker.process.stdin is not None:
                worker.process.stdin.write(frame(("cancel", seq)))
            raise
        finally:
            self._pending.pop(seq, None)
            worker.inflight -= 1

    async def _read(self, worker: _Worker) -> None:
        assert worker.process.stdout is not None
        while (message := await read_frame(worker.process.stdout)) is not None:
            seq, result = message
            entry = self._pending.get(seq)
            if entry is not None and not entry[0].done():
                entry[0].set_result(result)
        worker.alive = False
        for future, owner, item in list(self._pending.values()):
            if owner is worker and not future.done():
                future.set_result(_died(item, worker))

    async def __aexit__(self, *exc: object) -> None:
        for worker in self._workers:
            stdin = worker.process.stdin
            if stdin is not None and not stdin.is_closing():
                stdin.close()  # the end of its input: the worker cancels what it has and exits
        for worker in self._workers:
            try:
                await asyncio.wait_for(worker.process.wait(), 10)
            except asyncio.TimeoutError:
                worker.process.kill()
                await worker.process.wait()
            if worker.reading is not None:
                worker.reading.cancel()


def _died(item: UrlItem, worker: _Worker) -> FetchResult:
    from fetchcli.request import unfinished_result

    status = worker.process.returncode
    return unfinished_result(item, "Unexpected", f"worker process {worker.number + 1} exited (status {status})")


async def _serve() -> None:
    """A worker: fetch what the parent sends, until its stdin ends."""
    from fetchcli.client import build_client
    from fetchcli.politeness import Gate, Lane
    from fetchcli.request import fetch_one

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0))
    transport, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(1, "wb", buffering=0))
    settings: Settings | None = await read_frame(reader)
    if settings is None:
        return
    polite = settings.politeness
    gate = Gate(polite.per_host, polite.rate, polite.host_rate)
    slots = asyncio.Semaphore(1 << 20)  # the parent bounds what is in flight; lanes only park here
    tasks: dict[int, asyncio.Task[FetchResult]] = {}

    def finished(seq: int, task: asyncio.Task[FetchResult]) -> None:
        tasks.pop(seq, None)
        if not task.cancelled():
            transport.write(frame((seq, task.result())))

    async def one(item: UrlItem) -> FetchResult:
        await slots.acquire()
        lane = Lane(slots, lambda: None)
        try:
            return await fetch_one(client, item, settings, lane, gate if gate.active else None)
        finally:
            lane.release()

    async with build_client(settings) as client:
        while (message := await read_frame(reader)) is not None:
            if message[0] == "fetch":
                _, seq, item = message
                task = asyncio.create_task(one(item))
                tasks[seq] = task
                task.add_done_callback(functools.partial(finished, seq))
            elif message[0] == "cancel" and message[1] in tasks:
                tasks[message[1]].cancel()
        for task in list(tasks.values()):
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    transport.close()


def main() -> None:
    from fetchcli.runner import run_loop

    with contextlib.suppress(KeyboardInterrupt):  # a worker is in its own session: not expected
        run_loop(_serve(), 32)


if __name__ == "__main__":
    main()
