"""``--resume FILE.jsonl``: carry on from an earlier run's JSON Lines output, even one killed with
``kill -9`` or by the out-of-memory killer.

- ``ResumeFile.load`` reads the file once. A last line without its newline that is the beginning
  of a record as fetchcli writes it (``{"schema_version": 1, "index": `` and digits: torn by the
  kill) is cut off the file, so its URL is fetched again; any other line that is not
  a record, is longer than a record can be (``record_line_limit``; never read whole), records
  an index the input does not have (the input is counted first), records an index an earlier
  line records with another URL, or holds what fetchcli never writes (``_wrong_field``: the file
  is input, and its error types, statuses and times reach the summary) is a usage error naming
  the line. What is kept per record is a bit for its index and a 64-bit hash of (index, url)
  (``Hash64Set``): about 17 bytes per record, never the records.
- ``check`` compares the input with the file before anything is fetched: the URL at a recorded
  index must be the recorded URL (one per index, as read), and every recorded index must still
  be in the input, else the input was edited and resuming would mix two lists: a usage error.
- ``done`` tells the engine which URLs to leave out (with ``--resume-failed``, records with
  ``"ok": false`` are fetched again). URLs recorded as ``Cancelled`` or ``NotStarted`` (a run
  stopped by a signal or ``--deadline``) were never fetched to the end: they are always fetched
  again. New records are appended to the same file.
- ``earlier`` is the summary of the records this run leaves as they are, counted by outcome
  while the file is read (bounded, like every summary), so that the summary and exit status of a
  resumed run count every URL of the file, as if the run had not been interrupted.
- ``compact`` rewrites the file atomically keeping the last record of each index, in input
  order, after a run that redid failed URLs; a run stopped before that leaves duplicates, which
  the next ``--resume`` reads last-one-wins (as ``jq -s 'group_by(.index) | map(last)'`` would).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, BinaryIO

from fetchcli.engine.selection import Hash64Set, Selection, url_hash
from fetchcli.errortype import ErrorType
from fetchcli.input.readers import Inputs
from fetchcli.models import ErrorInfo, FetchResult, UrlItem
from fetchcli.settings import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_REDIRECTS,
    DEFAULT_SNIPPET_LENGTH,
    InputFormat,
    SettingProblem,
    Settings,
)
from fetchcli.summary import Summary
from fetchcli.targets import OpenError, Target, open_checked
from fetchcli.urls import MAX_URL_LENGTH

UNFINISHED = frozenset({ErrorType.Cancelled, ErrorType.NotStarted})  # error types of URLs a stop left unfetched


class _Bits:
    """A growable bitmap of indexes."""

    def __init__(self) -> None:
        self._bytes = bytearray()

    def set(self, index: int, value: bool = True) -> None:
        byte = index >> 3
        if byte >= len(self._bytes):
            if not value:
                return
            self._bytes.extend(bytes(max(byte + 1 - len(self._bytes), len(self._bytes))))
        if value:
            self._bytes[byte] |= 1 << (index & 7)
        else:
            self._bytes[byte] &= ~(1 << (index & 7)) & 0xFF

    def __contains__(self, index: int) -> bool:
        byte = index >> 3
        return byte < len(self._bytes) and bool(self._bytes[byte] & (1 << (index & 7)))

    def count(self) -> int:
        return sum(bin(b).count("1") for b in self._bytes)


# The longest line a record can be, generously: each URL it holds (the URL, final_url, every
# redirect) is at most MAX_URL_LENGTH characters, 12 bytes each at worst once JSON-escaped (a
# character outside the BMP: \ud83d\ude00); the snippet's characters as well; and 4 MiB for
# everything else (messages, header values, the certificate's names). The snippet has at most
# --snippet-length characters and comes from at most --max-body-bytes bytes (masking a secret
# of one character makes it three: 3 characters a byte at most); the redirects are at most
# --max-redirects. Both are counted up to a bound, so that no setting lets a crafted file make
# fetchcli read a line of gigabytes: at most about 41 MB (records of URLs mostly ASCII, as they
# are, fit with thousands of redirects; a snippet of a million characters fits).
_URL_JSON = MAX_URL_LENGTH * 12
_REST = 4 << 20
_MAX_REDIRECTS_COUNTED = 256
_MAX_SNIPPET_COUNTED = 1 << 20


def record_line_limit(
    snippet_length: int = DEFAULT_SNIPPET_LENGTH,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> int:
    """The longest line ``ResumeFile.load`` takes for a record of a run with these settings."""
    snippet = min(snippet_length, 3 * max_body_bytes, _MAX_SNIPPET_COUNTED)
    return (min(max_redirects, _MAX_REDIRECTS_COUNTED) + 2) * _URL_JSON + 12 * snippet + _REST


def lock_for_run(fd: int, path: str) -> None:
    """Take the --resume file ``fd`` for this run (an exclusive ``flock``, not waited for): one
    run at a time appends to a file, reads it back and compacts it. Two runs on one file (a cron
    job that overran its slot) would each fetch what the file lacks and write every record twice;
    the second is refused instead. The lock goes with the file's descriptor, at exit at the latest."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SettingProblem(
            "resume", f"{path!r} is in use by another fetchcli run: one run at a time carries on a file"
        ) from None
    except OSError:
        pass  # a filesystem without locks (some network ones): run unlocked, as before


def record_key(index: int, url: str) -> int:
    return url_hash(f"{index}\t{url}")


class ResumeFile:
    def __init__(self, path: str, redo_failed: bool) -> None:
        self.path = path
        self._where = os.path.realpath(path)  # the file read, appended to and compacted
        self.redo_failed = redo_failed
        self._recorded = _Bits()
        self._failed = _Bits()
        self._unfinished = _Bits()
        self._keys = Hash64Set()
        self.records = 0  # lines read
        self.duplicates = 0  # records of an index recorded before (a redo not yet compacted)
        self.torn = False  # a torn last line was cut off
        # The file, open and locked (flock) for the whole run, so that a second run on it (a cron
        # job that overran its slot) is refused before it reads a line another run is writing; the run closes it at its end.
        self.held: BinaryIO | None = None
        self.unfinished = 0  # records of URLs a stop left unfetched (fetched again)
        self.max_index = -1
        # The records this run leaves as they are (not fetched again), counted by outcome as they
        # are read (``earlier``): a resumed run's summary and exit status count them too.
        self._counts: dict[_Counted, int] = {}
        self._refold = False  # an index recorded twice: ``earlier`` is folded again, last-one-wins

    @classmethod
    def load(
        cls,
        path: str,
        *,
        redo_failed: bool = False,
        urls: int | None = None,
        max_line: int | None = None,
        target: Target | None = None,
    ) -> ResumeFile:
        """Read ``path``; ``urls``: how many URLs the whole input holds (every shard's), so that a
        recorded index must be one of them (give it: an index is also the size of a bitmap);
        ``max_line``: the longest line taken for a record (``record_line_limit()``); ``target``:
        ``path`` as ``targets.check_target`` found it, so that the file read (and cut) is that
        very file, never a link swapped in since."""
        resume = cls(path, redo_failed)
        limit = max_line if max_line is not None else record_line_limit()
        try:
            if target is None:
                with open(path, "rb") as f:
                    torn_at = resume._read(f, urls, limit)
                if torn_at is not None:
                    with open(path, "r+b") as out:
                        out.truncate(torn_at)
                return resume
            resume._where = target.resolved
            if target.alias or (target.existing is not None and not stat.S_ISREG(target.existing.st_mode)):
                what = "a file's own path, not a descriptor's name" if target.alias else "a regular file"
                raise SettingProblem("resume", f"needs {what}: {path!r} is read back, appended to and compacted")
            if target.existing is not None:
                held = os.fdopen(open_checked(target, os.O_RDWR), "r+b")
                try:
                    lock_for_run(held.fileno(), path)
                    torn_at = resume._read(held, urls, limit)
                    if torn_at is not None:
                        held.truncate(torn_at)
                except BaseException:
                    held.close()
                    raise
                resume.held = held
        except FileNotFoundError:
            pass  # a first run: nothing to resume, the file is created
        except OpenError as exc:
            raise SettingProblem("resume", str(exc)) from None
        except OSError as exc:
            raise SettingProblem("resume", f"cannot read {path!r}: {exc.strerror or exc}") from None
        return resume

    def _bad(self, number: int, what: str) -> SettingProblem:
        return SettingProblem("resume", f"line {number} of {self.path} {what}")

    def _read(self, f: BinaryIO, urls: int | None, max_line: int) -> int | None:
        """Read every record; return where to cut a torn last line off, if there is one. At
        most ``max_line`` bytes of a line are read (never a whole over-long line)."""
        good_end = 0  # the file's size up to the end of the last good line
        number = 0
        while line := f.readline(max_line + 1):
            number += 1
            if len(line) > max_line:
                raise self._bad(number, f"is longer than {max_line:,} bytes: not a fetchcli record")
            if not line.endswith(b"\n") and _torn_record(line):
                # The last line, torn by a kill (part of a record): cut it off and redo its URL.
                self.torn = True
                if self._refold:
                    self._fold_last_records(f, good_end)
                return good_end
            if not line.endswith(b"\n"):
                raise self._bad(
                    number,
                    "is not a fetchcli record, nor the beginning of one (a torn last line, which is cut"
                    " off, begins like every record fetchcli writes); the file is left as it is",
                )
            self._add(number, *self._parse(number, line, urls))
            good_end += len(line)
        if self._refold:
            self._fold_last_records(f, good_end)
        return None

    def _parse(self, number: int, line: bytes, urls: int | None) -> tuple[int, str, bool, bool, dict[str, Any]]:
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            record = None
        if not isinstance(record, dict):
            raise self._bad(number, "is not a fetchcli record")
        index, url, ok = record.get("index"), record.get("url"), record.get("ok")
        if type(index) is not int or not isinstance(url, str) or not isinstance(ok, bool):
            raise self._bad(number, "is not a whole record: it needs index, url and ok (written without --fields)")
        if index < 0:
            raise self._bad(number, f"records index {index}: not a fetchcli record")
        if urls is not None and index >= urls:
            has = f"{urls:,} URL{'s' if urls != 1 else ''}"
            raise self._bad(
                number, f"records index {index:,}, but the input has {has}: the input changed since; start a new file"
            )
        wrong = _wrong_field(record)
        if wrong is not None:
            raise self._bad(number, f"has {wrong}: not a record fetchcli writes (an edited file?)")
        error = record.get("error")
        unfinished = isinstance(error, dict) and error.get("type") in UNFINISHED
        return index, url, ok, unfinished, record

    def _add(self, number: int, index: int, url: str, ok: bool, unfinished: bool, record: dict[str, Any]) -> None:
        self.records += 1
        key = record_key(index, url)
        if index in self._recorded:
            if key not in self._keys:  # one index, two URLs: two lists mixed in one file
                raise self._bad(number, f"records another URL at index {index} than an earlier line: start a new file")
            self.duplicates += 1
            self._refold = True
        elif not self._refold and not unfinished and not (self.redo_failed and not ok):
            counted = _counted(record, ok)
            self._counts[counted] = self._counts.get(counted, 0) + 1
        self._recorded.set(index)
        self._keys.add(key)
        self._failed.set(index, not ok)
        self._unfinished.set(index, unfinished)
        self.unfinished += unfinished
        self.max_index = max(self.max_index, index)

    @property
    def earlier(self) -> Summary:
        """The summary of the records this run leaves as they are: what a resumed run adds to its
        own (``Summary.merge``), so that it counts every URL of the file."""
        return _summary(self._counts)

    def _fold_last_records(self, f: BinaryIO, end: int) -> None:
        """``earlier`` again from the last record of each index (the file records an index more
        than once: a ``--resume-failed`` run stopped before compacting). Two more passes over
        the first ``end`` bytes, and 8 bytes per index, only then."""
        self._counts = {}
        last = array("q", [-1]) * (self.max_index + 1)
        for number, line in enumerate(_lines(f, end)):
            last[json.loads(line)["index"]] = number
        for number, line in enumerate(_lines(f, end)):
            record = json.loads(line)
            index = record["index"]
            if last[index] == number and self.done_index(index):
                counted = _counted(record, record["ok"])
                self._counts[counted] = self._counts.get(counted, 0) + 1

    def check(self, items: Iterable[UrlItem]) -> None:
        """Raise ``SettingProblem`` unless ``items`` (the whole input, as this run reads it, of
        this shard) holds every recorded URL at its recorded index."""
        matched = 0
        for item in items:
            if item.index in self._recorded:
                if record_key(item.index, item.display_url) not in self._keys:
                    line = self._line_of(item.index)
                    raise SettingProblem(
                        "resume",
                        f"{self.path} records another URL at index {item.index}"
                        + (f" (line {line})" if line else "")
                        + f" than the input's {item.display_url}: the input changed since; start a new file",
                    )
                matched += 1
        recorded = self._recorded.count()
        if matched != recorded:
            raise SettingProblem(
                "resume",
                f"{self.path} records {recorded - matched} URL(s) the input no longer has: the input "
                "changed since (or this is another shard's file); start a new file",
            )

    def _line_of(self, index: int) -> int | None:
        """The number of the first line recording ``index`` (for an error message only)."""
        try:
            with open(self._where, "rb") as f:
                for number, line in enumerate(f, 1):
                    with contextlib.suppress(ValueError, TypeError, KeyError):
                        if json.loads(line)["index"] == index:
                            return number
        except OSError:
            pass
        return None

    def done(self, item: UrlItem) -> bool:
        """Whether the engine leaves ``item`` out: recorded already, and not to be redone."""
        return self.done_index(item.index)

    def done_index(self, index: int) -> bool:
        if index not in self._recorded or index in self._unfinished:
            return False
        return not (self.redo_failed and index in self._failed)

    @property
    def needs_compacting(self) -> bool:
        return self.duplicates > 0 or self.redo_failed or self.unfinished > 0

    def compact(self) -> None:
        """Rewrite the file, atomically, with only the last record of each index, in input
        (index) order: the URLs a ``--resume-failed`` run redid, appended at the end, go back to
        their places. The file appended to: a link is written through, and one swapped in since
        is not followed. Memory: 8 bytes per index (where each index's last record starts)."""
        starts = array("q", [-1]) * (self.max_index + 1) if self.max_index >= 0 else array("q")
        in_order, previous, at = True, -1, 0
        with os.fdopen(os.open(self._where, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as f:
            for line in f:
                index = json.loads(line)["index"]
                if index >= len(starts):
                    starts.extend([-1] * (index + 1 - len(starts)))
                starts[index] = at
                in_order = in_order and index > previous  # and so no index twice
                previous, at = index, at + len(line)
            if in_order:
                return  # nothing to drop or move
            fd, temp = tempfile.mkstemp(prefix=".fetchcli-resume-", dir=os.path.dirname(self._where))
            try:
                with os.fdopen(fd, "wb") as out:
                    os.fchmod(out.fileno(), os.fstat(f.fileno()).st_mode & 0o7777)
                    for start in starts:
                        if start >= 0:
                            f.seek(start)
                            out.write(f.readline())
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, self._where)
            except BaseException:
                os.unlink(temp)
                raise


def _record_head() -> bytes:
    """How every record fetchcli writes begins, up to its index's digits (``{"schema_version":
    1, "index": ``), from the record's own serialisation (``FetchResult.to_dict``, as the JSON
    Lines sink writes it)."""
    line = json.dumps(FetchResult(0, "", True).to_dict()).encode()
    return line[: line.index(b'"index": ') + len(b'"index": ')]


_HEAD = _record_head()


def _torn_record(line: bytes) -> bool:
    """Whether a last line without its newline is the beginning of a record fetchcli wrote (torn
    by a kill while it was written): the record's head, or a part of it, then the index's
    digits. Anything else (a user's JSON file, ``{"name": "app"}``) is not fetchcli's to cut."""
    if len(line) <= len(_HEAD):
        return _HEAD.startswith(line)
    return line.startswith(_HEAD) and line[len(_HEAD) : len(_HEAD) + 1].isdigit()


PIPE_TWICE = "needs the URLs as arguments or -i FILE: a pipe cannot be read twice"


def _lines(f: BinaryIO, end: int) -> Iterator[bytes]:
    """The lines of the first ``end`` bytes of ``f`` (lines already read and checked once)."""
    f.seek(0)
    read = 0
    while read < end:
        line = f.readline()
        if not line:
            return
        read += len(line)
        yield line


# What the summary counts of a record: ok, status, error type, time (to the summary's three
# digits) and whether it was tried.
_Counted = tuple[bool, int | None, str | None, float | None, bool]


# The longest time a record can hold (about 31 years): a bound, so that no file makes the
# summary print a 300-digit time.
_MAX_MS = 1e12


def _wrong_field(record: dict[str, Any]) -> str | None:
    """What of a record's fields counted by the summary fetchcli never writes (an edited or
    crafted file: its text would reach the summary line), or None: ``status`` an int 100-599,
    ``error.type`` a name of ``ErrorType``, the times finite and >= 0, ``attempts`` an int >= 0,
    each or null (or absent)."""
    status = record.get("status")
    if status is not None and (type(status) is not int or not 100 <= status <= 599):
        return "a status that is not an HTTP status (100-599) or null"
    error = record.get("error")
    if error is not None and (not isinstance(error, dict) or ErrorType.named(error.get("type")) is None):
        return "an error that is not null or one of fetchcli's error types"
    for name in ("elapsed_ms", "queued_ms"):
        ms = record.get(name)
        if ms is not None and (type(ms) not in (int, float) or not 0 <= ms <= _MAX_MS):  # NaN fails too
            return f"an {name} that is not a time (a number >= 0) or null"
    attempts = record.get("attempts")
    if attempts is not None and (type(attempts) is not int or attempts < 0):
        return "attempts that are not a count or null"
    return None


def _counted(record: dict[str, Any], ok: bool) -> _Counted:
    """A record's ``_Counted``; a value of the wrong kind counts as absent (an edited file)."""
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


def _summary(counts: dict[_Counted, int]) -> Summary:
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


def load_for_run(
    target: Target, redo_failed: bool, settings: Settings, urls: Sequence[str], paths: Sequence[str], stdin: BinaryIO
) -> ResumeFile:
    """``--resume`` of a CLI run: count the input's URLs (a recorded index must be one of them),
    read the file (cutting off a torn last line), and check it against the input, read once more
    for that, before anything is fetched."""
    with _reading_again(urls, paths, stdin, settings.input_format) as inputs:
        size = inputs.unread()  # nothing was read yet: every URL of the input
    if size < 0:
        raise SettingProblem("resume", "cannot read the input through, to check FILE against it")
    limit = record_line_limit(
        settings.body.snippet_length, settings.request.max_redirects, settings.body.max_body_bytes
    )
    resume = ResumeFile.load(target.path, redo_failed=redo_failed, urls=size, max_line=limit, target=target)
    with _reading_again(urls, paths, stdin, settings.input_format) as inputs:
        shard = Selection(settings.shard)
        resume.check(item for item in inputs.items() if shard(item))
    return resume


@contextlib.contextmanager
def _reading_again(
    urls: Sequence[str], paths: Sequence[str], stdin: BinaryIO, fmt: InputFormat = InputFormat.auto
) -> Iterator[Inputs]:
    """The input from its start, for the checks; a FIFO given as ``-i`` cannot be read twice."""
    opened: list[BinaryIO] = []
    try:
        inputs = Inputs(urls, paths, stdin, True, opened, fmt)
        try:
            if inputs.blocking:
                raise SettingProblem("resume", PIPE_TWICE)
            yield inputs
        finally:
            inputs.close()
    finally:
        for stream in opened:
            stream.close()
