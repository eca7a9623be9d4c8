"""``ErrorType``: the closed vocabulary of ``error.type``, each name with what it means (the
table of error types in docs/records.md is this, kept equal by tests/test_docs.py).

A ``str``-valued enum (``class ErrorType(str, Enum)``: ``StrEnum`` is Python 3.11+), so a record's
JSON, CSV and text are unchanged: a member is its name wherever it is written, by ``json``,
``csv``, ``str()`` and f-strings alike. It lives in a module of its own, importing nothing, so
that the records (models.py), the summary and the retry policy can use it without a cycle and
without loading httpx (``errors.py``, which maps exceptions to these names and re-exports
``ErrorType``, imports both; ``fetchcli --version`` imports neither)."""

from __future__ import annotations

from enum import Enum


class ErrorType(str, Enum):
    """Why a URL has no (good) response: ``error.type``. Spell a type as a member
    (``ErrorType.ReadTimeout``), never as text, so that mypy catches a misspelt one; text from
    outside (a ``--resume`` file, a worker's frame) becomes a member with ``named``."""

    _value_: str
    description: str  # what it means, in the words of docs/records.md

    def __new__(cls, name: str, description: str) -> ErrorType:
        member = str.__new__(cls, name)
        member._value_ = name
        member.description = description
        return member

    def __str__(self) -> str:  # the name alone, on every Python (not "ErrorType.X")
        return self._value_

    def __format__(self, spec: str) -> str:  # f-strings: the name alone (3.12 formats as str())
        return self._value_.__format__(spec)

    @classmethod
    def named(cls, name: object) -> ErrorType | None:
        """The member called ``name`` (text or a member), None for anything outside the vocabulary."""
        return cls.__members__.get(name) if isinstance(name, str) else None

    # One member a line, its name twice (the value must be known as the member is made; a test
    # checks that the two agree).
    # fmt: off
    InvalidURL = "InvalidURL", "the input is not an http(s) URL fetchcli can request; no request was made"
    InvalidInput = "InvalidInput", "a line of a JSON Lines input (-i FILE.jsonl, --input-format jsonl) is not a request fetchcli can make: not JSON, not an object, no url, an unknown key, a value of the wrong type, a bad header, a meta over 4 KiB...; the message names the line and the problem; no request was made"
    DNSError = "DNSError", "the host name could not be resolved"
    ConnectionRefused = "ConnectionRefused", "nothing accepted the connection on that address and port"
    CertificateError = "CertificateError", "the server's TLS certificate failed verification (untrusted, expired, wrong name); -k skips it"
    TLSError = "TLSError", "the TLS handshake failed for another reason"
    CertificateExpiring = "CertificateExpiring", "the response came, but its certificate has fewer whole days left than --cert-expiry-days (tls.days_left)"
    TooManyOpenFiles = "TooManyOpenFiles", "out of file descriptors: lower -c / --max-connections, or raise `ulimit -n`"
    ConnectError = "ConnectError", "the connection could not be made for another reason (network or host unreachable...)"
    ProxyError = "ProxyError", "fetchcli could not reach or talk to the proxy (refused, a name that does not resolve, a failed TLS or SOCKS handshake, a CONNECT refused or not answered in HTTP); the message names the proxy"
    ConnectTimeout = "ConnectTimeout", "--connect-timeout passed while connecting (TCP and TLS)"
    PoolTimeout = "PoolTimeout", "--pool-timeout passed while waiting for a free connection"
    WriteTimeout = "WriteTimeout", "--write-timeout passed while sending the request"
    ReadTimeout = "ReadTimeout", "--read-timeout passed while waiting for data from the server"
    TotalTimeout = "TotalTimeout", "--max-time passed for this URL (redirects, retries and body included), counted from its first request; what was known is kept: the redirects followed, and the status, headers and connection facts of a response whose body stalled"
    WriteError = "WriteError", "the connection failed while sending the request"
    ReadError = "ReadError", "the connection failed while reading the response (reset or closed by the server)"
    RemoteProtocolError = "RemoteProtocolError", "the server broke HTTP: a bad status line, chunk or header, a body shorter than declared, a status outside 100-599, an unasked 101, more than 100 (or 64 KiB of) informational 1xx responses (HTTP/1.1 and HTTP/2), an HTTP/2 response without exactly one valid `:status`..."
    TooManyRedirects = "TooManyRedirects", "-L followed --max-redirects redirects and there were more"
    InvalidRedirect = "InvalidRedirect", "-L met a redirect whose Location is not a URL fetchcli would take as input (no host, an invalid host, a port outside 1-65535, a `\\` before its path, or not a URL at all); it is not followed"
    UnsupportedRedirect = "UnsupportedRedirect", "-L met a redirect to a scheme other than http and https"
    DecodingError = "DecodingError", "the body's gzip or deflate encoding is broken"
    BodyTooLarge = "BodyTooLarge", "with --save, the body was larger than --max-save-bytes: it was not read further, and nothing was saved"
    SaveError = "SaveError", "with --save, the body could not be written under DIR (a full disk, no permission, a name that cannot be made there); the message says why"
    ExpectFailed = "ExpectFailed", "the response came, but its first --max-body-bytes do not contain --expect-text or match --expect-regex, or its body does not meet --expect-jq"
    RetryAfterTooLong = "RetryAfterTooLong", "the response (its status kept) was worth a retry, but its Retry-After asked for a longer wait than --max-time or --deadline left: not retried"
    Cancelled = "Cancelled", "in flight when --deadline or a signal stopped the run"
    NotStarted = "NotStarted", "read from the input but not started when --deadline or a signal stopped the run"
    Unexpected = "Unexpected", "anything else: a fault fetchcli did not foresee; the message names the original exception"
    # fmt: on
