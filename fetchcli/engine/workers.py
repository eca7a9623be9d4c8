"""``--workers P``: one run over P worker processes, each with its own event loop and client,
so that a run can use every core (fetchcli's CPU per request is mostly Python, held by one GIL).

The engine stays in the parent: it reads the input, admits URLs under the whole run's ``-c``,
keeps the reorder window, the deadline, signals and the summary, exactly as with one process;
only the fetching of each URL (``request.fetch_one``) runs in a worker. So every flag keeps its
meaning for the whole run: ``-c`` is the parent's, ``--max-connections`` and ``--rate`` are
split between the workers (their sum is the flag's value), and when ``--per-host`` or
``--host-rate`` is set each host is routed to one worker, which enforces them whole (and
``--rate`` is then the parent's, which paces the URLs it hands out); with
``--rate`` alone the workers take URLs in turn (each paces its share, so the rates add up to the
flag's only when each gets its share of the URLs); otherwise a URL goes to its host's worker (by a hash of the host: where connections to it may be idle),
unless that worker is out of connections or has more in flight than the least busy by a quarter
of its share, and then to the least busy (so a list of one host still keeps every worker busy).

A worker is started isolated from the working directory (``worker_command``): ``python -m``
would put the directory the user runs fetchcli from first on ``sys.path``, and a ``fetchcli/``
folder or ``fetchcli.py`` there (a clone in ``$HOME``, where cron jobs run) would be imported by
every worker. This module is the parent's side (``WorkerPool``); the worker's own loop is
``workerprocess``, and what the two say to each other ``workerframes``: the settings first, then
URLs to fetch and cancels; back a record per URL, or the tries made by a URL cancelled (which its
record counts). A record's ``queued_ms`` is the worker's (its
politeness and pool waits) plus the parent's (from reading the URL to sending it to the worker). A worker runs in its own session (a Ctrl-C at the terminal
goes to the parent alone, which cancels what is in flight), and ends when its stdin closes, so
workers never outlive a parent killed with ``kill -9``. A worker that dies (or cannot start)
fails the URLs it had with an ``Unexpected`` record that quotes the last line it wrote to stderr
(kept, bounded, by the parent), and the parent says so once on its own stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from fetchcli.engine.politeness import Pacer
from fetchcli.engine.routing import Router
from fetchcli.engine.ticket import Ticket
from fetchcli.engine.workerframes import READY, GarbledFrame, frame, read_frame
from fetchcli.errortype import ErrorType
from fetchcli.models import ErrorInfo, FetchResult, UrlItem
from fetchcli.redact import Redactor
from fetchcli.settings import PolitenessSettings, PoolSettings, Settings

STDERR_KEPT = 4096  # bytes of a worker's stderr the parent keeps (the end), for its last line
STDERR_SHOWN = 300  # characters of that line shown in a record and on stderr
CANCEL_ANSWER_WAIT = 2.0  # seconds a cancelled URL waits for its worker to say how many tries it made

# How a worker starts. Not ``python -m fetchcli.engine.workerprocess``: ``-m`` (like ``-c``) puts the working
# directory first on sys.path. ``-P`` would keep it off, but only from Python 3.11; ``-I`` does on
# every version, but it also drops PYTHONPATH and the user's site-packages, where fetchcli or its
# dependencies may be (``pip install --user``, a PYTHONPATH checkout). So: ``python -I -c`` this
# bootstrap, given the parent's own import path (``import_path``) and the folder of the fetchcli
# package the parent runs. The bootstrap loads that package from that folder (not whatever a
# search of sys.path finds first), so a worker runs the very code its parent runs, and sys.path
# is otherwise the parent's, in the parent's order, without the working directory.
BOOTSTRAP = """\
import importlib.util, sys
package, sys.path[:] = sys.argv[1], sys.argv[2:]
spec = importlib.util.spec_from_file_location(
    "fetchcli", package + "/__init__.py", submodule_search_locations=[package]
)
module = importlib.util.module_from_spec(spec)
sys.modules["fetchcli"] = module
spec.loader.exec_module(module)
from fetchcli.engine.workerprocess import main
main()
"""


def import_path() -> list[str]:
    """The parent's sys.path without the working directory that ``-m`` or ``-c`` put first
    (``''``, or the directory itself as ``sys.path[0]``); entries the user set (PYTHONPATH, .pth
    files, site-packages) are kept, in order."""
    cwd = os.path.realpath(os.getcwd())
    entries = [entry for entry in sys.path if entry != ""]
    if entries and sys.path[0] != "" and not getattr(sys.flags, "safe_path", False):
        with contextlib.suppress(OSError):
            if os.path.realpath(entries[0]) == cwd:
                entries.pop(0)
    return entries


def worker_command() -> list[str]:
    """The command that starts one worker (see ``BOOTSTRAP``)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # fetchcli/, above engine/
    return [sys.executable, "-I", "-c", BOOTSTRAP, package, *import_path()]


class UnknownErrorType(Exception):
    """A worker's record whose ``error.type`` is not in the vocabulary (a fault of fetchcli's)."""


def worker_count(settings: Settings) -> int:
    """Workers actually started: no more than connections to share out."""
    return max(1, min(settings.workers, settings.pool.max_connections))


def parent_paces(settings: Settings) -> bool:
    """Whether ``--rate`` is kept by the parent: with ``--per-host`` or ``--host-rate`` each host
    goes to one worker, which may so get every URL: at its share of the rate (rate / P), the run
    would send P times fewer requests than asked."""
    polite = settings.politeness
    return polite.rate is not None and (polite.per_host is not None or polite.host_rate is not None)


def worker_settings(settings: Settings, count: int) -> Settings:
    """One worker's share: connections and the overall rate split (their sums are the flags'
    values; when ``parent_paces``, the parent keeps the run to the rate); per-host limits whole
    (a host is routed to one worker when they are set)."""
    pool, polite = settings.pool, settings.politeness
    # When the parent paces, a worker paces at the whole rate too: what the parent handed out
    # while the worker was starting is not sent in a burst.
    rate = polite.rate if parent_paces(settings) or polite.rate is None else polite.rate / count
    connections = max(1, pool.max_connections // count)
    keepalive = None if pool.max_keepalive is None else max(0, pool.max_keepalive // count)
    return dataclasses.replace(
        settings,
        pool=PoolSettings(max_connections=connections, max_keepalive=keepalive, keepalive_expiry=pool.keepalive_expiry),
        politeness=PolitenessSettings(
            per_host=polite.per_host,
            rate=rate,
            host_rate=polite.host_rate,
        ),
        concurrency=None,
        deadline=None,
        shard=None,
        unique=False,
        workers=1,
    )


class _Worker:
    def __init__(self, number: int, process: asyncio.subprocess.Process, redact: Callable[[str], str] = str) -> None:
        self.number = number
        self.redact = redact  # the run's secrets out of what it wrote (a URL, a header in a traceback)
        self.process = process
        self.inflight = 0
        self.routed = 0  # URLs sent to it (with --rate alone, each worker gets them in turn)
        self.alive = True
        self.reading: asyncio.Task[None] | None = None
        self.stderr = b""  # the end of what it wrote to stderr (STDERR_KEPT bytes at most)
        self.garbled: str | None = None  # what it sent that the parent could not read
        self.stderr_read: asyncio.Task[None] | None = None
        self.death: str | None = None  # why it is gone, once it is
        self.gone = asyncio.Event()  # set once it is gone and ``death`` says why
        self.ready = asyncio.Event()  # its client is built: what it is sent now goes out at once

    async def keep_stderr(self) -> None:
        """Read the worker's stderr to its end (so it never blocks on a full pipe), keeping the end."""
        assert self.process.stderr is not None
        with contextlib.suppress(ConnectionError):
            while chunk := await self.process.stderr.read(STDERR_KEPT):
                self.stderr = (self.stderr + chunk)[-STDERR_KEPT:]

    def last_stderr_line(self) -> str:
        """Its last non-blank line on stderr, made safe to show (the run's redactor, then the one
        sanitiser) and bounded."""
        from fetchcli.text import clean_line

        lines = self.stderr.decode("utf-8", "replace").splitlines()
        last = next((line for line in reversed(lines) if line.strip()), "")
        return clean_line(self.redact(last), STDERR_SHOWN)

    def describe_death(self) -> str:
        status = self.process.returncode
        if self.garbled is not None:
            how = f"sent {self.garbled} and was stopped"
        elif status is None:
            how = "stopped answering"
        elif status < 0:
            try:
                how = f"was killed by {signal.Signals(-status).name}"
            except ValueError:
                how = f"was killed by signal {-status}"
        else:
            how = f"exited (status {status})"
        line = self.last_stderr_line()
        return f"worker process {self.number + 1} {how}" + (f": {line}" if line else "")


class WorkerPool:
    """The parent's side: ``fetch(item)`` sends a URL to a worker and awaits its record."""

    def __init__(self, settings: Settings, notice: Callable[[str], None] | None = None) -> None:
        """``notice``: told once, in a line, of each worker that dies (or cannot start)."""
        self.count = worker_count(settings)
        self._notice = notice
        self._closing = False
        self._settings = worker_settings(settings, self.count)
        self._redact = Redactor.for_request(settings.request)
        # With --rate and hosts routed, the parent paces every URL it hands out (worker_settings).
        rate = settings.politeness.rate
        self._pacer = Pacer(rate) if rate is not None and parent_paces(settings) else None
        self.router = Router(settings, self.count, self._settings.pool.max_connections)
        self._workers: list[_Worker] = []
        self._pending: dict[int, tuple[asyncio.Future[FetchResult], _Worker, UrlItem]] = {}
        self._next_seq = 0

    async def __aenter__(self) -> WorkerPool:
        command = worker_command()
        for number in range(self.count):
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )  # fmt: skip
            worker = _Worker(number, process, self._redact)
            assert process.stdin is not None
            process.stdin.write(frame(self._settings))
            worker.stderr_read = asyncio.create_task(worker.keep_stderr())
            worker.reading = asyncio.create_task(self._read(worker))
            self._workers.append(worker)
        return self

    async def fetch(self, item: UrlItem, ticket: Ticket | None = None) -> FetchResult:
        """``item``'s record, fetched by a worker; ``ticket`` (the engine's): when the URL was
        read, the run's deadline, and, if the URL is cancelled, the tries the worker had made."""
        worker = self.router.choose(item, self._workers)
        worker.routed += 1
        if self._pacer is not None:  # cancelled here: never sent, the ticket says no tries
            if not worker.ready.is_set():  # what it was sent while starting would go out at once
                waits = [asyncio.ensure_future(worker.ready.wait()), asyncio.ensure_future(worker.gone.wait())]
                await _first_of(waits)
            await self._pacer.turn()
        if not worker.alive:
            await worker.gone.wait()
            return _died(item, worker)
        seq = self._next_seq
        self._next_seq += 1
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending[seq] = (future, worker, item)
        worker.inflight += 1
        assert worker.process.stdin is not None
        left = ticket.ends - loop.time() if ticket is not None and ticket.ends is not None else None
        dispatched = time.perf_counter()
        try:
            worker.process.stdin.write(frame(("fetch", seq, item, left)))
            # Shielded: a cancel of this task leaves the future to the answer. The worker's record
            # may reach the pipe in the same turn as the cancel and be read first; it must not
            # find the future cancelled and be dropped (the URL then waited in vain for an answer
            # to its "cancel" and was reported NotStarted though the server had answered it).
            result = await asyncio.shield(future)
        except asyncio.CancelledError:
            if worker.alive and worker.process.stdin is not None:
                worker.process.stdin.write(frame(("cancel", seq)))
                if ticket is not None:  # the worker answers the cancel with the tries it made
                    await _tries_of_cancelled(future, ticket)
            raise
        finally:
            self._pending.pop(seq, None)
            worker.inflight -= 1
        result = _typed(result, item)
        if ticket is not None and result.queued_ms is not None:  # plus the parent's part
            waited = round((dispatched - ticket.admitted) * 1000, 1)
            result = dataclasses.replace(result, queued_ms=round(result.queued_ms + waited, 1))
        assert isinstance(result, FetchResult)
        return result

    async def _read(self, worker: _Worker) -> None:
        assert worker.process.stdout is not None
        try:
            while (message := await read_frame(worker.process.stdout)) is not None:
                seq, result = message
                if seq == READY:
                    worker.ready.set()
                    continue
                entry = self._pending.get(seq)
                if entry is not None and not entry[0].done():
                    entry[0].set_result(result)
        except (GarbledFrame, TypeError, ValueError) as exc:  # out of step: stop it, fail its URLs
            worker.garbled = str(exc) if isinstance(exc, GarbledFrame) else "a message that is not a record"
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()
        worker.alive = False  # nothing more is sent to it
        if self._closing:
            worker.gone.set()
            return  # told to end: it did
        await self._gone(worker)
        for future, owner, item in list(self._pending.values()):
            if owner is worker and not future.done():
                future.set_result(_died(item, worker))

    async def _gone(self, worker: _Worker) -> None:
        """A worker died, or could not start: say why, once (its exit status and the last line
        it wrote to stderr, which may take a moment to come)."""
        if worker.death is None:
            assert worker.stderr_read is not None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(worker.process.wait(), asyncio.shield(worker.stderr_read)), 5)
        if worker.death is not None:
            return  # said already
        worker.death = worker.describe_death()
        worker.gone.set()
        if self._notice is not None:
            self._notice(f"fetchcli: error: {worker.death}; its URLs are reported as Unexpected")

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
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
            else:
                if worker.process.returncode != 0:
                    await self._gone(worker)  # died before the end, with nothing of the run's in hand
            for task in (worker.reading, worker.stderr_read):
                if task is not None:
                    task.cancel()


async def _first_of(waits: Sequence[asyncio.Future[Any]]) -> None:
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def _tries_of_cancelled(answer: asyncio.Future[Any], ticket: Ticket) -> None:
    """A URL cancelled in the parent: its worker's answer to the cancel (the tries it made, or
    the record it had just sent) goes on the ticket, whose ``attempts`` the Cancelled record
    shows. Waited for briefly: a worker that does not answer leaves it at 0."""
    with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
        said = await asyncio.wait_for(asyncio.shield(answer), CANCEL_ANSWER_WAIT)
        ticket.attempts = said.attempts if isinstance(said, FetchResult) else int(said)


def _typed(result: FetchResult, item: UrlItem) -> FetchResult:
    """A worker's record with its ``error.type`` an ``ErrorType``. A member comes back from the
    pickle as one (its name is what the frame carries); text in its place (a worker's fault) is
    read back into the vocabulary, and a name outside it makes the record the URL's internal
    error (``Unexpected``, which the run reports as one), never a type docs/records.md does not list."""
    error = result.error
    if error is None or type(error.type) is ErrorType:
        return result
    known = ErrorType.named(error.type)
    if known is None:
        from fetchcli.engine.records import internal_error_result

        return internal_error_result(item, UnknownErrorType())
    return dataclasses.replace(result, error=ErrorInfo(known, error.message))


def _died(item: UrlItem, worker: _Worker) -> FetchResult:
    from fetchcli.engine.records import unfinished_result

    return unfinished_result(item, ErrorType.Unexpected, worker.death or worker.describe_death())
