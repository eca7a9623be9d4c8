"""The records that flow through fetchcli: input items, results and the run summary.

Everything here is plain data (frozen dataclasses with slots) so the core can be used from
Python without the CLI, and so the JSON schema lives in exactly one place: ``FetchResult.to_dict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fetchcli.redact import mask_credentials


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """Why a URL has no (good) response: ``type`` is an exception class name such as
    ``ConnectError``, ``ReadTimeout`` or ``InvalidURL``; ``message`` is one sanitised line."""

    type: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message}


@dataclass(frozen=True, slots=True)
class UrlItem:
    """One input URL. ``index`` counts URLs only (comments and blank lines take none).

    ``url`` is the normalised URL to fetch (a missing scheme added), or ``None`` when the
    input was rejected, in which case ``error`` says why and no request is made.
    """

    index: int
    raw: str
    url: str | None
    error: ErrorInfo | None = None

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
    elapsed_ms: float | None = None
    content_type: str | None = None
    content_length: int | None = None
    bytes_read: int = 0
    truncated: bool = False
    binary: bool = False
    snippet: str = ""
    fetched_at: str = ""
    error: ErrorInfo | None = None
    attempts: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "url": self.url,
            "ok": self.ok,
            "status": self.status,
            "reason": self.reason,
            "http_version": self.http_version,
            "final_url": self.final_url,
            "elapsed_ms": self.elapsed_ms,
            "content_type": self.content_type,
            "content_length": self.content_length,
            "bytes_read": self.bytes_read,
            "truncated": self.truncated,
            "binary": self.binary,
            "snippet": self.snippet,
            "fetched_at": self.fetched_at,
            "error": self.error.to_dict() if self.error is not None else None,
            "attempts": self.attempts,
        }


@dataclass(slots=True)
class Summary:
    """Running totals of a run, folded from results as they are written."""

    total: int = 0
    ok: int = 0
    failed: int = 0
    by_status_class: dict[str, int] = field(default_factory=dict)
    by_error_type: dict[str, int] = field(default_factory=dict)
    # Every failure by its cause: the status (``"404"``) of a failing response, else the error type.
    failures: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    # How much of the input a stopped run left unread: ``None`` when all of it was read, else the
    # number of URLs left (``-1`` when that cannot be known, as with a pipe).
    unread: int | None = None

    def add(self, result: FetchResult) -> None:
        self.total += 1
        if result.ok:
            self.ok += 1
        else:
            self.failed += 1
            cause = str(result.status) if result.error is None and result.status is not None else None
            if cause is None:
                cause = result.error.type if result.error is not None else "?"
            self.failures[cause] = self.failures.get(cause, 0) + 1
        if result.status is not None:
            key = f"{result.status // 100}xx"
            self.by_status_class[key] = self.by_status_class.get(key, 0) + 1
        if result.error is not None:
            etype = result.error.type
            self.by_error_type[etype] = self.by_error_type.get(etype, 0) + 1

    def describe(self) -> str:
        """One human line, e.g. ``21 URLs: 17 ok, 4 failed (1 404, 1 500, 1 ConnectError, 1
        ReadTimeout) in 1.52 s``: statuses first, in order, then error types by name."""
        causes = sorted(self.failures.items(), key=lambda kv: (not kv[0].isdigit(), kv[0].zfill(3)))
        details = [f"{n} {cause}" for cause, n in causes]
        line = f"{self.total} URL{'s' if self.total != 1 else ''}: {self.ok} ok, {self.failed} failed"
        if details:
            line += f" ({', '.join(details)})"
        line += f" in {self.elapsed_s:.2f} s"
        if self.unread is not None:
            if self.unread < 0:
                line += "; the input was not read to its end"
            else:
                line += f"; {self.unread:,} URL{'s' if self.unread != 1 else ''} in the input left unread"
        return line
