"""The run's totals, folded from results as they are written, in memory that does not grow with
the number of URLs: counts by outcome, and times kept to three significant digits (a few
thousand distinct values at most), which is enough for p50/p95 within half a percent.

A stopped run (a signal, ``--deadline``) leaves URLs that were never answered: ``Cancelled`` (in
flight) and ``NotStarted`` (read, never sent). They are counted apart from ``failed`` (a URL
that was tried and did not pass), and the rate is over the URLs finished (``ok`` + ``failed``):
a stop does not make a run look faster or worse than it was. For the exit status they still
count against ``--max-failures`` (``not_ok``): a URL not checked is not a URL found ok."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from fetchcli import units
from fetchcli.errortype import ErrorType
from fetchcli.models import FetchResult

# 2: ``failed`` no longer counts ``cancelled`` and ``not_started`` (fields of their own), and
# ``urls_per_second`` is over the URLs finished.
SUMMARY_SCHEMA_VERSION = 2
UNFINISHED = (ErrorType.Cancelled, ErrorType.NotStarted)  # the error types of URLs a stop left unanswered


@dataclass(slots=True)
class Summary:
    """Running totals of a run; ``describe`` is the human line, ``to_dict`` the JSON."""

    total: int = 0
    ok: int = 0
    failed: int = 0  # tried and not ok
    cancelled: int = 0  # in flight when the run was stopped
    not_started: int = 0  # read from the input, never started, when the run was stopped
    by_status_class: dict[str, int] = field(default_factory=dict)
    by_error_type: dict[str, int] = field(default_factory=dict)
    # Every failure by its cause: the status (``"404"``) of a failing response, else the error type.
    failures: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    # How much of the input a stopped run left unread: ``None`` when all of it was read, else the
    # number of URLs left (``-1`` when that cannot be known, as with a pipe).
    unread: int | None = None
    stopped_by: str | None = None  # SIGINT, SIGTERM, SIGHUP (interrupted) or "deadline" (--deadline)
    duplicates: int = 0  # URLs left out by --unique
    resumed: int = 0  # URLs left out by --resume: recorded by an earlier run
    # elapsed_ms of each result, to three significant digits -> how many results took that long.
    times_ms: dict[float, int] = field(default_factory=dict)
    earlier: int = 0  # of ``total``: records of an earlier run (--resume), fetched before this one
    # With --state: URLs new to the state file, changed since the last run, gone from ok to not
    # ok (down) and back (up); failures not counted for the exit status yet (--fail-after).
    new: int = 0
    changed: int = 0
    went_down: int = 0
    came_up: int = 0
    below_fail_after: int = 0

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
        elif result.error is not None and result.error.type in UNFINISHED:
            if result.error.type == ErrorType.Cancelled:
                self.cancelled += 1
            else:
                self.not_started += 1
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
        change = result.change
        if change is not None:
            if change.kind == "new":
                self.new += 1
            elif change.kind == "changed":
                self.changed += 1
            if change.transition == "down":
                self.went_down += 1
            elif change.transition == "up":
                self.came_up += 1

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
    def finished(self) -> int:
        """URLs that got their answer (ok or failed), as opposed to cancelled or not started."""
        return self.ok + self.failed

    @property
    def not_ok(self) -> int:
        """What the exit status weighs against ``--max-failures``: every URL not found ok, so
        also those a stop left cancelled or not started."""
        return self.failed + self.cancelled + self.not_started

    @property
    def urls_per_second(self) -> float:
        """URLs finished per second of this run (cancelled and not started URLs took no time; those
        an earlier run recorded in a --resume file are not this run's)."""
        return (self.finished - self.earlier) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def _causes(self) -> list[tuple[str, int]]:
        return sorted(self.failures.items(), key=lambda kv: (not kv[0].isdigit(), kv[0].zfill(3)))

    def describe(self, unit: str = "URL") -> str:
        """One human line, e.g. ``21 URLs: 17 ok, 4 failed (1 404, 1 500, 1 ConnectError, 1
        ReadTimeout) in 1.52 s, 13.8 URLs/s; p50 12.0 ms, p95 80.0 ms, max 1,204 ms``: statuses
        first, in order, then error types by name; after a stop ``, 20 cancelled, 220 not
        started`` follow the failures. Numbers are written as everywhere else (``units``). ``unit``:
        what a record stands for (``probe`` with ``--all-ips``: one record per address of a URL)."""
        details = [f"{units.count(n)} {cause}" for cause, n in self._causes()]
        line = f"{units.count(self.total)} {unit}{'s' if self.total != 1 else ''}: {units.count(self.ok)} ok"
        line += f", {units.count(self.failed)} failed"
        if details:
            line += f" ({', '.join(details)})"
        if self.cancelled:
            line += f", {units.count(self.cancelled)} cancelled"
        if self.not_started:
            line += f", {units.count(self.not_started)} not started"
        line += f" in {units.seconds(self.elapsed_s)}"
        if self.times_ms:  # some URL was fetched (not only invalid input)
            if self.finished > self.earlier:  # this run fetched some (a --resume run may not)
                line += f", {units.rate(self.urls_per_second, unit)}"
            p50, p95 = self.percentile(0.5) or 0.0, self.percentile(0.95) or 0.0
            line += f"; p50 {units.ms(p50)}, p95 {units.ms(p95)}, max {units.ms(max(self.times_ms))}"
        if self.new or self.changed:
            line += f"; {units.count(self.changed)} changed, {units.count(self.new)} new"
        if self.went_down or self.came_up:
            line += f"; {units.count(self.went_down)} went down, {units.count(self.came_up)} came up"
        if self.below_fail_after:
            n = self.below_fail_after
            line += f"; {units.count(n)} failure{'s' if n != 1 else ''} within --fail-after (not counted for the exit status)"
        if self.resumed:
            line += f"; {units.count(self.resumed)} done before (--resume)"
        if self.duplicates:
            line += f"; {units.count(self.duplicates)} repeated URL{'s' if self.duplicates != 1 else ''} left out (--unique)"
        if self.unread is not None:
            if self.unread < 0:
                line += "; the input was not read to its end"
            else:
                line += f"; {units.count(self.unread)} URL{'s' if self.unread != 1 else ''} in the input left unread"
        return line

    def to_dict(self) -> dict[str, Any]:
        """The summary as ``--summary-json`` writes it."""
        return {
            "schema_version": SUMMARY_SCHEMA_VERSION,
            "total": self.total,
            "ok": self.ok,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "not_started": self.not_started,
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
            "changes": {"new": self.new, "changed": self.changed, "down": self.went_down, "up": self.came_up},
            "below_fail_after": self.below_fail_after,
        }
