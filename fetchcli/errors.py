"""The closed vocabulary of ``error.type``: the one place where an exception,
from whichever library raised it, becomes an ``ErrorInfo``.

``error.type`` is always an ``ErrorType`` (errortype.py), the same on both backends for the same event.
Causes are read from the whole exception chain (``__cause__``, ``__context__``, exception groups,
aiohttp's ``os_error`` and ``certificate_error``), most specific first, so a failed connection
says why: ``DNSError``, ``ConnectionRefused``, ``CertificateError``, ``TLSError``,
``TooManyOpenFiles``, else ``ConnectError``. Anything unforeseen is ``Unexpected``, with the
original exception's name and text in the message. A cancellation's text is never a message: it
is the event loop's or anyio's ("Cancelled via cancel scope 7f..."), not words for the user.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from collections.abc import Callable, Iterator

from fetchcli.errortype import ErrorType as ErrorType  # the vocabulary, re-exported
from fetchcli.models import ErrorInfo
from fetchcli.text import clean_line

# The vocabulary: every value of error.type, with what it means (docs/records.md's table is this):
# ``ErrorType`` (errortype.py) is the one list; this is its view by name.
ERROR_TYPES: dict[str, str] = {member.value: member.description for member in ErrorType}


# The start of the message of a URL whose fetch raised instead of returning a record: a fault in
# fetchcli itself. ``classify`` never starts a message so (its ``Unexpected`` messages start with
# a class name, which has no space), so a record says it was an internal error by this alone.
INTERNAL_ERROR = "internal error: "


def internal_error(exc: BaseException) -> ErrorInfo:
    """The error of a URL whose fetch raised (a bug, an exception nobody mapped): the exception's
    type only, no traceback and no internals."""
    return ErrorInfo(
        ErrorType.Unexpected, f"{INTERNAL_ERROR}{clean_line(type(exc).__name__, 80)} while fetching this URL"
    )


def internal_error_type(error: ErrorInfo | None) -> str | None:
    """The exception type named by an ``internal_error``, None for any other error."""
    if error is None or error.type != ErrorType.Unexpected or not error.message.startswith(INTERNAL_ERROR):
        return None
    return error.message[len(INTERNAL_ERROR) :].split(" ", 1)[0]


class BodyDecodingError(Exception):
    """The body claimed an encoding (gzip, deflate) that its bytes do not follow."""


class SaveFailed(Exception):
    """``--save``: the body could not be written under DIR (a full disk, no permission, a name
    that cannot be made there)."""


class SaveTooLarge(Exception):
    """``--save``: the body was larger than ``--max-save-bytes``."""


class TotalTimeout(Exception):
    """A URL took longer than ``--max-time`` in all (redirects and body included)."""


class UnsupportedRedirect(Exception):
    """``-L`` met a redirect to a scheme fetchcli does not fetch."""


class InvalidRedirect(Exception):
    """A redirect's ``Location`` is not a URL."""


class InvalidRequestURL(Exception):
    """A URL that passed input validation but cannot be turned into a request."""


class TooManyRedirects(Exception):
    """``-L`` met more redirects than ``--max-redirects``."""


class TransportFailure(Exception):
    """A request failed in a transport (``transport/contract.py``): each wire raises one of
    these subclasses, whatever library it calls, so the type does not depend on the backend.
    ``kind`` is the type; a cause behind it (``__cause__``) may say more (``_cause``)."""

    kind = ErrorType.Unexpected


class ConnectFailed(TransportFailure):
    kind = ErrorType.ConnectError


class ConnectTimedOut(TransportFailure):
    kind = ErrorType.ConnectTimeout


class ReadTimedOut(TransportFailure):
    kind = ErrorType.ReadTimeout


class WriteTimedOut(TransportFailure):
    kind = ErrorType.WriteTimeout


class PoolTimedOut(TransportFailure):
    kind = ErrorType.PoolTimeout


class ProxyFailed(TransportFailure):
    kind = ErrorType.ProxyError


class ReadFailed(TransportFailure):
    kind = ErrorType.ReadError


class WriteFailed(TransportFailure):
    kind = ErrorType.WriteError


class ProtocolBroken(TransportFailure):
    """The server broke HTTP (or closed the connection before an answer)."""

    kind = ErrorType.RemoteProtocolError


# What to say when an exception carries no message of its own (httpx's timeouts often don't).
_DEFAULT_MESSAGES = {
    ErrorType.ConnectTimeout: "timed out while connecting",
    ErrorType.ReadTimeout: "timed out waiting for data from the server",
    ErrorType.WriteTimeout: "timed out sending the request",
    ErrorType.PoolTimeout: "timed out waiting for a free connection in the pool",
    ErrorType.RemoteProtocolError: "the server broke the HTTP protocol",
    ErrorType.ReadError: "the connection failed while reading",
    ErrorType.WriteError: "the connection failed while writing",
    ErrorType.ConnectError: "could not connect",
}

# Types told in fetchcli's words only, the same on both backends, whatever the library said; but
# for messages of fetchcli's own that name the proxy (``proxy_silent``).
_OWN_WORDS = frozenset({ErrorType.ConnectTimeout, ErrorType.ReadTimeout, ErrorType.WriteTimeout, ErrorType.PoolTimeout})
# What each backend says of a body cut short (the connection closed before the Content-Length,
# or the last chunk, came), said in fetchcli's words on both: h11's, then aiohttp's.
BODY_CUT_SHORT = "the server closed the connection before the whole body came"
_CUT_SHORT_WORDS = (
    "peer closed connection without sending complete message body",
    "Response payload is not completed: <ContentLengthError",
    "Response payload is not completed: <TransferEncodingError",
)
_OURS = ("proxy ",)

# Exceptions whose class decides the type outright, most specific first.
_BY_CLASS: tuple[tuple[type[BaseException], ErrorType], ...] = (
    (TotalTimeout, ErrorType.TotalTimeout),
    (BodyDecodingError, ErrorType.DecodingError),
    (SaveTooLarge, ErrorType.BodyTooLarge),
    (SaveFailed, ErrorType.SaveError),
    (InvalidRequestURL, ErrorType.InvalidURL),
    (UnsupportedRedirect, ErrorType.UnsupportedRedirect),
    (InvalidRedirect, ErrorType.InvalidRedirect),
    (TooManyRedirects, ErrorType.TooManyRedirects),
)

_TOO_MANY_FILES = (errno.EMFILE, errno.ENFILE)
# Types a cause behind them may make more precise (``_cause``); None: a class not in _BY_CLASS.
_CAUSE_MAY_TELL = (None, ErrorType.ConnectError, ErrorType.ReadError, ErrorType.WriteError)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception behind it, breadth first, each once."""
    queue: list[BaseException] = [exc]
    seen: list[BaseException] = []
    while queue and len(seen) < 32:
        current = queue.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        yield current
        behind = [current.__cause__, current.__context__]
        behind += [getattr(current, "os_error", None), getattr(current, "certificate_error", None)]
        nested = getattr(current, "exceptions", None)  # an exception group (anyio's happy eyeballs)
        if isinstance(nested, (list, tuple)):
            behind += list(nested)
        queue += [e for e in behind if isinstance(e, BaseException)]


def _cause(exc: BaseException) -> tuple[ErrorType, BaseException] | None:
    """The root cause of a failure to connect, when the chain shows one: the error itself, not
    aiohttp's wrapper of it (a ``ClientConnectorCertificateError``, say, which is an ``ssl`` error
    too but says "Cannot connect to host ... ssl:True [...]" around it), so both backends say it
    in the same words."""
    for link in _chain(exc):
        if isinstance(link, OSError) and link.errno in _TOO_MANY_FILES:
            return ErrorType.TooManyOpenFiles, link
    for link in _chain(exc):
        wrapped = getattr(link, "certificate_error", None) or getattr(link, "os_error", None)
        if isinstance(wrapped, BaseException) and wrapped is not link:
            continue  # the wrapped error comes later in the chain (_chain follows both attributes)
        if isinstance(link, socket.gaierror):
            return ErrorType.DNSError, link
        if isinstance(link, ssl.SSLCertVerificationError):
            return ErrorType.CertificateError, link
        if isinstance(link, ssl.SSLError):
            return ErrorType.TLSError, link
        if isinstance(link, ConnectionRefusedError):
            return ErrorType.ConnectionRefused, link
    return None


Redact = Callable[[str], str]


def _unchanged(text: str) -> str:
    return text


def _told(link: BaseException) -> bool:
    """Whether a link of the chain has words for the user: not a cancellation, whose text is
    the event loop's or anyio's ("Cancelled via cancel scope 7f...; reason: deadline exceeded"
    behind a timeout on the httpx backend)."""
    return not isinstance(link, asyncio.CancelledError)


def _message(exc: BaseException, redact: Redact) -> str:
    for link in _chain(exc):
        text = clean_line(redact(str(link))) if _told(link) else ""
        if text:
            return text
    return ""


# A failure to reach or talk to a proxy, in fetchcli's words, the same on both backends and for
# every proxy scheme (the transports tell which step failed: aioconnector.py, coretransport.py). The proxy
# is named as ``mask_credentials`` shows it; what a library said is never the message.


def out_of_files(exc: BaseException) -> bool:
    """Whether ``exc`` is (or was caused by) running out of file descriptors: fetchcli's own
    limit, not the fault of whatever it was connecting to."""
    return any(isinstance(link, OSError) and link.errno in _TOO_MANY_FILES for link in _chain(exc))


def proxy_unreachable(proxy: str, exc: BaseException) -> str:
    """The connection to ``proxy`` (TCP, or TLS with an ``https://`` proxy) failed with ``exc``."""
    cause = _cause(exc)
    kind, root = cause if cause is not None else (None, exc)
    if kind is ErrorType.ConnectionRefused:
        return f"cannot connect to proxy {proxy}: connection refused"
    detail = _message(root, _unchanged) or "could not connect"
    if kind is ErrorType.DNSError:
        return f"cannot connect to proxy {proxy}: its host name does not resolve ({detail})"
    if kind in (ErrorType.TLSError, ErrorType.CertificateError):
        return f"TLS handshake with proxy {proxy} failed: {detail}"
    return f"cannot connect to proxy {proxy}: {detail}"


def proxy_refused(proxy: str, status: int, reason: str) -> str:
    """``proxy`` answered the CONNECT with a status other than 2xx."""
    return clean_line(f"proxy {proxy} refused the CONNECT: {status} {reason}".rstrip())


def proxy_unanswered(proxy: str, socks_reason: str | None = None) -> str:
    """``proxy`` closed the connection or sent something that is not an answer to the CONNECT
    (an HTTP proxy), or failed the handshake (a SOCKS proxy: ``socks_reason``, its words)."""
    if proxy.startswith("socks"):
        return clean_line(f"proxy {proxy} failed the SOCKS handshake" + (f": {socks_reason}" if socks_reason else ""))
    return f"proxy {proxy} gave no valid answer to the CONNECT"


def proxy_silent(proxy: str) -> str:
    """``proxy`` did not answer the CONNECT within the read timeout (a ``ReadTimeout``)."""
    return f"proxy {proxy} did not answer the CONNECT within --read-timeout"


def classify(exc: BaseException, redact: Redact = _unchanged) -> ErrorInfo:
    """The ``ErrorInfo`` for any exception raised while fetching one URL; never raises.
    ``redact`` (``redact.Redactor``) takes the run's secrets out of a message before it is cut to
    one line of bounded length: a secret cut in two would no longer be found."""
    if isinstance(exc, TransportFailure):
        etype: ErrorType | None = exc.kind
    else:
        etype = next((name for cls, name in _BY_CLASS if isinstance(exc, cls)), None)
    cause = _cause(exc) if etype in _CAUSE_MAY_TELL else None
    if cause is not None:
        etype, root = cause
        message = _message(root, redact)
    elif etype is None:  # not foreseen: say what it was, from the bottom of the chain
        told = [link for link in _chain(exc) if _told(link)]
        if not told:
            return ErrorInfo(ErrorType.Unexpected, type(exc).__name__)
        return ErrorInfo(ErrorType.Unexpected, clean_line(redact(f"{type(told[-1]).__name__}: {told[-1]}")))
    else:
        message = _message(exc, redact)
        if etype in _OWN_WORDS and not message.startswith(_OURS):
            message = ""  # a library's words ("Timeout on reading data from socket", "(_ssl.c:1006)")
        elif etype is ErrorType.RemoteProtocolError and message.startswith(_CUT_SHORT_WORDS):
            message = BODY_CUT_SHORT
    return ErrorInfo(etype, message or _DEFAULT_MESSAGES.get(etype, etype.description))
