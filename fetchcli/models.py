"""The records that flow through fetchcli: input items, results and the run summary.

Everything here is plain data (frozen dataclasses with slots) so the core can be used from
Python without the CLI, and so the JSON schema lives in exactly one place: ``FetchResult.to_dict``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields
from typing import Any

from fetchcli.errortype import ErrorType
from fetchcli.redact import mask_credentials

# Bumped when a field of the record changes meaning or goes away (adding one does not).
RECORD_SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """Why a URL has no (good) response: ``type`` is an ``ErrorType`` (an exception class name
    such as ``ConnectError``, ``ReadTimeout`` or ``InvalidURL``); ``message`` is one sanitised line."""

    type: ErrorType
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message}


@dataclass(frozen=True, slots=True)
class Redirect:
    """One redirect followed with ``-L``: the URL that answered and its status."""

    url: str
    status: int

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "status": self.status}


@dataclass(frozen=True, slots=True)
class Timing:
    """The record's ``timing``, for the last request of a URL (the final hop with ``-L``).
    ``dns_ms``: looking the name up (None for an IP address, a reused connection, or a name
    looked up in the last 10 s); ``connect_ms``: the TCP connection; ``tls_ms``: the TLS
    handshake; ``ttfb_ms``: from sending the request (connecting included) to its response's
    headers."""

    dns_ms: float | None
    connect_ms: float | None
    tls_ms: float | None
    ttfb_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"dns_ms": self.dns_ms, "connect_ms": self.connect_ms, "tls_ms": self.tls_ms, "ttfb_ms": self.ttfb_ms}


@dataclass(frozen=True, slots=True)
class TlsInfo:
    """What the record's ``tls`` object holds. ``verified``: True when the certificate was
    verified, False when verification failed (the record's error says why), None with ``-k``
    (not checked). ``days_left``: whole days until ``not_after``, negative once expired."""

    version: str | None
    cipher: str | None
    not_after: str | None
    days_left: int | None
    issuer: str | None
    subject: str | None
    san: tuple[str, ...]
    san_truncated: bool
    verified: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "cipher": self.cipher,
            "not_after": self.not_after,
            "days_left": self.days_left,
            "issuer": self.issuer,
            "subject": self.subject,
            "san": list(self.san),
            "san_truncated": self.san_truncated,
            "verified": self.verified,
        }


# What ``--watch`` may name, in the record's order: the fields a state file compares run to run.
WATCHABLE = ("ok", "status", "final_url", "title", "remote_ip", "sha256", "tls.not_after")


@dataclass(frozen=True, slots=True)
class Change:
    """The record's ``change`` (with ``--state``): how this run's answer differs from the one the
    state file held. ``kind``: ``new`` (no earlier run), ``changed`` (a watched field differs) or
    ``same``; ``fields``: the watched fields that differ; ``previous``: their earlier values, by
    name; ``transition``: ``down`` (was ok, now not), ``up`` (was not ok, now is) or None."""

    kind: str
    fields: tuple[str, ...] = ()
    previous: tuple[tuple[str, Any], ...] = ()
    transition: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "fields": list(self.fields),
            "previous": dict(self.previous),
            "transition": self.transition,
        }


class RawJson(str):
    """JSON text written into a record as it is (a JSON Lines input's ``meta``: its key order,
    its numbers as written, ``1.10`` and ``12345678901234567890`` alike), not as a JSON string;
    CSV writes it as the text. ``output/render/fields.dumps_record`` writes it."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class UrlRequest:
    """A JSON Lines input line's own request (``input/jsonl.py``), which replaces the run's
    ``-X``, ``-H`` and body for that URL alone: ``method`` (None: the run's, or POST for a body
    when the run's is GET or HEAD), ``headers`` (each replaces the run's headers of its name),
    ``body`` (None: the run's) with its ``content_type`` and ``accept`` (sent unless ``headers``
    name them)."""

    method: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    content_type: str | None = None
    accept: str | None = None

    def method_with(self, run_method: str) -> str:
        """The method the URL is sent with, when the run's (``-X``, or its default) is ``run_method``."""
        if self.method is not None:
            return self.method
        return "POST" if self.body is not None and run_method in ("GET", "HEAD") else run_method


@dataclass(frozen=True, slots=True)
class UrlItem:
    """One input URL. ``index`` counts URLs only (comments and blank lines take none).

    ``url`` is the normalised URL to fetch (a missing scheme added), or ``None`` when the
    input was rejected, in which case ``error`` says why and no request is made. From a JSON
    Lines input: ``request``, the line's own method, headers and body (None: the run's), and
    ``meta``, the line's ``meta`` object as compact JSON text, copied into the record.
    ``address``: with ``--all-ips``, the one address of the URL's host this item probes
    (``engine/allips.py``); None: the host's addresses as looked up.
    """

    index: int
    raw: str
    url: str | None
    error: ErrorInfo | None = None
    request: UrlRequest | None = None
    meta: RawJson | None = None
    address: str | None = None
    # --conditional: the ETag and Last-Modified a state file holds for the URL ("" for none),
    # sent as If-None-Match / If-Modified-Since.
    validators: tuple[str, str] | None = None
    # --save: another request of the run claimed this URL's name first (savename.NameClaims):
    # the body is saved under its conflict name, not over the other's.
    save_apart: bool = False

    @property
    def display_url(self) -> str:
        """The URL as records show it: the normalised URL (or the raw line), password masked."""
        return mask_credentials(self.url if self.url is not None else self.raw)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one input URL; ``to_dict`` is the JSON record schema."""

    index: int
    url: str
    ok: bool
    status: int | None = None
    reason: str | None = None
    http_version: str | None = None
    final_url: str | None = None
    redirects: tuple[Redirect, ...] = ()
    elapsed_ms: float | None = None
    timing: Timing | None = None
    content_type: str | None = None
    content_length: int | None = None
    server: str | None = None
    title: str | None = None
    remote_ip: str | None = None
    remote_port: int | None = None
    bytes_read: int = 0
    truncated: bool = False
    sha256: str | None = None
    binary: bool = False
    snippet: str = ""
    fetched_at: str = ""
    error: ErrorInfo | None = None
    attempts: int = 0
    tls: TlsInfo | None = None
    # Last, so that no column of CSV/TSV moved when they came (awk '$N' keeps working).
    queued_ms: float | None = None
    location: str | None = None  # a 3xx's Location, resolved against the URL that answered
    method: str | None = None  # the method of the request asked last (GET after --head-fallback)
    saved_path: str | None = None  # --save: where the body was saved, relative to DIR
    meta: RawJson | None = None  # a JSON Lines input line's meta, as compact JSON text
    # With --state (else None): a 304 answering --conditional's validators; how this answer
    # differs from the state's; the runs in a row this URL failed, this one included.
    not_modified: bool | None = None
    change: Change | None = None
    consecutive_failures: int | None = None
    # Not in the record: the response's ETag and Last-Modified (checked: bounded, no control
    # character), what a state file keeps for --conditional.
    validators: tuple[str | None, str | None] | None = field(default=None, metadata={"record": False})

    def with_state(self, not_modified: bool, change: Change, consecutive_failures: int) -> FetchResult:
        """This record with what ``--state`` adds (``dataclasses.replace`` without its checks: it
        runs for every record of a run)."""
        before = _BEFORE_STATE(self)  # the fields before not_modified, in order
        return FetchResult(*before, not_modified, change, consecutive_failures, self.validators)  # type: ignore[call-arg]

    def to_dict(self) -> dict[str, Any]:
        # output/render/jsonline.py writes json.dumps of this without building it (tests/test_jsonline.py
        # holds the two equal): a field added here is added there.
        return {
            "schema_version": RECORD_SCHEMA_VERSION,
            "index": self.index,
            "url": self.url,
            "ok": self.ok,
            "status": self.status,
            "reason": self.reason,
            "http_version": self.http_version,
            "final_url": self.final_url,
            "redirects": [hop.to_dict() for hop in self.redirects],
            "elapsed_ms": self.elapsed_ms,
            "timing": self.timing.to_dict() if self.timing is not None else None,
            "content_type": self.content_type,
            "content_length": self.content_length,
            "server": self.server,
            "title": self.title,
            "remote_ip": self.remote_ip,
            "remote_port": self.remote_port,
            "bytes_read": self.bytes_read,
            "truncated": self.truncated,
            "sha256": self.sha256,
            "binary": self.binary,
            "snippet": self.snippet,
            "fetched_at": self.fetched_at,
            "error": self.error.to_dict() if self.error is not None else None,
            "attempts": self.attempts,
            "tls": self.tls.to_dict() if self.tls is not None else None,
            "queued_ms": self.queued_ms,
            "location": self.location,
            "method": self.method,
            "saved_path": self.saved_path,
            "meta": self.meta,
            "not_modified": self.not_modified,
            "change": self.change.to_dict() if self.change is not None else None,
            "consecutive_failures": self.consecutive_failures,
        }


_NAMES = [f.name for f in fields(FetchResult)]
_BEFORE_STATE = operator.attrgetter(*_NAMES[: _NAMES.index("not_modified")])
assert _NAMES[_NAMES.index("not_modified") :] == ["not_modified", "change", "consecutive_failures", "validators"]

# The record's nested objects and their fields, as ``--fields`` and CSV name them (``tls.days_left``).
NESTED_FIELDS: dict[str, tuple[str, ...]] = {
    name: tuple(f.name for f in fields(kind))
    for name, kind in (("error", ErrorInfo), ("timing", Timing), ("tls", TlsInfo), ("change", Change))
}
