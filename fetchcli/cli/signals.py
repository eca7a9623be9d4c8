"""Signals during a run: the first SIGINT/SIGTERM/SIGHUP stops it cleanly (exit 130/143/129), a
second Ctrl-C ends it at once, leaving no temporary file behind. SIGHUP (a terminal or an ssh
session closed) is left alone when it is ignored, as ``nohup`` leaves it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from fetchcli.cli.runstate import RunState
from fetchcli.cli.status import ExitStatus

if TYPE_CHECKING:
    from fetchcli.engine.run import Stop


Handlers = dict[signal.Signals, Any]

SIGNAL_EXIT = {signal.SIGINT: ExitStatus.INTERRUPTED, signal.SIGTERM: ExitStatus.TERMINATED}
if hasattr(signal, "SIGHUP"):  # not on Windows
    SIGNAL_EXIT[signal.SIGHUP] = ExitStatus.HANGUP


@contextlib.contextmanager
def signal_handlers(stop: Stop, state: RunState) -> Iterator[None]:
    """First SIGINT/SIGTERM/SIGHUP: stop starting, cancel in flight, flush, exit 130/143/129.

    Plain ``signal.signal`` handlers, not the loop's: they run even while the main thread is
    blocked writing to a full pipe. After the first SIGINT a second one ends the process at
    once, whatever it is doing (``second_interrupt``)."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int, frame: object) -> None:
        if state.signal is not None:
            return
        state.signal = signum
        loop.call_soon_threadsafe(stop.request, signal.Signals(signum).name)
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, lambda signum, frame: second_interrupt(state))
            erase_progress(state)  # before the terminal echoes a second ^C below it

    previous = _install(on_signal)
    if state.signal is not None:  # one came while the run was being set up (hold_signals noted it)
        loop.call_soon(stop.request, signal.Signals(state.signal).name)
    try:
        yield
    finally:
        release_signals(previous)


def hold_signals(state: RunState) -> Handlers:
    """Around the writing of a run's files (the records' last lines, the rename over ``-o``,
    ``--summary-json``, ``--metrics``, ``--state``'s last batch): a SIGINT, SIGTERM or SIGHUP is
    noted (the exit status says it) and the writing goes on, instead of the default action
    killing the process between a temporary file and its rename. A second Ctrl-C still ends it
    at once (``second_interrupt``). The loop's own handlers (``signal_handlers``) take over
    while it runs. Returns what ``release_signals`` puts back."""

    def on_signal(signum: int, frame: object) -> None:
        if state.signal is None:
            state.signal = signum
        elif signum == signal.SIGINT:
            second_interrupt(state)

    return _install(on_signal)


def _install(handler: Callable[[int, Any], None]) -> Handlers:
    """``handler`` for SIGINT, SIGTERM and SIGHUP (but a SIGHUP ignored: ``nohup`` asked for
    the run to outlive the terminal); what was there before, for ``release_signals``."""
    previous: Handlers = {}
    for signum in SIGNAL_EXIT:
        if signum not in (signal.SIGINT, signal.SIGTERM) and signal.getsignal(signum) is signal.SIG_IGN:
            continue
        with contextlib.suppress(ValueError, OSError):  # not the main thread, or no such signal
            previous[signum] = signal.signal(signum, handler)
    return previous


def release_signals(previous: Handlers) -> None:
    for signum, handler in previous.items():
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signum, handler)


def erase_progress(state: RunState) -> None:
    """Blank the progress line from a signal handler, when it is on a terminal (a pipe may be
    full, and a handler must not wait)."""
    if state.progress is not None and state.env is not None and state.env.stderr_isatty:
        state.progress.erase_now()


def second_interrupt(state: RunState) -> None:
    """A second Ctrl-C: end now, as the default action would (killed by SIGINT), but first
    remove the temporary files of ``-o``, ``--summary-json`` and ``--metrics`` (the files they replace are left
    as they were) and blank the progress line. A third Ctrl-C ends it even if that hangs."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    for output in state.outputs:
        output.remove_temporary()
    erase_progress(state)
    os.kill(os.getpid(), signal.SIGINT)
