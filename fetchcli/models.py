"""The records that flow through fetchcli: input items, results and the run summary.

Everything here is plain data (frozen dataclasses with slots) so the core can be used from
Python without the CLI, and so the JSON schema lives in exactly one place: ``FetchResult.to_dict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
        return self.url if self.url is not None else self.raw


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
    elapsed_s: float = 0.0

    def add(self, result: FetchResult) -> None:
        self.total += 1
        if result.ok:
            self.ok += 1
        else:
            self.failed += 1
        if result.status is not None:
            key = f"{result.status // 100}xx"
            self.by_status_class[key] = self.by_status_class.get(key, 0) + 1
        if result.error is not None:
            etype = result.error.type
            self.by_error_type[etype] = self.by_error_type.get(etype, 0) + 1

    def describe(self) -> str:
        """One human line, e.g. ``12 URLs: 10 ok, 2 failed (1 ConnectError, 1 404) in 1.52 s``."""
        details = [f"{n} {kind}" for kind, n in sorted(self.by_error_type.items())]
        line = f"{self.total} URL{'s' if self.total != 1 else ''}: {self.ok} ok, {self.failed} failed"
        if details:
            line += f" ({', '.join(details)})"
        return f"{line} in {self.elapsed_s:.2f} s"
