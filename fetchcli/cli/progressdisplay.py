"""The live progress line on stderr while a run goes on: whether there is one, its colour, the
rows written above it, and its redraws from the event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from fetchcli.cli.plan import Environment, OutputOptions
from fetchcli.cli.runstate import RunState
from fetchcli.input.readers import Inputs
from fetchcli.models import FetchResult
from fetchcli.output.render import Sink
from fetchcli.settings import ColorMode
from fetchcli.summary import Summary

if TYPE_CHECKING:
    from fetchcli.output.render.progress import ProgressLine


def use_color(mode: ColorMode, env: Environment, to_terminal: bool) -> bool:
    """``--color always|never``, or ``auto``: on a terminal, unless ``NO_COLOR`` is set (to anything)."""
    if mode is not ColorMode.auto:
        return mode is ColorMode.always
    return to_terminal and "NO_COLOR" not in env.environ


def progress_line(options: OutputOptions, env: Environment) -> ProgressLine | None:
    if not (options.progress if options.progress is not None else env.stderr_isatty and not options.quiet):
        return None
    from fetchcli.output.render.progress import ProgressLine

    return ProgressLine(env.stderr, color=use_color(options.color, env, bool(env.stderr_isatty)))


class AboveProgress:
    """A sink writing to the terminal the progress line is on: each row goes above the line."""

    def __init__(self, sink: Sink, progress: ProgressLine) -> None:
        self._sink = sink
        self._progress = progress

    def write(self, result: FetchResult) -> None:
        self._progress.clear()
        self._sink.write(result)
        self._progress.redraw()

    @property
    def settled(self) -> bool:
        return getattr(self._sink, "settled", True)

    @property
    def holding(self) -> bool:
        return getattr(self._sink, "holding", False)

    def settle(self) -> None:
        self._progress.clear()
        self._sink.settle()  # type: ignore[attr-defined]
        self._progress.redraw()

    def close(self, summary: Summary) -> None:
        self._sink.close(summary)


@contextlib.contextmanager
def showing_progress(state: RunState, inputs: Inputs, one_record_per_url: bool = True) -> Iterator[None]:
    """Redraw the progress line (if any) every ``REFRESH_SECONDS`` from the event loop; count
    the input's URLs for its total in a thread (not when a URL may give several records:
    ``--all-ips``)."""
    progress = state.progress
    if progress is None:
        yield
        return
    from fetchcli.output.render.progress import REFRESH_SECONDS

    loop = asyncio.get_running_loop()
    # With a shard, --unique or --resume, how many of the input's URLs this run fetches is not
    # known until the end: a live count then, not a total.
    counted = state.selection is None and one_record_per_url
    counting = loop.run_in_executor(None, inputs.count) if counted else None
    if counting is not None:
        counting.add_done_callback(lambda done: progress.set_total(done.result()) if not done.cancelled() else None)

    handle: asyncio.Handle | None = None

    def tick() -> None:
        nonlocal handle
        progress.update(state.finished)
        handle = loop.call_later(REFRESH_SECONDS, tick)

    handle = loop.call_soon(tick)
    try:
        yield
    finally:
        handle.cancel()
        if counting is not None:
            counting.cancel()
