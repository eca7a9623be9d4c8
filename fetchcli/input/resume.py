"""``--resume FILE.jsonl``: carry on from an earlier run's JSON Lines output, even one killed with
``kill -9`` or by the out-of-memory killer.

- ``ResumeFile.load`` reads the file once. A last line without its newline that is the beginning
  of a record as fetchcli writes it (``{"schema_version": 1, "index": `` and digits: torn by the
  kill) is cut off the file, so its URL is fetched again; any other line that is not
  a record, is longer than a record can be (``record_line_limit``; never read whole), records
  an index the input does not have (the input is counted first), records an index an earlier
  line records with another URL, or holds what fetchcli never writes (``resumelines.wrong_field``:
  the file is input, and its error types, statuses and times reach the summary) is a usage error
  naming the line. What is kept per record is a bit for its index and a 64-bit hash of (index, url)
  (``Hash64Set``): about 17 bytes per record, never the records.
- ``check`` compares the input with the file before anything is fetched: the URL at a recorded
  index must be the recorded URL (one per index, as read), and every recorded index must still
  be in the input, else the input was edited and resuming would mix two lists: a usage error.
- ``done`` tells the engine which URLs to leave out (with ``--resume-failed``, records with
  ``"ok": false`` are fetched again). URLs recorded as ``Cancelled`` or ``NotStarted`` (a run
  stopped by a signal or ``--deadline``) were never fetched to the end: they are always fetched
  again. New records are appended to the same file.
- ``earlier`` is the summary of the records this run leaves as they are, counted by outcome
  while the file is read (bounded, like every summary; ``resumesummary``), so that the summary and
  exit status of a resumed run count every URL of the file, as if the run had not been interrupted.
- ``compact`` (``resumecompact``) rewrites the file atomically keeping the last record of each index, in input
  order, after a run that redid failed URLs; a run stopped before that leaves duplicates, which
  the next ``--resume`` reads last-one-wins (as ``jq -s 'group_by(.index) | map(last)'`` would).
- ``resumerun.load_for_run``: all of it for a CLI run, the input read twice (counted, then
  checked) before anything is fetched.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from array import array
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from fetchcli.engine.savedir import saved_file_missing
from fetchcli.engine.selection import Hash64Set, url_hash
from fetchcli.input.resumecompact import compact
from fetchcli.input.resumelines import UNFINISHED, record_line_limit, torn_record, wrong_field
from fetchcli.input.resumesummary import Counted, counted, summary_of
from fetchcli.models import UrlItem
from fetchcli.settings import SettingProblem
from fetchcli.summary import Summary
from fetchcli.targets import OpenError, Target, open_checked


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
        self._counts: dict[Counted, int] = {}
        self._refold = False  # an index recorded twice: ``earlier`` is folded again, last-one-wins
        self.save_dir: str | None = None  # --save DIR: a record whose saved file is gone is redone

    @classmethod
    def load(
        cls,
        path: str,
        *,
        redo_failed: bool = False,
        urls: int | None = None,
        max_line: int | None = None,
        target: Target | None = None,
        save_dir: str | None = None,
    ) -> ResumeFile:
        """Read ``path``; ``urls``: how many URLs the whole input holds (every shard's), so that a
        recorded index must be one of them (give it: an index is also the size of a bitmap);
        ``max_line``: the longest line taken for a record (``record_line_limit()``); ``target``:
        ``path`` as ``targets.check_target`` found it, so that the file read (and cut) is that
        very file, never a link swapped in since."""
        resume = cls(path, redo_failed)
        resume.save_dir = save_dir
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
            if not line.endswith(b"\n") and torn_record(line):
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
        wrong = wrong_field(record)
        if wrong is not None:
            raise self._bad(number, f"has {wrong}: not a record fetchcli writes (an edited file?)")
        error = record.get("error")
        unfinished = isinstance(error, dict) and error.get("type") in UNFINISHED
        if not unfinished and self.save_dir is not None:  # --save: its file went missing: fetched again
            unfinished = saved_file_missing(self.save_dir, record.get("saved_path"))
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
            outcome = counted(record, ok)
            self._counts[outcome] = self._counts.get(outcome, 0) + 1
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
        return summary_of(self._counts)

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
                outcome = counted(record, record["ok"])
                self._counts[outcome] = self._counts.get(outcome, 0) + 1

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
        """Rewrite the file with only the last record of each index, in input order
        (``resumecompact``)."""
        compact(self._where, self.max_index)


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
