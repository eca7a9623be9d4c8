"""``--state FILE``: what one run leaves for the next, in an SQLite database (the standard
library's ``sqlite3``), one row per URL by its ``url_key`` (the identity ``--unique`` and
``--shard`` use; the URL's password masked, as in the records).

- Opened before anything is fetched (``StateStore.open``): a new or empty file becomes a state
  file; one that is not an SQLite database, or one that is but not fetchcli's (its
  ``application_id``), or one of a newer schema (``user_version`` above ``SCHEMA_VERSION``) is
  refused (``SettingProblem``: a usage error). An older schema is migrated forward, step by
  step (``MIGRATIONS``), in one transaction.
- WAL journal, ``synchronous=NORMAL``: a transaction is durable once the WAL has it, and a
  process killed at any point (kill -9) leaves a database that opens, holding every batch
  committed. A busy timeout (``BUSY_TIMEOUT_S``) lets shards of one run on one machine share a
  file: each holds the write lock only for the moment a batch takes. Not for network
  filesystems (SQLite's locking is not reliable there). With ``--deadline`` no wait for the
  lock outlasts the run's deadline (``ends``; at the end, ``LATE_WAIT_S`` more to commit).
- Rows are written in batches (``BATCH_ROWS`` rows, or ``BATCH_SECONDS`` after the first one
  waiting, and at the end), by the thread that writes the records (the event loop's): what a
  batch holds is read back from memory until it is committed.
- Text from servers (title, final URL, validators) is stored as the record has it: the title
  and URL already cleaned and masked (``servertext``), the validators checked (``records.validator``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import time
import urllib.parse
from typing import Any

from fetchcli.engine.ticket import now_iso
from fetchcli.engine.urlkey import url_key
from fetchcli.errortype import ErrorType
from fetchcli.models import WATCHABLE, FetchResult, UrlItem
from fetchcli.output.change import Known, compare, counted, observe
from fetchcli.output.writer import StateWriteError
from fetchcli.settings import SettingProblem

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "StateStore", "StateWriteError"]

APPLICATION_ID = 0x66657463  # "fetc": PRAGMA application_id, what says a database is fetchcli's state
SCHEMA_VERSION = 1  # PRAGMA user_version of the schema this fetchcli writes
BUSY_TIMEOUT_S = 30.0
LATE_WAIT_S = 1.0  # how long a commit waits for the lock once the --deadline has passed
BATCH_ROWS = 500
BATCH_SECONDS = 1.0

# MIGRATIONS[v]: the statements that take a state file from schema v to v + 1 (0: a new file).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    0: (
        """CREATE TABLE urls (
            key TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            ok INTEGER NOT NULL,
            status INTEGER,
            final_url TEXT,
            title TEXT,
            remote_ip TEXT,
            sha256 TEXT,
            not_after TEXT,
            etag TEXT,
            last_modified TEXT,
            consecutive_failures INTEGER NOT NULL,
            last_success TEXT,
            last_failure TEXT,
            last_change TEXT,
            last_seen TEXT NOT NULL
        ) WITHOUT ROWID""",
    ),
}
_COLUMNS = (
    "url, ok, status, final_url, title, remote_ip, sha256, not_after, etag, last_modified,"
    " consecutive_failures, last_success, last_failure, last_change"
)
_SELECT = f"SELECT {_COLUMNS}, last_seen FROM urls WHERE key = ?"
_UPSERT = f"INSERT OR REPLACE INTO urls (key, {_COLUMNS}, last_seen) VALUES ({', '.join('?' * 16)})"
# Records that say nothing of the URL: a stop cut it short, or fetchcli failed (not the server).
_NOT_ANSWERED = (ErrorType.Cancelled, ErrorType.NotStarted, ErrorType.Unexpected)


def _refuse(path: str, why: str) -> SettingProblem:
    return SettingProblem("state", f"{path!r} {why}")


class StateStore:
    """An open state file: ``prepare`` gives a URL its stored validators (``--conditional``),
    ``note`` compares a record with its row and queues the new row, ``close`` commits the rest."""

    def __init__(
        self, connection: sqlite3.Connection, watch: tuple[str, ...] = WATCHABLE, ends: float | None = None
    ) -> None:
        self._db = connection
        self._ends = ends  # --deadline: time.monotonic() at which the run ends; None: no deadline
        self.watch = watch
        self.fail_after = 1  # --fail-after: from which failure in a row a transition is named
        self._pending: dict[str, tuple[Any, ...]] = {}  # key -> the row (UPSERT's parameters) not committed yet
        self._since: float | None = None  # when the oldest pending row was queued
        self._read: dict[str, tuple[Any, ...] | None] = {}  # rows prepare() read, by key, until note() takes them
        self._cursor = connection.cursor()
        # Rows seen since this is (opened before anything is fetched) are of this run: a URL
        # given twice in it fails once more, not twice (failures in a row count runs).
        self._started = now_iso()

    @classmethod
    def open(
        cls, path: str, shown: str | None = None, watch: tuple[str, ...] = WATCHABLE, ends: float | None = None
    ) -> StateStore:
        """Open (or make) the state file at ``path`` (``shown``: as the user named it), checked
        and migrated as the module docstring says; ``ends``: the run's --deadline, no lock is
        waited for past it (``time.monotonic()``)."""
        shown = shown if shown is not None else path
        _check_header(path, shown)
        try:
            db = sqlite3.connect(path, timeout=lock_wait(ends), isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            missing = not os.path.isdir(os.path.dirname(path) or ".")
            why = f"its folder {os.path.dirname(shown) or '.'!r} does not exist" if missing else str(exc)
            raise _refuse(shown, f"cannot be opened: {why}") from None
        try:
            _prepare(db, shown)
        except BaseException:
            db.close()
            raise
        return cls(db, watch, ends)

    def _row(self, key: str) -> tuple[Any, ...] | None:
        """The row of ``key`` (its ``Known`` fields, then ``last_seen``): the one queued, else the
        one ``prepare`` read, else the file's."""
        pending = self._pending.get(key)
        if pending is not None:
            return pending[1:]
        if key in self._read:
            return self._read.pop(key)
        try:
            self._cursor.execute(_SELECT, (key,))
            found: tuple[Any, ...] | None = self._cursor.fetchone()
        except sqlite3.Error as exc:
            raise StateWriteError(str(exc)) from None
        return found

    def prepare(self, item: UrlItem) -> UrlItem:
        """``item`` with the validators its row holds (``--conditional``), if any; the row is kept
        for ``note`` (read once per URL)."""
        key = url_key(item.display_url)
        row = self._read[key] = self._row(key)
        if row is None or not (row[8] or row[9]):
            return item
        return dataclasses.replace(item, validators=(row[8] or "", row[9] or ""))

    def note(self, result: FetchResult) -> FetchResult:
        """``result`` with ``not_modified``, ``change`` and ``consecutive_failures``, its row
        queued; a record that says nothing of the URL (cancelled, not started, fetchcli's own
        fault) is left as it is, and so is its row."""
        if result.error is not None and result.error.type in _NOT_ANSWERED:
            return result
        key = url_key(result.url)
        row = self._row(key)
        known = Known._make(row[:-1]) if row is not None else None
        values = observe(result, known)
        change = compare(result, values, known, self.watch)
        ok = result.ok
        failures = 0 if ok else (known.consecutive_failures if known is not None else 0) + 1
        if row is not None and known is not None and not known.ok and row[-1] >= self._started:
            failures -= 1  # the URL failed already in this run (given twice): one run, one failure
        change = counted(change, ok, known, failures, self.fail_after)
        when = result.fetched_at
        if known is None:
            last_success = last_failure = last_change = None
        else:
            last_success, last_failure, last_change = known.last_success, known.last_failure, known.last_change
        if ok:
            last_success = when
        else:
            last_failure = when
        if change.kind != "same":
            last_change = when
        self._pending[key] = (
            key,
            result.url,
            int(ok),
            values["status"],
            values["final_url"],
            values["title"],
            values["remote_ip"],
            values["sha256"],
            values["tls.not_after"],
            values["etag"],
            values["last_modified"],
            failures,
            last_success,
            last_failure,
            last_change,
            when,
        )
        now = time.monotonic()
        if self._since is None:
            self._since = now
        elif len(self._pending) >= BATCH_ROWS or now - self._since >= BATCH_SECONDS:
            self.flush()
        return result.with_state(bool(result.not_modified), change, failures)

    def flush(self) -> None:
        """Commit the rows queued, in one short transaction."""
        if not self._pending:
            return
        rows = list(self._pending.values())
        try:
            if self._ends is not None:  # the event loop waits with this: not past the --deadline
                self._db.execute(f"PRAGMA busy_timeout = {int(lock_wait(self._ends) * 1000)}")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(_UPSERT, rows)
                self._db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # SQLite's own error is the one to tell
                    _rollback(self._db)  # a full disk (SQLITE_FULL) has rolled it back already
                raise
        except sqlite3.Error as exc:
            raise StateWriteError(str(exc)) from None
        self._pending.clear()
        self._since = None

    def close(self) -> None:
        """Commit what is queued, and close the file."""
        try:
            self.flush()
        finally:
            self._db.close()

    def abandon(self) -> None:
        """Close without committing what is queued (a write already failed)."""
        self._pending.clear()
        self._db.close()


def lock_wait(ends: float | None) -> float:
    """How long to wait for a lock: ``BUSY_TIMEOUT_S``, but not past ``ends`` (the --deadline,
    ``time.monotonic()``; once it has passed, ``LATE_WAIT_S``)."""
    if ends is None:
        return BUSY_TIMEOUT_S
    return min(BUSY_TIMEOUT_S, max(ends - time.monotonic(), LATE_WAIT_S))


def check(path: str, shown: str, ends: float | None = None) -> None:
    """What ``StateStore.open`` refuses, found without writing anything (``--dry-run``): a file
    that is not fetchcli's state, or of a newer schema. Nothing to check when it does not exist.
    ``ends``: as for ``StateStore.open``."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return
    _check_header(path, shown)
    try:
        db = sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode=ro", uri=True, timeout=lock_wait(ends))
    except sqlite3.Error as exc:
        raise _refuse(shown, f"cannot be opened: {exc}") from None
    try:
        application, version, tables = _identity(db, shown)
    finally:
        db.close()
    _judge(application, version, tables, shown)


_MAGIC = b"SQLite format 3\x00"


def _check_header(path: str, shown: str) -> None:
    """Refuse, from the file's first 100 bytes and before SQLite opens it, what is plainly not
    fetchcli's state: not an SQLite database, another application's (its ``application_id``),
    or one in WAL mode without fetchcli's id (fetchcli sets its id before it turns WAL on).
    Opening such a file would leave SQLite's ``-wal`` and ``-shm`` files beside it."""
    try:
        with open(path, "rb") as file:
            header = file.read(100)
    except OSError:
        return  # SQLite's open says why
    if not header:
        return  # empty: a new state file
    if len(header) < 100 or not header.startswith(_MAGIC):
        raise _refuse(shown, "is not a fetchcli state file (not an SQLite database)")
    application = int.from_bytes(header[68:72], "big", signed=True)
    wal = header[18] == 2 or header[19] == 2
    if application != APPLICATION_ID and (application != 0 or wal):
        raise _refuse(shown, "is an SQLite database but not a fetchcli state file: name another path")


def _identity(db: sqlite3.Connection, shown: str) -> tuple[int, int, int]:
    """The file's application_id, user_version and number of schema objects."""
    try:
        application = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        _rollback(db)
        raise _refuse(shown, _why(exc)) from None
    return application, version, tables


def _why(exc: sqlite3.DatabaseError) -> str:
    if "locked" in str(exc) or "busy" in str(exc):
        return f"stayed locked by another process (waited up to {BUSY_TIMEOUT_S:g} s, or to the --deadline)"
    return "is not a fetchcli state file (not an SQLite database)"


def _judge(application: int, version: int, tables: int, shown: str) -> None:
    if version < 0:  # no fetchcli writes one, and no migration starts there
        raise _refuse(shown, f"is not a fetchcli state file (its user_version is {version})")
    if application != APPLICATION_ID and (application != 0 or tables):
        raise _refuse(shown, "is an SQLite database but not a fetchcli state file: name another path")
    if version > SCHEMA_VERSION:
        raise _refuse(
            shown,
            f"was written by a newer fetchcli (state schema {version}; this one reads up to {SCHEMA_VERSION}):"
            " upgrade fetchcli, or name another path",
        )


def _prepare(db: sqlite3.Connection, shown: str) -> None:
    """Check that ``db`` is a state file this fetchcli reads (or a new one), migrate it forward,
    and set the journal and locking it is used with."""
    try:
        db.execute("BEGIN IMMEDIATE")  # one process checks (and makes, or migrates) at a time
    except sqlite3.DatabaseError as exc:
        raise _refuse(shown, _why(exc)) from None
    application, version, tables = _identity(db, shown)
    try:
        _judge(application, version, tables, shown)
    except SettingProblem:
        _rollback(db)
        raise
    try:
        for step in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[step]:
                db.execute(statement)
        if version < SCHEMA_VERSION:
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.Error as exc:
        _rollback(db)
        raise _refuse(shown, f"cannot be written: {exc}") from None


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        db.execute("ROLLBACK")
