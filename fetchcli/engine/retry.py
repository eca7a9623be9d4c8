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
or the server's ``Retry-After`` on 429 and 503, both capped by ``--retry-max-wait`` (at most
a day: ``settings.MAX_RETRY_MAX_WAIT``). A wait that would leave less than ``RETRY_MARGIN`` (or the last try's
duration, if longer) before the URL's ``--max-time`` or the run's ``--deadline`` is not made
(``request.py``): the last outcome is the record.
"""

from __future__ import annotations

import email.utils
import random
from datetime import datetime, timezone

from fetchcli.errortype import ErrorType
from fetchcli.settings import RetrySettings

# The longest wait a Retry-After is taken to ask for: a longer one (or a 400-digit one) is "more
# than" this, which no --retry-max-wait (at most settings.MAX_RETRY_MAX_WAIT) reaches anyway.
RETRY_AFTER_CAP = 1_000_000_000.0
# Time a try after a wait is given at least: a wait that would leave less before --max-time or
# the --deadline is not made (the known answer is reported rather than cut short by the stop).
RETRY_MARGIN = 0.25
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
        digits = value.lstrip("0") or "0"
        return float(digits) if len(digits) < 10 else RETRY_AFTER_CAP  # no 4,300-digit int() either
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return min(max(0.0, (when - datetime.now(timezone.utc)).total_seconds()), RETRY_AFTER_CAP)


def wait_text(seconds: float) -> str:
    """A wait asked for, as a message says it: ``120 s``; ``more than 1e+09 s`` when capped."""
    return f"more than {RETRY_AFTER_CAP:g} s" if seconds >= RETRY_AFTER_CAP else f"{seconds:g} s"


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
    # 2.0 ** 1024 would overflow: past 2 ** 64 the cap is reached anyway
    return random.uniform(0, min(policy.max_wait, policy.backoff * 2.0 ** min(attempt - 1, 64)))


def may_resend(method: str, policy: RetrySettings) -> bool:
    """Whether a request that failed on a kept-alive connection before any byte of an answer
    arrived may be sent once more on a new connection: an idempotent method, or any method with
    ``--retry-all-methods`` (the user's word that sending one twice is harmless)."""
    return policy.all_methods or method.upper() in IDEMPOTENT_METHODS
