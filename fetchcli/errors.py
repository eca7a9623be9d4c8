"""Exit statuses and the one place where exceptions become ``ErrorInfo`` records.

``error.type`` is the exception's class name (httpx's names: ``ConnectError``, ``ReadTimeout``,
``RemoteProtocolError``, ``TooManyRedirects``, ``UnsupportedProtocol``...) plus fetchcli's own:
``InvalidURL`` for rejected input, ``TotalTimeout`` for ``--max-time``, ``DecodingError`` for a
body whose compression is broken.
"""

from __future__ import annotations

import enum

from fetchcli.models import ErrorInfo
from fetchcli.snippet import BodyDecodingError, clean_line


class ExitStatus(enum.IntEnum):
    OK = 0
    FAILURES = 1
    USAGE = 2
    IO_ERROR = 74  # sysexits' EX_IOERR: writing the results failed (disk full, I/O error)
    BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of stdout went away (`| head`), as a shell expects
    INTERRUPTED = 130  # SIGINT (Ctrl-C)
    TERMINATED = 143  # SIGTERM


class TotalTimeout(Exception):
    """A URL took longer than ``--max-time`` in all (redirects and body included)."""


# What to say when an exception carries no message of its own (httpx's timeouts often don't).
_DEFAULT_MESSAGES = {
    "ConnectTimeout": "timed out while connecting",
    "ReadTimeout": "timed out waiting for data from the server",
    "WriteTimeout": "timed out sending the request",
    "PoolTimeout": "timed out waiting for a free connection in the pool",
    "RemoteProtocolError": "the server broke the HTTP protocol",
    "ReadError": "the connection failed while reading",
    "WriteError": "the connection failed while writing",
    "ConnectError": "could not connect",
}

_RENAMED: dict[type[BaseException], str] = {BodyDecodingError: "DecodingError"}


def error_from_exception(exc: BaseException) -> ErrorInfo:
    """Classify any exception raised while fetching one URL; never raises."""
    name = _RENAMED.get(type(exc), type(exc).__name__)
    message = clean_line(str(exc))
    if not message:
        cause = exc.__cause__ or exc.__context__
        message = clean_line(str(cause)) if cause is not None else ""
    if not message:
        message = _DEFAULT_MESSAGES.get(name, name)
    return ErrorInfo(type=name, message=message)
