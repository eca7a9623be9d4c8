"""The default wire's short way to send (``aio.AiohttpWire.send``): a request with no body and no
proxy goes from a ``ClientRequest`` through the session's connector, without
``ClientSession._request`` around it (aiohttp's own redirects, cookies, auth, netrc, tracing,
middlewares, its total timer and its silent resend: fetchcli uses none of them, and that layer
cost 7-15% of a request's CPU, docs/performance.md). What it does is what
``ClientSession._request`` does for such a request, step for step: the connect timeout mapped to
``ConnectionTimeoutError``, the connection's response parameters, send, start, the connection
closed on any failure, an ``OSError`` turned into ``ClientOSError``. A request with a body or
through a proxy still goes through ``ClientSession.request``.

aiohttp's classes and methods used here (``ClientRequest``'s keywords, ``BaseConnector.connect``,
the protocol's ``set_response_params``, ``ClientRequest.send``, ``ClientResponse.start``,
``helpers.TimerNoop``) are the same from 3.11 (pyproject's floor) to 3.14; ``direct_api_missing``
says which one an installed aiohttp lacks, and tests/test_direct_send.py counts that a run takes
this way.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import aiohttp
from aiohttp import client_exceptions as aex
from aiohttp.helpers import TimerNoop
from multidict import istr

_TIMER = TimerNoop()
# What the session would skip (``skip_auto_headers``): the request carries its own headers.
SKIP_AUTO_HEADERS = frozenset(istr(name) for name in ("User-Agent", "Accept-Encoding", "Accept", "Content-Type"))
_READ_BUFSIZE = 2**16  # ClientSession's default read_bufsize
_MAX_LINE, _MAX_FIELD = 8190, 8190  # ClientSession's defaults
# aiohttp adds Accept, Accept-Encoding and User-Agent to a request that lacks them unless told to
# skip them, and Content-Type to a POST, PUT or PATCH; telling it costs a sorted CIMultiDict and a
# copy of the headers per request. A request of another method that carries all three (every one,
# unless -H removes one: transport/headers.py) is sent as it is either way, without telling.
_AUTO_NAMED = frozenset({"Accept", "Accept-Encoding", "User-Agent"})
_AUTO_LOWER = frozenset(name.lower() for name in _AUTO_NAMED)
_TYPED_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _skip_auto(method: str, headers: list[tuple[str, str]]) -> frozenset[istr] | None:
    """What aiohttp is told to skip for this request: nothing when it would add nothing."""
    if method in _TYPED_METHODS:
        return SKIP_AUTO_HEADERS
    names = {name for name, _ in headers}
    if names >= _AUTO_NAMED or {name.lower() for name in names} >= _AUTO_LOWER:
        return None
    return SKIP_AUTO_HEADERS


_KEYWORDS = ("headers", "skip_auto_headers", "loop", "response_class", "timer", "session", "traces", "trust_env")


def direct_api_missing() -> str | None:
    """The first of the aiohttp names this way needs that the installed aiohttp lacks, or None."""
    parameters = inspect.signature(aiohttp.ClientRequest.__init__).parameters
    for keyword in _KEYWORDS:
        if keyword not in parameters:
            return f"ClientRequest({keyword}=)"
    if not callable(getattr(aiohttp.ClientRequest, "send", None)):
        return "ClientRequest.send"
    if not callable(getattr(aiohttp.ClientResponse, "start", None)):
        return "ClientResponse.start"
    if not callable(getattr(aiohttp.BaseConnector, "connect", None)):
        return "BaseConnector.connect"
    from aiohttp.client_proto import ResponseHandler

    if "_timeout_ceil_threshold" not in getattr(
        getattr(aiohttp.BaseConnector.__init__, "__code__", None), "co_names", ()
    ):
        return "BaseConnector._timeout_ceil_threshold"
    names = inspect.signature(ResponseHandler.set_response_params).parameters
    for keyword in ("timer", "skip_payload", "read_until_eof", "auto_decompress", "read_timeout", "read_bufsize"):
        if keyword not in names:
            return f"ResponseHandler.set_response_params({keyword}=)"
    return None


async def send_direct(
    session: aiohttp.ClientSession,
    connector: aiohttp.BaseConnector,
    response_class: type[aiohttp.ClientResponse],
    method: str,
    url: Any,
    headers: list[tuple[str, str]],
    timeout: aiohttp.ClientTimeout,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
) -> aiohttp.ClientResponse:
    """``session.request(method, url, headers=headers, timeout=timeout, allow_redirects=False)``
    for a request with no body and no proxy, with the session's settings (``aio._open_session``).
    ``loop``: the running loop, when the caller knows it (asking costs a ``getpid()``, ticket.py)."""
    if loop is None:
        loop = asyncio.get_running_loop()
    request = aiohttp.ClientRequest(
        method,
        url,
        headers=headers,
        skip_auto_headers=_skip_auto(method, headers),
        loop=loop,
        response_class=response_class,
        timer=_TIMER,
        session=session,
        traces=[],
        trust_env=False,
    )
    try:
        connection = await connector.connect(request, traces=[], timeout=timeout)
    except asyncio.TimeoutError as exc:
        raise aex.ConnectionTimeoutError(f"Connection timeout to host {request.url}") from exc
    try:
        protocol = connection.protocol
        assert protocol is not None
        protocol.set_response_params(
            timer=_TIMER,
            skip_payload=method == "HEAD",
            read_until_eof=True,
            auto_decompress=False,
            read_timeout=timeout.sock_read,
            read_bufsize=_READ_BUFSIZE,
            timeout_ceil_threshold=connector._timeout_ceil_threshold,
            max_line_size=_MAX_LINE,
            max_field_size=_MAX_FIELD,
        )
        try:
            response = await request.send(connection)
            try:
                await response.start(connection)
            except BaseException:
                response.close()
                raise
        except BaseException:
            connection.close()
            raise
    except aex.ClientError:
        raise
    except OSError as exc:
        if exc.errno is None and isinstance(exc, asyncio.TimeoutError):
            raise
        raise aex.ClientOSError(*exc.args) from exc
    return response
