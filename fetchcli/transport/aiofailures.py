"""aiohttp's exceptions made fetchcli's own (``errors.TransportFailure``), for the default wire
(``aio.py``): ``own_failure`` maps one, worded in one line as on the httpx backend; what can
raise one catches ``MAPPED_FAILURES``. A proxy's failure while a connection is made
(``aioconnector.py``) is ``ProxyStepFailed``, which names the step that failed.
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import client_exceptions as aex

from fetchcli.errors import (
    ConnectFailed,
    ConnectTimedOut,
    ProtocolBroken,
    ProxyFailed,
    ReadFailed,
    ReadTimedOut,
    TransportFailure,
    proxy_refused,
    proxy_silent,
    proxy_unanswered,
    proxy_unreachable,
)
from fetchcli.transport.protocol import chunk_size_too_large

# While a connection through a proxy is made (connecting to the proxy, the CONNECT, then the TLS
# handshake with the server through the tunnel): what is not the proxy's failure. Timeouts keep
# their types; a TLS failure is the server's (aiohttp takes http:// proxies only).
NOT_THE_PROXYS = (
    asyncio.TimeoutError,
    aex.ServerTimeoutError,
    aex.ClientConnectorCertificateError,
    aex.ClientConnectorSSLError,
)


class ProxyStepFailed(aex.ClientConnectionError):
    """Reaching or talking to the proxy failed (``step``: ``connect``, ``refused`` with the
    CONNECT's status and reason, ``unanswered``, or ``silent``: no answer within the read
    timeout); ``as_own`` words it (errors.py) as the httpx backend does, with the proxy named
    as the transport knows it. (Raised as a ClientError that is no TimeoutError, so that aiohttp
    does not make a read timeout a connection timeout.)"""

    def __init__(self, step: str, status: int = 0, reason: str = "") -> None:
        super().__init__(step)
        self.step, self.status, self.reason = step, status, reason

    def as_own(self, proxy: str) -> TransportFailure:
        if self.step == "silent":
            return ReadTimedOut(proxy_silent(proxy))
        if self.step == "refused":
            message = proxy_refused(proxy, self.status, self.reason)
        elif self.step == "connect" and self.__cause__ is not None:
            message = proxy_unreachable(proxy, self.__cause__)
        else:
            message = proxy_unanswered(proxy)
        return ProxyFailed(message)


_EXCEPTIONS: tuple[tuple[type[BaseException], type[TransportFailure]], ...] = (
    # Most specific first.
    (aex.ConnectionTimeoutError, ConnectTimedOut),
    (aex.SocketTimeoutError, ReadTimedOut),
    (aex.ClientProxyConnectionError, ProxyFailed),
    (aex.ClientHttpProxyError, ProxyFailed),
    (aex.ClientConnectorError, ConnectFailed),
    (aex.ServerDisconnectedError, ProtocolBroken),
    (aex.ClientPayloadError, ProtocolBroken),
    (aex.ClientResponseError, ProtocolBroken),
    (aex.ClientOSError, ReadFailed),
    (aex.ClientConnectionError, ReadFailed),
    (aex.ClientError, TransportFailure),
    (asyncio.TimeoutError, ReadTimedOut),
)


_SHOWN_BYTES = re.compile(r"b'([0-9A-Fa-f]+)")
_LINE_END = re.compile(r"\n|\\n")  # a newline, or one written as backslash-n (a repr)


def _words(exc: BaseException) -> str:
    """What aiohttp says of ``exc``, in one line: of a parser error (llhttp's, in a
    ``ClientResponseError`` or a ``ClientPayloadError``) its words and the bytes it quotes, not
    the caret drawn below them nor ``400, message=..., url=...``; a chunk size too large in the
    words of the httpx backend."""
    if isinstance(exc, aex.ClientResponseError):
        text = str(exc.message)
    else:
        text = str(exc) or str(getattr(exc, "message", "") or "")
    if not isinstance(exc, (aex.ClientResponseError, aex.ClientPayloadError)):
        return text
    if "chunk size overflow" in text.lower():
        found = _SHOWN_BYTES.search(text)
        return chunk_size_too_large(found.group(1) if found else "")
    lines = [line.strip() for line in _LINE_END.split(text)]
    return " ".join(line for line in lines if line.strip("^~ "))  # not the caret line under the bytes


def own_failure(exc: BaseException) -> TransportFailure | None:
    for source, target in _EXCEPTIONS:
        if isinstance(exc, source):
            return target(_words(exc))
    return None


# What is raised as one of fetchcli's own failures (own_failure), caught where it can come from:
# an except clause of its own, not a context manager (contextlib's cost 1.8 us, twice a request).
MAPPED_FAILURES = (aex.ClientError, asyncio.TimeoutError)
