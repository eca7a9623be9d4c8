"""Exit statuses: what a script or a cron job can act on. Mapped in one place (``runner``)."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    OK = 0
    FAILURES = 1  # at least one URL failed
    USAGE = 2
    IO_ERROR = 74  # sysexits' EX_IOERR: writing the results failed (disk full, I/O error)
    HANGUP = 129  # SIGHUP: the terminal went away (unless it is ignored: nohup)
    INTERRUPTED = 130  # SIGINT (Ctrl-C)
    BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of stdout went away (`| head`), as a shell expects
    TERMINATED = 143  # SIGTERM
