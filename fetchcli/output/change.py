"""What a state file knows of a URL (``Known``) and how a run's record compares with it: pure
functions, no I/O (``statefile.py`` reads and writes the rows).

- ``observe``: the watchable values this record stands for. A ``304`` answering
  ``--conditional`` (``not_modified``) stands for the copy the state knows: its title, hash and
  validators are the stored ones, its status the stored one when the last run succeeded, else
  200 (the status a 304 stands in for). A record without a response (a connection error)
  says nothing of the page: its final URL, title, address, hash, certificate and validators
  are the stored ones too; only ``ok`` and ``status`` (None) are its own.
- ``compare``: the record's ``change`` over the watched fields: ``new`` when the state has no
  row, else ``changed`` (and which fields, with their earlier values) or ``same``; ``sha256``
  is compared only when both runs read the body whole (``--read-all``). ``transition``:
  ``down`` when the URL was ok and is not, ``up`` the other way.
- ``counted``: the transition under ``--fail-after N``, where a failure counts only from the
  Nth run in a row: ``down`` on the run that reaches N failures in a row, ``up`` on the first
  success after such an outage; a blip (fewer than N, then a success) has none. With N = 1 it
  is ``compare``'s.
- ``worth_writing``: whether ``--only-changed`` writes the record: a change or a transition,
  except, under ``--fail-after N``, a failure before its Nth run in a row and the success that
  ends such a blip (when nothing but ``ok`` and ``status`` changed): a blip is never mailed.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

from fetchcli.models import WATCHABLE, Change, FetchResult
from fetchcli.settings import SettingProblem

__all__ = ["Known", "compare", "counted", "observe", "parse_watch", "worth_writing"]


class Known(NamedTuple):
    """One row of a state file, without its key: the last answer, the validators and the counts
    (a tuple: made for every record of a run, from the row as SQLite gives it; ``ok`` is 0 or 1)."""

    url: str
    ok: int
    status: int | None
    final_url: str | None
    title: str | None
    remote_ip: str | None
    sha256: str | None
    not_after: str | None
    etag: str | None
    last_modified: str | None
    consecutive_failures: int
    last_success: str | None
    last_failure: str | None
    last_change: str | None

    def value(self, name: str) -> Any:
        return self.not_after if name == "tls.not_after" else getattr(self, name)


# The fields of a page, which a record without a response leaves as the state knows them.
_OF_A_RESPONSE = ("final_url", "title", "remote_ip", "sha256", "tls.not_after")


def observe(result: FetchResult, known: Known | None) -> dict[str, Any]:
    """The watchable values (``WATCHABLE``) plus ``etag`` and ``last_modified`` this record
    stands for, as the module docstring says."""
    values: dict[str, Any] = {"ok": result.ok, "status": result.status}
    if result.status is None:  # no response: the page is as it was
        for name in (*_OF_A_RESPONSE, "etag", "last_modified"):
            values[name] = _known(known, name)
        return values
    values["final_url"] = result.final_url
    values["remote_ip"] = result.remote_ip if result.remote_ip is not None else _known(known, "remote_ip")
    values["tls.not_after"] = result.tls.not_after if result.tls is not None else None
    if result.not_modified and known is not None:  # the copy known is current
        # A 304 stands for the 200 its request would otherwise have had (RFC 9110, 15.4.5): the
        # stored status when the last run succeeded, not a failure's (a 503 or no answer).
        status = known.status if known.ok and known.status is not None else 200
        values.update(status=status, title=known.title, sha256=known.sha256)
        values.update(etag=known.etag, last_modified=known.last_modified)
        return values
    values["title"] = result.title
    # Without --read-all there is no hash: the last one known stays (compared only when both are).
    values["sha256"] = result.sha256 if result.sha256 is not None else _known(known, "sha256")
    etag, modified = result.validators if result.validators is not None else (None, None)
    if result.redirects:  # another URL's validators: never sent to this one (nor stored for it)
        etag = modified = None
    values.update(etag=etag, last_modified=modified)
    return values


def _known(known: Known | None, name: str) -> Any:
    return known.value(name) if known is not None else None


def compare(result: FetchResult, values: dict[str, Any], known: Known | None, watch: tuple[str, ...]) -> Change:
    """The record's ``change`` (see the module docstring); ``values`` from ``observe``."""
    if known is None:
        return Change("new")
    changed: list[str] = []
    previous: list[tuple[str, Any]] = []
    for name in watch:
        before = known.value(name)
        if name == "sha256" and (values[name] is None or before is None):
            continue  # a hash only where both runs read the body whole
        if values[name] != before:
            changed.append(name)
            previous.append((name, bool(before) if name == "ok" else before))
    transition = None
    if known.ok and not result.ok:
        transition = "down"
    elif not known.ok and result.ok:
        transition = "up"
    return Change("changed" if changed else "same", tuple(changed), tuple(previous), transition)


def counted(change: Change, ok: bool, known: Known | None, failures: int, fail_after: int) -> Change:
    """``change`` with its transition as ``--fail-after`` counts (the module docstring);
    ``failures``: the URL's failures in a row, this run's included."""
    if known is None:
        return change
    transition = None
    if not ok and failures == fail_after:
        transition = "down"
    elif ok and not known.ok and known.consecutive_failures >= fail_after:
        transition = "up"
    return change if transition == change.transition else dataclasses.replace(change, transition=transition)


_BLIP_FIELDS = frozenset({"ok", "status"})


def worth_writing(result: FetchResult, fail_after: int) -> bool:
    """Whether ``--only-changed`` writes ``result`` (the module docstring)."""
    change = result.change
    if change is None or change.transition is not None:
        return True
    if fail_after > 1:
        if not result.ok and (result.consecutive_failures or 0) < fail_after:
            return False  # not counted yet (nor for the exit status), not written
        if "ok" in change.fields and _BLIP_FIELDS.issuperset(change.fields):
            return False  # the success that ends a blip
    return change.kind != "same"


def parse_watch(text: str) -> tuple[str, ...]:
    """``--watch ok,status,title`` -> the names, checked, in the record's order."""
    names = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(names - set(WATCHABLE))
    if not names or unknown:
        what = f"unknown field {unknown[0]!r}" if unknown else "needs at least one field"
        raise SettingProblem("watch", f"{what}; fields that can be watched: {', '.join(WATCHABLE)}")
    return tuple(name for name in WATCHABLE if name in names)
