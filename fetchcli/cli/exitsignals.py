"""The last moments of the process: from ``main``'s return to the interpreter's exit (50-200 ms
of shutdown), when SIGINT, SIGTERM or SIGHUP would otherwise get its default action and kill a
run whose files already say it finished. Imports nothing heavy: ``--help`` and ``--version``
load it too.

- ``keep_until_exit``: ``main()`` on the process's own command line (the console script,
  ``python -m fetchcli``) asks that the handlers ``signals.hold_signals`` installs stay after
  the run (``signals.release_signals`` then leaves them; they note nothing once the outcome is
  decided). A caller of ``main([...])`` in its own process gets its handlers back as before.
- ``exit_on_signal``: then, to the end, such a signal ends the process at once with the exit
  status already decided (the files are written): neither killed by the signal nor kept waiting.
  And the interpreter's shutdown ends with that status too, once every other exit hook has run
  (``keep_until_exit`` registers the last to run): past it CPython puts the signals' default
  actions back (``_PySignal_Fini``) before the process is gone, a window a signal could still
  hit; there is nothing left to do by then but free memory.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

_HELD_TO_EXIT = [False]
_DECIDED: list[int] = []  # the exit status, once main() has returned it
# The signals a run handles: SIGHUP only where there is one (not on Windows).
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def install(handler: Callable[[int, Any], None]) -> dict[signal.Signals, Any]:
    """``handler`` for SIGINT, SIGTERM and SIGHUP (but a SIGHUP ignored: ``nohup`` asked for the
    run to outlive the terminal); what was there before (``signals.release_signals``)."""
    previous: dict[signal.Signals, Any] = {}
    for signum in STOP_SIGNALS:
        if signum not in (signal.SIGINT, signal.SIGTERM) and signal.getsignal(signum) is signal.SIG_IGN:
            continue
        with contextlib.suppress(ValueError, OSError):  # not the main thread
            previous[signum] = signal.signal(signum, handler)
    return previous


def keep_until_exit() -> None:
    _HELD_TO_EXIT[0] = True
    atexit.register(_end_with_decided_status)  # first registered by the run: the last to run


def _flush_standard_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _end_with_decided_status() -> None:
    if _DECIDED:  # not when main() raised: the interpreter ends as it would
        _flush_standard_streams()
        os._exit(_DECIDED[0])


def held_to_exit() -> bool:
    return _HELD_TO_EXIT[0]


def exit_on_signal(status: int) -> None:
    _DECIDED[:] = [status]

    def end_now(signum: int, frame: object) -> None:
        _flush_standard_streams()
        os._exit(status)

    install(end_now)
