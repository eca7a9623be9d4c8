"""Glue between the CLI and the core: open the inputs, run the engine, feed a sink, fold a
summary, and decide the exit status. Streams and "is a terminal" are injected (``Environment``)
so tests can cover terminal and pipe behaviour without a pty."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import time
from collections.abc import AsyncIterable, Iterable, Iterator, Sequence
from contextlib import ExitStack, aclosing
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

from fetchcli.errors import ExitStatus
from fetchcli.models import Summary, UrlItem
from fetchcli.render import make_sink
from fetchcli.settings import OutputFormat, Settings, SettingsError
from fetchcli.sources import in_thread, iter_all, iter_binary_lines


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


class Inputs:
    """Opens every ``--input`` up front (so a missing file is a usage error before any
    request), then yields lines lazily."""

    def __init__(self, urls: Sequence[str], paths: Sequence[str], env: Environment, stack: ExitStack) -> None:
        self.groups: list[Iterable[str]] = [list(urls)] if urls else []
        self.blocking = False
        use_stdin = not urls and not paths and not env.stdin_isatty
        for path in [*paths, *(["-"] if use_stdin else [])]:
            stream = env.stdin if path == "-" else self._open(path, stack)
            self.blocking = self.blocking or not _is_regular_file(stream)
            self.groups.append(iter_binary_lines(stream))
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


def _open_output(options: OutputOptions, env: Environment, stack: ExitStack) -> tuple[TextIO, bool]:
    if options.path is None or options.path == "-":
        return env.stdout, bool(env.stdout_isatty)
    try:
        stream = stack.enter_context(open(options.path, "w", encoding="utf-8", newline="\n"))  # noqa: SIM115
    except OSError as exc:
        raise SettingsError("--output", f"cannot write {options.path!r}: {exc.strerror or exc}") from None
    return stream, False


def choose_format(options: OutputOptions, to_terminal: bool) -> OutputFormat:
    if options.format is not None:
        return options.format
    return OutputFormat.table if to_terminal else OutputFormat.jsonl


def _use_color(env: Environment, to_terminal: bool) -> bool:
    return to_terminal and "NO_COLOR" not in os.environ


def execute(
    settings: Settings, urls: Sequence[str], paths: Sequence[str], options: OutputOptions, env: Environment
) -> int:
    """Run one invocation; returns the exit status. ``SettingsError`` is the caller's to report."""
    from fetchcli.client import uses_aiohttp

    uses_aiohttp(settings)  # a backend that cannot serve these settings is a usage error, up front
    with ExitStack() as stack:
        inputs = Inputs(urls, paths, env, stack)
        stream, to_terminal = _open_output(options, env, stack)
        fmt = choose_format(options, to_terminal)
        sink = make_sink(fmt, stream, color=fmt is OutputFormat.table and _use_color(env, to_terminal))
        summary = Summary()
        started = time.perf_counter()
        interrupted = False
        try:
            _run_loop(_consume(settings, inputs, sink, summary))
        except KeyboardInterrupt:
            interrupted = True
        summary.elapsed_s = time.perf_counter() - started
        sink.close(summary)
        if summary.total == 0 and not interrupted:
            env.stderr.write("fetchcli: warning: no URLs to fetch\n")
        elif not options.quiet and (env.stderr_isatty or interrupted):
            env.stderr.write(("interrupted: " if interrupted else "") + summary.describe() + "\n")
        env.stderr.flush()
    if interrupted:
        return ExitStatus.INTERRUPTED
    return ExitStatus.OK if summary.failed == 0 else ExitStatus.FAILURES


async def _consume(settings: Settings, inputs: Inputs, sink: object, summary: Summary) -> None:
    from fetchcli.engine import fetch

    items: Iterable[UrlItem] | AsyncIterable[UrlItem] = inputs.items()
    if inputs.blocking:
        items = in_thread(inputs.items())
    async with aclosing(fetch(items, settings)) as results:
        async for result in results:
            sink.write(result)  # type: ignore[attr-defined]
            summary.add(result)


def _run_loop(coro: object) -> None:
    """Run on uvloop when it is installed (faster), unless FETCHCLI_LOOP=asyncio."""
    if os.environ.get("FETCHCLI_LOOP", "auto") != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(coro)  # type: ignore[arg-type]
            return
    asyncio.run(coro)  # type: ignore[arg-type]
