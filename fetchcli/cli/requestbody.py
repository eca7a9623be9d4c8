"""``-d/--data``, ``--data-binary`` and ``--json``: the body every URL is sent, read once before
anything is sent, as curl reads them.

- ``-d TEXT`` sends the text; ``-d @FILE`` the file with its carriage returns and newlines taken
  out (curl's ``-d``); several ``-d`` are joined by ``&``. ``Content-Type:
  application/x-www-form-urlencoded`` unless ``-H`` gives one.
- ``--data-binary TEXT|@FILE``: the bytes exactly; joined by ``&`` as ``-d``; the same type.
- ``--json TEXT|@FILE``: the bytes exactly, several concatenated; ``Content-Type`` and ``Accept``
  ``application/json`` unless ``-H`` gives them (curl's ``--json``).
- ``@-`` reads standard input, which cannot then also carry the URLs.

A body without ``-X`` makes the method POST (as curl). Retries stay for idempotent methods
unless ``--retry-all-methods``; a redirect keeps the body only when it keeps the method (307,
308), as httpx and curl do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fetchcli.settings import SettingsError

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class RequestBody:
    data: bytes
    content_type: str
    accept: str | None = None


def _read(flag: str, text: str, read_stdin: Callable[[], bytes], stdin_has_urls: bool) -> bytes:
    """``text``, or the file (``@FILE``) or standard input (``@-``) it names."""
    if not text.startswith("@"):
        return text.encode("utf-8", "surrogateescape")
    path = text[1:]
    if path == "-":
        if stdin_has_urls:
            raise SettingsError(
                flag, "@- reads standard input, which carries the URLs: give them with -i FILE or as arguments"
            )
        try:
            return read_stdin()
        except MemoryError:  # an endless pipe (yes | fetchcli -d @- ...)
            raise SettingsError(flag, "cannot read standard input: more than memory holds") from None
    if not path:
        raise SettingsError(flag, "@ names no file: give @FILE, or @- for standard input")
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise SettingsError(flag, f"cannot read {path!r}: {exc.strerror or exc}") from None
    except MemoryError:  # a file larger than memory, or one that never ends (a device, a FIFO)
        raise SettingsError(flag, f"cannot read {path!r}: more than memory holds") from None


def _stripped(data: bytes) -> bytes:
    """A file given to -d: its carriage returns and newlines taken out, as curl's -d does."""
    return data.replace(b"\r", b"").replace(b"\n", b"")


def body_of(
    data: Sequence[str],
    data_binary: Sequence[str],
    json: Sequence[str],
    read_stdin: Callable[[], bytes],
    stdin_has_urls: bool,
) -> RequestBody | None:
    """The run's body from the options' texts, or None when none is given; a ``SettingsError``
    for a file that cannot be read, ``@-`` when standard input carries the URLs, or a mix of
    ``--json`` with the others (or of ``-d`` with ``--data-binary``: their order would be lost)."""
    if json and (data or data_binary):
        raise SettingsError("--json", "cannot be mixed with -d or --data-binary: give one body")
    if data and data_binary:
        raise SettingsError("--data-binary", "cannot be mixed with -d: give one body")
    stdin_read: list[bytes] = []

    def once() -> bytes:  # @- given twice: standard input is read once
        if not stdin_read:
            stdin_read.append(read_stdin())
        return stdin_read[0]

    if json:
        return RequestBody(b"".join(_read("--json", text, once, stdin_has_urls) for text in json), JSON, JSON)
    if data:
        parts = [
            _stripped(_read("--data", text, once, stdin_has_urls))
            if text.startswith("@")
            else text.encode("utf-8", "surrogateescape")
            for text in data
        ]
        return RequestBody(b"&".join(parts), FORM)
    if data_binary:
        return RequestBody(b"&".join(_read("--data-binary", text, once, stdin_has_urls) for text in data_binary), FORM)
    return None
