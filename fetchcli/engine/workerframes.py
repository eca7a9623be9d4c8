"""What a worker and its parent say to each other (``--workers``): length-prefixed pickles over
the worker's stdin and stdout, each at most ``MAX_FRAME`` bytes. The parent sends the settings
first; then ``("fetch", seq, UrlItem, seconds left before the run's --deadline or None)`` and
``("cancel", seq)``; the worker answers ``(READY, None)`` once its client is built, then
``(seq, FetchResult)``, or ``(seq, attempts)`` for a URL cancelled. A message that cannot be read
is ``GarbledFrame``: the stream is then out of step, and nothing after it can be trusted.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any

_LENGTH = struct.Struct("!I")
# The longest message either side sends: a record holds a few URLs of 8,192 characters, a
# snippet and the TLS facts (SANs capped); settings hold the headers. Far below this.
MAX_FRAME = 64 << 20

READY = -1  # the sequence number of a worker's first frame: its client is built


def frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


class GarbledFrame(Exception):
    """A message that is not one: too long to be a record, or not a pickle fetchcli wrote."""


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next message, or None at the end of the stream; ``GarbledFrame`` for one that cannot
    be read (the stream is then out of step: nothing after it can be trusted)."""
    try:
        head = await reader.readexactly(_LENGTH.size)
        length = _LENGTH.unpack(head)[0]
        if length > MAX_FRAME:
            raise GarbledFrame(f"a message of {length:,} bytes")
        data = await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    try:
        return pickle.loads(data)
    except Exception as exc:  # noqa: BLE001 - whatever unpickling raises, the message is garbled
        raise GarbledFrame(f"a message that could not be read ({type(exc).__name__})") from None
