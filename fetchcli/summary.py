"""The run's totals, folded from results as they are written, in memory that does not grow with
the number of URLs: counts by outcome, and times kept to three significant digits (a few
thousand distinct values at most), which is enough for p50/p95 within half a percent."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from fetchcli.models import FetchResult

SUMMARY_SCHEMA_VERSION = 1


@dataclass(slots=True)
class Summary:
    """Running totals of a run; ``describe`` is the human line, ``to_dict`` the JSON."""

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
    stopped_by: str | None = None  # SIGINT, SIGTERM (interrupted) or "deadline" (--deadline)
    duplicates: int = 0  # URLs left out by --unique
    resumed: int = 0  # URLs left out by --resume: recorded by an earlier run
    # elapsed_ms of each result, to three significant digits -> how many results took that long.
    times_ms: dict[float, int] = field(default_factory=dict)
    earlier: int = 0  # of ``total``: records of an earlier run (--resume), fetched before this one

    def merge(self, other: Summary, times: int = 1) -> None:
        """Add ``other``'s counts (``times`` over) to these: ``--resume`` adds the records the file
        already holds, so that a resumed run counts every URL, as if it had not been interrupted;
        ``other``'s URLs count as ``earlier``, not in this run's URLs/s. Every count is added (each
        int and dict of counts), whatever counts the summary grows."""
        for item in fields(self):
            mine, theirs = getattr(self, item.name), getattr(other, item.name)
            if item.name == "earlier":
                continue
            if isinstance(mine, dict):
                for key, n in theirs.items():
                    mine[key] = mine.get(key, 0) + n * times
            elif type(mine) is int and type(theirs) is int:
                setattr(self, item.name, mine + theirs * times)
        self.earlier += other.total * times

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
        if result.elapsed_ms is not None and result.attempts:
            ms = float(f"{result.elapsed_ms:.3g}")
            self.times_ms[ms] = self.times_ms.get(ms, 0) + 1

    def percentile(self, fraction: float) -> float | None:
        """The time (ms) within which ``fraction`` of the URLs that were tried finished."""
        count = sum(self.times_ms.values())
        if not count:
            return None
        rank, seen = max(1, round(fraction * count)), 0
        for ms in sorted(self.times_ms):
            seen += self.times_ms[ms]
            if seen >= rank:
                return ms
        return max(self.times_ms)

    @property
    def urls_per_second(self) -> float:
        return (self.total - self.earlier) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def _causes(self) -> list[tuple[str, int]]:
        return sorted(self.failures.items(), key=lambda kv: (not kv[0].isdigit(), kv[0].zfill(3)))

    def describe(self) -> str:
        """One human line, e.g. ``21 URLs: 17 ok, 4 failed (1 404, 1 500, 1 ConnectError, 1
        ReadTimeout) in 1.52 s, 13.8 URLs/s; p50 12 ms, p95 80 ms, max 1,204 ms``: statuses
        first, in order, then error types by name."""
        details = [f"{n} {cause}" for cause, n in self._causes()]
        line = f"{self.total} URL{'s' if self.total != 1 else ''}: {self.ok} ok, {self.failed} failed"
        if details:
            line += f" ({', '.join(details)})"
        line += f" in {self.elapsed_s:.2f} s"
        if self.times_ms:
            p50, p95 = self.percentile(0.5), self.percentile(0.95)
            line += f", {self.urls_per_second:,.1f} URLs/s; p50 {p50:,g} ms, p95 {p95:,g} ms, max {max(self.times_ms):,g} ms"
        if self.resumed:
            line += f"; {self.resumed:,} done before (--resume)"
        if self.duplicates:
            line += f"; {self.duplicates:,} repeated URL{'s' if self.duplicates != 1 else ''} left out (--unique)"
        if self.unread is not None:
            if self.unread < 0:
                line += "; the input was not read to its end"
            else:
                line += f"; {self.unread:,} URL{'s' if self.unread != 1 else ''} in the input left unread"
        return line

    def to_dict(self) -> dict[str, Any]:
        """The summary as ``--summary-json`` writes it."""
        return {
            "schema_version": SUMMARY_SCHEMA_VERSION,
            "total": self.total,
            "ok": self.ok,
            "failed": self.failed,
            "failures": dict(self._causes()),
            "by_status_class": dict(sorted(self.by_status_class.items())),
            "by_error_type": dict(sorted(self.by_error_type.items())),
            "elapsed_ms": {
                "p50": self.percentile(0.5),
                "p95": self.percentile(0.95),
                "max": max(self.times_ms) if self.times_ms else None,
            },
            "urls_per_second": round(self.urls_per_second, 3),
            "wall_time_s": round(self.elapsed_s, 3),
            "stopped_by": self.stopped_by,
            "unread": self.unread,
            "duplicates": self.duplicates,
            "resumed": self.resumed,
        }
