"""The retry policy, as pure functions: whether an outcome is worth another try, and how long
to wait first. No I/O here; ``request.py`` asks, and sleeps.

What may be retried:

- a failure before the request was sent (``BEFORE_SENDING``: the name did not resolve, the
  connection was refused or timed out, no pool slot came free...), whatever the method: the
  server never saw it;
- a failure after it was sent (``AFTER_SENDING``: reset, timeout waiting for the answer, a broken
  answer) and a status in ``--retry-on``, only for an idempotent method (GET, HEAD, OPTIONS, PUT,
  DELETE, TRACE: RFC 9110 section 9.2.2), unless ``--retry-all-methods``: a POST the server may
  have acted on is not sent again behind the user's back (urllib3's rule);
- nothing else: a certificate that fails verification, a redirect loop, a broken gzip stream
  or invalid input give the same answer every time.

Apart from these tries, and whatever ``--retries`` says: a request that failed on a kept-alive
connection before any byte of an answer arrived (the server closed the connection while it lay
idle, as it may: RFC 9112 section 9.3.1) is sent once more, on a new connection, when
``may_resend`` allows its method (``request._exchange``; browsers and urllib3 do the same).

The wait is full-jitter exponential backoff (a random wait between 0 and ``backoff`` x 2^(n-1)),
or the server's ``Retry-After`` on 429 and 503, both capped by ``--retry-max-wait``. A wait that
would outlast the URL's ``--max-time`` or the run's ``--deadline`` is not made (``request.py``):
the last outcome is the record.
"""

from __future__ import annotations

import email.utils
import random
from datetime import datetime, timezone

from fetchcli.errortype import ErrorType
from fetchcli.settings import RetrySettings

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
BEFORE_SENDING = frozenset(
    {
        ErrorType.DNSError,
        ErrorType.ConnectionRefused,
        ErrorType.ConnectError,
        ErrorType.ConnectTimeout,
        ErrorType.PoolTimeout,
        ErrorType.TLSError,
        ErrorType.TooManyOpenFiles,
        ErrorType.ProxyError,  # the proxy could not be reached, or refused or failed the CONNECT: the server saw nothing
    }
)
AFTER_SENDING = frozenset(
    {
        ErrorType.WriteError,
        ErrorType.WriteTimeout,
        ErrorType.ReadError,
        ErrorType.ReadTimeout,
        ErrorType.RemoteProtocolError,
    }
)
_HINTED_STATUSES = (429, 503)


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or HTTP-date form), or None when absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit alone accepts '²' and other digits float() refuses
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def may_retry(method: str, error_type: ErrorType | None, status: int | None, policy: RetrySettings) -> bool:
    """Whether this outcome (an ``error.type``, or else a response ``status``) is worth another
    try under ``policy``, before counting tries."""
    if error_type is not None:
        if error_type in BEFORE_SENDING:
            return True
        if error_type not in AFTER_SENDING:
            return False
    elif status is None or status not in policy.retry_on:
        return False
    return policy.all_methods or method.upper() in IDEMPOTENT_METHODS


def hinted_seconds(retry_after: str | None, status: int | None) -> float | None:
    """The wait a response asks for: its ``Retry-After`` on 429 and 503, else None."""
    return retry_after_seconds(retry_after) if status in _HINTED_STATUSES else None


def backoff_seconds(
    attempt: int, policy: RetrySettings, retry_after: str | None = None, status: int | None = None
) -> float:
    """How long to wait after try number ``attempt`` (1-based) before the next one."""
    hinted = hinted_seconds(retry_after, status)
    if hinted is not None:
        return min(hinted, policy.max_wait)
    return random.uniform(0, min(policy.max_wait, policy.backoff * 2 ** (attempt - 1)))


def may_resend(method: str, policy: RetrySettings) -> bool:
    """Whether a request that failed on a kept-alive connection before any byte of an answer
    arrived may be sent once more on a new connection: an idempotent method, or any method with
    ``--retry-all-methods`` (the user's word that sending one twice is harmless)."""
    return policy.all_methods or method.upper() in IDEMPOTENT_METHODS
