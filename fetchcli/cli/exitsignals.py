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
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

_HELD_TO_EXIT = [False]
_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


def keep_until_exit() -> None:
    _HELD_TO_EXIT[0] = True


def held_to_exit() -> bool:
    return _HELD_TO_EXIT[0]


def exit_on_signal(status: int) -> None:
    def end_now(signum: int, frame: object) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(status)

    for name in _SIGNALS:
        signum = getattr(signal, name, None)
        if signum is None or (name == "SIGHUP" and signal.getsignal(signum) is signal.SIG_IGN):
            continue  # not on this system; or ignored: nohup asked the run to outlive the terminal
        with contextlib.suppress(ValueError, OSError):  # not the main thread
            signal.signal(signum, end_now)
