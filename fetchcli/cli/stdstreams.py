"""Closed standard streams (``fetchcli URL >&-``, ``2>&-``, ``<&-``), handled at start as daemons do.

A process started with descriptor 0, 1 or 2 closed finds ``None`` in the matching ``sys`` stream,
and the first file it opens takes the free number: uvloop's own descriptors landed on 2 and it
aborted (SIGABRT) when something wrote to "stderr"; a closed stdout gave a traceback. So
``cli.app.main`` fills each closed slot with /dev/null before anything else opens a file:

- 0 read-only: no input, as with ``< /dev/null``;
- 1 read-only: writing the results then fails (EBADF), which is the documented write error (one
  line on stderr, exit status 74), rather than output thrown away while the run reports success;
- 2 write-only: messages go nowhere, as the user asked.

And a standard stream in an encoding that cannot write every character (``PYTHONIOENCODING=
latin-1`` or ``ascii``, a legacy locale) writes those characters as backslash escapes
(``\\u4e2d``), as Python's own stderr does, instead of raising ``UnicodeEncodeError`` half-way
through a run (``unencodable_as_escapes``). Files given with ``-o`` are always UTF-8.
"""

from __future__ import annotations

import io
import os
import sys

_SLOTS = ((0, os.O_RDONLY, "stdin"), (1, os.O_RDONLY, "stdout"), (2, os.O_WRONLY, "stderr"))


def fill_closed_standard_streams() -> list[int]:
    """Open /dev/null on each of descriptors 0, 1 and 2 that is closed, and give ``sys`` a
    stream on it; returns the descriptors filled."""
    filled = []
    for fd, flags, name in _SLOTS:
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        opened = os.open(os.devnull, flags)  # the lowest free number: this one, as those below are open
        if opened != fd:
            os.dup2(opened, fd)
            os.close(opened)
        os.set_inheritable(fd, True)  # as a standard stream is
        mode = "r" if fd == 0 else "w"
        errors = "backslashreplace" if fd == 2 else "strict"
        stream = open(fd, mode, encoding="utf-8", errors=errors, closefd=False, buffering=1 if fd == 2 else -1)  # noqa: SIM115
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)
        filled.append(fd)
    return filled


def unencodable_as_escapes() -> None:
    """stdout and stderr write a character their encoding cannot as a backslash escape."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")
