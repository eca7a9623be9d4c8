"""Glue between the CLI and the core: open the inputs, run the engine, feed a sink, fold a
summary, and decide the exit status. Streams and "is a terminal" are injected (``Environment``)
so tests can cover terminal and pipe behaviour without a pty."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import sys
import tempfile
import time
from collections.abc import AsyncIterable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from fetchcli.errors import ExitStatus
from fetchcli.models import Summary, UrlItem
from fetchcli.render import Sink, make_sink
from fetchcli.settings import OutputFormat, Settings, SettingsError
from fetchcli.sources import FdLineReader, ThreadedSource, iter_all, iter_binary_lines

if TYPE_CHECKING:
    from fetchcli.engine import Stop


@dataclass
class Environment:
    """The outside world of one run; defaults are the real process streams."""

    stdin: BinaryIO = field(default_factory=lambda: sys.stdin.buffer)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdin_isatty: bool | None = None
    stdout_isatty: bool | None = None
    stderr_isatty: bool | None = None

    def __post_init__(self) -> None:
        if self.stdin_isatty is None:
            self.stdin_isatty = _isatty(self.stdin)
        if self.stdout_isatty is None:
            self.stdout_isatty = _isatty(self.stdout)
        if self.stderr_isatty is None:
            self.stderr_isatty = _isatty(self.stderr)


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


def _is_regular_file(stream: BinaryIO) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):
        return True  # an in-memory stream never blocks


@dataclass(frozen=True)
class OutputOptions:
    format: OutputFormat | None = None  # None: table on a terminal, jsonl otherwise
    path: str | None = None
    quiet: bool = False
    fsync: bool = False

    @property
    def to_stdout(self) -> bool:
        return self.path is None or self.path == "-"


class Inputs:
    """Opens every ``--input`` up front (so a missing file is a usage error before any
    request), then yields lines lazily."""

    def __init__(self, urls: Sequence[str], paths: Sequence[str], env: Environment, stack: ExitStack) -> None:
        self.groups: list[Iterable[str]] = [list(urls)] if urls else []
        self.blocking = False
        use_stdin = not urls and not paths and not env.stdin_isatty
        for path in [*paths, *(["-"] if use_stdin else [])]:
            stream = env.stdin if path == "-" else self._open(path, stack)
            if _is_regular_file(stream):
                self.groups.append(iter_binary_lines(stream))
                continue
            self.blocking = True  # a pipe or terminal: read in a thread, straight from the fd
            self.groups.append(iter_binary_lines(FdLineReader(stream.fileno())))
        if not self.groups:
            raise SettingsError("URL", "missing: give URLs as arguments, with --input FILE, or on stdin")

    @staticmethod
    def _open(path: str, stack: ExitStack) -> BinaryIO:
        try:
            return stack.enter_context(open(path, "rb"))
        except OSError as exc:
            raise SettingsError("--input", f"cannot read {path!r}: {exc.strerror or exc}") from None

    def items(self) -> Iterator[UrlItem]:
        return iter_all(self.groups)


class _Output:
    """Where records go. ``-o FILE`` in ``json`` or ``table`` is written to a temporary file
    beside FILE and renamed into place by ``commit``, so a crash never leaves half a file;
    ``jsonl`` is written in place, a whole line at a time (``--fsync`` to sync each)."""

    def __init__(self, options: OutputOptions, fmt: OutputFormat, env: Environment, stack: ExitStack) -> None:
        self._final: str | None = None
        self._temp: str | None = None
        if options.to_stdout or options.path is None:
            self.stream: TextIO = env.stdout
            return
        try:
            if fmt is OutputFormat.jsonl:
                self.stream = stack.enter_context(open(options.path, "w", encoding="utf-8", newline="\n"))  # noqa: SIM115
                return
            folder, name = os.path.split(os.path.abspath(options.path))
            fd, self._temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        except OSError as exc:
            raise SettingsError("--output", f"cannot write {options.path!r}: {exc.strerror or exc}") from None
        self._final = options.path
        self.stream = stack.enter_context(open(fd, "w", encoding="utf-8", newline="\n"))  # noqa: SIM115
        stack.callback(self._discard)

    def commit(self) -> None:
        if self._temp is not None and self._final is not None:
            self.stream.flush()
            os.fsync(self.stream.fileno())
            os.replace(self._temp, self._final)
            self._temp = None

    def _discard(self) -> None:
        if self._temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._temp)


def choose_format(options: OutputOptions, to_terminal: bool) -> OutputFormat:
    if options.format is not None:
        return options.format
    return OutputFormat.table if to_terminal else OutputFormat.jsonl


def _use_color(env: Environment, to_terminal: bool) -> bool:
    return to_terminal and "NO_COLOR" not in os.environ


@dataclass
class _RunState:
    summary: Summary = field(default_factory=Summary)
    signal: int | None = None


_SIGNAL_EXIT = {signal.SIGINT: ExitStatus.INTERRUPTED, signal.SIGTERM: ExitStatus.TERMINATED}


def execute(
    settings: Settings, urls: Sequence[str], paths: Sequence[str], options: OutputOptions, env: Environment
) -> int:
    """Run one invocation; returns the exit status. ``SettingsError`` is the caller's to report."""
    from fetchcli.client import uses_aiohttp

    uses_aiohttp(settings)  # a backend that cannot serve these settings is a usage error, up front
    state = _RunState()
    with ExitStack() as stack:
        inputs = Inputs(urls, paths, env, stack)
        to_terminal = options.to_stdout and bool(env.stdout_isatty)
        fmt = choose_format(options, to_terminal)
        output = _Output(options, fmt, env, stack)
        sink = make_sink(
            fmt, output.stream, color=fmt is OutputFormat.table and _use_color(env, to_terminal), fsync=options.fsync
        )
        started = time.perf_counter()
        try:
            _run_loop(_consume(settings, inputs, sink, state), settings.effective_concurrency)
        except KeyboardInterrupt:  # before the loop could install its handler
            state.signal = signal.SIGINT
        summary = state.summary
        summary.elapsed_s = time.perf_counter() - started
        sink.close(summary)
        output.commit()
        interrupted = state.signal is not None
        if summary.total == 0 and not interrupted:
            env.stderr.write("fetchcli: warning: no URLs to fetch\n")
        elif not options.quiet and (env.stderr_isatty or interrupted):
            name = signal.Signals(state.signal).name if state.signal is not None else ""
            env.stderr.write((f"interrupted by {name}: " if interrupted else "") + summary.describe() + "\n")
        env.stderr.flush()
    if state.signal is not None:
        return _SIGNAL_EXIT.get(signal.Signals(state.signal), ExitStatus.INTERRUPTED)
    return ExitStatus.OK if summary.failed == 0 else ExitStatus.FAILURES


@contextlib.contextmanager
def _signal_handlers(stop: Stop, state: _RunState) -> Iterator[None]:
    """First SIGINT/SIGTERM: stop starting, cancel in flight, flush, exit 130/143.

    Plain ``signal.signal`` handlers, not the loop's: they run even while the main thread is
    blocked writing to a full pipe. After the first SIGINT the default action is restored, so
    a second Ctrl-C ends the process at once, whatever it is doing."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int, frame: object) -> None:
        if state.signal is not None:
            return
        state.signal = signum
        loop.call_soon_threadsafe(stop.request, signal.Signals(signum).name)
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.SIG_DFL)

    previous: dict[signal.Signals, Any] = {}
    for signum in _SIGNAL_EXIT:
        with contextlib.suppress(ValueError, OSError):  # not the main thread, or no such signal
            previous[signum] = signal.signal(signum, on_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


async def _consume(settings: Settings, inputs: Inputs, sink: Sink, state: _RunState) -> None:
    from fetchcli.engine import Stop, fetch

    stop = Stop()
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=settings.resolver_threads, thread_name_prefix="fetchcli")
    )
    lines = inputs.items()
    items: Iterable[UrlItem] | AsyncIterable[UrlItem] = ThreadedSource(lines) if inputs.blocking else lines
    with _signal_handlers(stop, state):
        async with aclosing(fetch(items, settings, stop=stop)) as results:
            async for result in results:
                sink.write(result)
                state.summary.add(result)


def _size_resolver_threads(threads: int) -> None:
    """Name lookups of the httpx backend go to the loop's thread pool: make it as wide as the
    concurrency, so many distinct hosts do not queue behind a few threads (the aiohttp
    backend has its own pool, see aio.py)."""
    os.environ.setdefault("UV_THREADPOOL_SIZE", str(min(max(threads, 4), 1024)))  # uvloop's (libuv's) pool


def _run_loop(coro: object, threads: int) -> None:
    """Run on uvloop when it is installed (faster), unless FETCHCLI_LOOP=asyncio."""
    _size_resolver_threads(threads)
    if os.environ.get("FETCHCLI_LOOP", "auto") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(coro)  # type: ignore[arg-type]
            return
    asyncio.run(coro)  # type: ignore[arg-type]
