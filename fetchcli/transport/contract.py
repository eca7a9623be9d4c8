"""The transport contract: what the engine hands a transport (a ``WireRequest``) and what it gets
back (a ``WireResponse``), in fetchcli's own small types, so that no httpx object is built per
request on the default path (aiohttp called directly, ``aio.py``).

A ``Wire`` sends one request and returns the response as soon as its headers came: status,
reason, HTTP version, the headers as they came, the facts of the connection (the peer's address,
the TLS object) and a body stream the engine reads at most as far as it needs. Redirects,
retries, credentials and what a redirect may carry are the engine's (``engine/request.py``),
above every wire, so both backends keep one behaviour. A failure is raised as one of fetchcli's
own ``TransportFailure`` classes (``errors.py``), whose ``kind`` is already an ``ErrorType``.

The wires: ``aio.AiohttpWire`` (the default); ``httpxwire.HttpxWire`` over an
``httpx.AsyncClient`` (a client the caller brings to ``fetch``, ``--backend httpx``, SOCKS and
https proxies, tests that mock with respx).
"""

from __future__ import annotations

import email.message
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from fetchcli.transport.wireurl import WireURL


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds each phase may take (None: no limit), as ``httpx.Timeout``'s four."""

    connect: float | None = None
    read: float | None = None
    write: float | None = None
    pool: float | None = None


@dataclass(frozen=True, slots=True)
class WireRequest:
    """One request as it is sent: ``headers`` in order, ``Host`` among them (first, unless the
    user gave one), credentials of the URL already turned into ``Authorization`` (the URL keeps
    them for the record's masking; a wire never sends them)."""

    method: str
    url: WireURL
    headers: tuple[tuple[str, str], ...]
    timeouts: Timeouts
    body: bytes | None = None

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


class WireHeaders:
    """A response's headers as they came (``raw``: name and value bytes, in order, repeats
    kept), read as ``httpx.Headers`` reads them: all decoded with one encoding (ASCII, else
    UTF-8, else ISO-8859-1, whichever decodes every name and value), repeats of a name joined
    by ", "."""

    __slots__ = ("_encoding", "raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw
        self._encoding: str | None = None

    @property
    def encoding(self) -> str:
        if self._encoding is None:
            for key, value in self.raw:  # the common case, without decoding them: all ASCII
                if not (key.isascii() and value.isascii()):
                    break
            else:
                self._encoding = "ascii"
                return self._encoding
            self._encoding = "iso-8859-1"
            try:
                for key, value in self.raw:
                    key.decode("utf-8")
                    value.decode("utf-8")
                self._encoding = "utf-8"
            except UnicodeDecodeError:
                pass
        return self._encoding

    def get(self, name: str) -> str | None:
        """The value of header ``name`` (any case), its repeats joined by ", "; None if absent."""
        key = name.lower().encode("ascii")
        values = [value for k, value in self.raw if k.lower() == key]
        if not values:
            return None
        encoding = self.encoding
        return ", ".join(value.decode(encoding) for value in values)

    def __contains__(self, name: str) -> bool:
        key = name.lower().encode("ascii")
        return any(k.lower() == key for k, _ in self.raw)


def charset_of(content_type: str | None) -> str | None:
    """The charset a ``Content-Type`` names, as httpx's ``Response.charset_encoding`` reads it
    (with ``email.message``); None when it names none."""
    if content_type is None:
        return None
    message = email.message.Message()
    message["content-type"] = content_type
    return message.get_content_charset(failobj=None)


class BodyStream(Protocol):
    """A response body, read in chunks as they come (no decoding: ``Content-Encoding`` is the
    engine's, bounded), then closed (its connection back to the pool if read to the end)."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class WireResponse:
    """What came back: ``reason`` with what is not ASCII dropped, ``http_version`` as
    ``HTTP/1.1``; ``peer`` the address the connection went to (a socket address) and
    ``ssl_object`` its TLS object (None over http://)."""

    __slots__ = ("headers", "http_version", "peer", "reason", "ssl_object", "status", "stream", "url")

    def __init__(
        self,
        url: WireURL,
        status: int,
        reason: str,
        http_version: str,
        headers: WireHeaders,
        stream: BodyStream,
        peer: Any = None,
        ssl_object: Any = None,
    ) -> None:
        self.url = url
        self.status = status
        self.reason = reason
        self.http_version = http_version
        self.headers = headers
        self.stream = stream
        self.peer = peer
        self.ssl_object = ssl_object

    def aiter_raw(self) -> AsyncIterator[bytes]:
        return self.stream.__aiter__()

    async def aclose(self) -> None:
        await self.stream.aclose()


class Wire(Protocol):
    """A transport: sends a request, returns its response once the headers came (raising a
    ``TransportFailure``), and is closed at the end of the run."""

    default_headers: tuple[tuple[str, str], ...]  # every request's headers (Host is added per request)
    timeouts: Timeouts

    async def send(self, request: WireRequest) -> WireResponse: ...

    async def aclose(self) -> None: ...
