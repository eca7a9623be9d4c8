"""Signals during a run: the first SIGINT/SIGTERM/SIGHUP stops it cleanly (exit 130/143/129), a
second Ctrl-C ends it at once, leaving no temporary file behind. One that comes once the outcome
is decided (the records written, ``-o`` committed) changes nothing. SIGHUP (a terminal or an ssh
session closed) is left alone when it is ignored, as ``nohup`` leaves it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fetchcli.cli import exitsignals
from fetchcli.cli.runstate import RunState
from fetchcli.cli.status import ExitStatus

if TYPE_CHECKING:
    from fetchcli.engine.run import Stop


Handlers = dict[signal.Signals, Any]

_STATUS = {"SIGINT": ExitStatus.INTERRUPTED, "SIGTERM": ExitStatus.TERMINATED, "SIGHUP": ExitStatus.HANGUP}
SIGNAL_EXIT = {signum: _STATUS[signum.name] for signum in exitsignals.STOP_SIGNALS}  # each with its exit status


@contextlib.contextmanager
def signal_handlers(stop: Stop, state: RunState) -> Iterator[None]:
    """While the loop runs, the first SIGINT/SIGTERM/SIGHUP (``hold_signals`` notes it) also
    asks it to stop: start nothing new, cancel what is in flight, flush; exit 130/143/129.

    The handlers are plain ``signal.signal`` ones, not the loop's: they run even while the main
    thread is blocked writing to a full pipe."""
    loop = asyncio.get_running_loop()
    state.on_stop = lambda name: loop.call_soon_threadsafe(stop.request, name)
    if state.signal is not None:  # one came while the run was being set up (``Stop.request``: once)
        loop.call_soon(stop.request, signal.Signals(state.signal).name)
    try:
        yield
    finally:
        state.on_stop = None


def hold_signals(state: RunState) -> Handlers:
    """fetchcli's handlers for SIGINT, SIGTERM and SIGHUP, from the start of the run until its
    exit status is returned (then ``release_signals``):

    - the first of them is the one the run reports (``state.signal``: ``stopped_by`` and the
      exit status), if it comes before the outcome is decided (``state.outcome_decided``: the
      records written and ``-o`` committed); while the loop runs it also stops it
      (``signal_handlers``). One that comes later changes nothing: ``--summary-json`` and
      ``--metrics`` state the outcome, and the exit status agrees with them;
    - the writing of the files goes on, instead of the default action killing the process
      between a temporary file and its rename;
    - a second Ctrl-C (a SIGINT after a SIGINT, whatever came between) ends it at once
      (``second_interrupt``); a SIGINT after a SIGTERM or a SIGHUP is only the first Ctrl-C.

    Returns what ``release_signals`` puts back."""

    def on_signal(signum: int, frame: object) -> None:
        if signum == signal.SIGINT:
            state.interrupts += 1
            if state.interrupts > 1:
                second_interrupt(state)
                return
        if state.signal is not None or state.outcome_decided:
            return
        state.signal = signum
        if state.on_stop is not None:
            state.on_stop(signal.Signals(signum).name)
        if signum == signal.SIGINT:
            erase_progress(state)  # before the terminal echoes a second ^C below it

    return exitsignals.install(on_signal)


def release_signals(previous: Handlers) -> None:
    if exitsignals.held_to_exit():
        return  # fetchcli's handlers stay: a signal now changes nothing (exit_on_signal follows)
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
