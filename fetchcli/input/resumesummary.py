"""The summary of the records a resumed run leaves as they are (``ResumeFile.earlier``): each
record counted by what the summary counts of it (``Counted``) while the file is read, so that
memory is bounded by the distinct outcomes, never the records; ``summary_of`` makes the counts
a ``Summary`` that a resumed run merges into its own, so that its summary and exit status count
every URL of the file, as if the run had not been interrupted."""

from __future__ import annotations

from typing import Any

from fetchcli.errortype import ErrorType
from fetchcli.models import ErrorInfo, FetchResult
from fetchcli.summary import Summary

# What the summary counts of a record: ok, status, error type, time (to the summary's three
# digits) and whether it was tried.
Counted = tuple[bool, int | None, str | None, float | None, bool]


def counted(record: dict[str, Any], ok: bool) -> Counted:
    """A record's ``Counted``; a value of the wrong kind counts as absent (an edited file)."""
    status, error, elapsed = record.get("status"), record.get("error"), record.get("elapsed_ms")
    etype = error.get("type") if isinstance(error, dict) else None
    return (
        ok,
        status if type(status) is int else None,
        etype if isinstance(etype, str) else None,
        float(f"{elapsed:.3g}") if type(elapsed) is float or type(elapsed) is int else None,
        bool(record.get("attempts")),
    )


def _rename_type(one: Summary, name: str) -> None:
    """``one`` counts a record whose error type is not in the vocabulary (a newer fetchcli's
    file, an edited one), added as ``Unexpected``: count it under the name it has instead."""
    for by_cause in (one.by_error_type, one.failures):
        if ErrorType.Unexpected in by_cause:
            by_cause[name] = by_cause.pop(ErrorType.Unexpected)


def summary_of(counts: dict[Counted, int]) -> Summary:
    """The summary of records counted by outcome: ``Summary.add`` once per distinct outcome."""
    total = Summary()
    for (ok, status, etype, elapsed, tried), n in counts.items():
        known = ErrorType.named(etype)
        error = ErrorInfo(known or ErrorType.Unexpected, "") if etype is not None else None
        one = Summary()
        one.add(FetchResult(0, "", ok, status=status, error=error, elapsed_ms=elapsed, attempts=int(tried)))
        if etype is not None and known is None:
            _rename_type(one, etype)
        total.merge(one, times=n)
    total.earlier = 0
    return total
