"""``--resume FILE.jsonl``: carry on from an earlier run's JSON Lines output, even one killed with
``kill -9`` or by the out-of-memory killer.

- ``ResumeFile.load`` reads the file once. A last line without its newline (torn by the kill)
  or that is not JSON is cut off the file, so its URL is fetched again; any other line that is not
  a record is a usage error. What is kept per record is a bit for its index and a 64-bit hash of
  (index, url) (``Hash64Set``): about 17 bytes per record, never the records.
- ``check`` compares the input with the file before anything is fetched: a URL at a recorded
  index must be the recorded URL, and every recorded index must still be in the input, else the
  input was edited and resuming would mix two lists: a usage error.
- ``done`` tells the engine which URLs to leave out (with ``--resume-failed``, records with
  ``"ok": false`` are fetched again). URLs recorded as ``Cancelled`` or ``NotStarted`` (a run
  stopped by a signal or ``--deadline``) were never fetched to the end: they are always fetched
  again. New records are appended to the same file.
- ``compact`` rewrites the file atomically keeping the last record of each index, after a run
  that redid failed URLs; a run stopped before that leaves duplicates, which the next
  ``--resume`` reads last-one-wins (as ``jq -s 'group_by(.index) | map(last)'`` would).
"""

from __future__ import annotations

import json
import os
import tempfile
from array import array
from collections.abc import Iterable

from fetchcli.models import UrlItem
from fetchcli.selection import Hash64Set, url_hash
from fetchcli.settings import SettingsError

UNFINISHED = frozenset({"Cancelled", "NotStarted"})  # error types of URLs a stop left unfetched


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


def record_key(index: int, url: str) -> int:
    return url_hash(f"{index}\t{url}")


class ResumeFile:
    def __init__(self, path: str, redo_failed: bool) -> None:
        self.path = path
        self.redo_failed = redo_failed
        self._recorded = _Bits()
        self._failed = _Bits()
        self._unfinished = _Bits()
        self._keys = Hash64Set()
        self.records = 0  # lines read
        self.duplicates = 0  # records of an index recorded before (a redo not yet compacted)
        self.torn = False  # a torn last line was cut off
        self.unfinished = 0  # records of URLs a stop left unfetched (fetched again)
        self.max_index = -1

    @classmethod
    def load(cls, path: str, *, redo_failed: bool = False) -> ResumeFile:
        resume = cls(path, redo_failed)
        try:
            with open(path, "rb") as f:
                resume._read(f)
        except FileNotFoundError:
            pass  # a first run: nothing to resume, the file is created
        except OSError as exc:
            raise SettingsError("--resume", f"cannot read {path!r}: {exc.strerror or exc}") from None
        return resume

    def _read(self, f: Iterable[bytes]) -> None:
        good_end = 0  # the file's size up to the end of the last good line
        pending: tuple[int, bytes] | None = None  # a line that must not be the last one
        for number, line in enumerate(f, 1):
            if pending is not None:
                raise SettingsError("--resume", f"line {pending[0]} of {self.path} is not a fetchcli record")
            record = self._parse(line) if line.endswith(b"\n") else None
            if record is None:
                pending = (number, line)
                continue
            self._add(*record)
            good_end += len(line)
        if pending is not None:  # the last line, torn by a kill: cut it off and redo its URL
            self.torn = True
            with open(self.path, "r+b") as out:
                out.truncate(good_end)

    @staticmethod
    def _parse(line: bytes) -> tuple[int, str, bool, bool] | None:
        try:
            record = json.loads(line)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        index, url, ok = record.get("index"), record.get("url"), record.get("ok")
        if not isinstance(index, int) or not isinstance(url, str) or not isinstance(ok, bool):
            raise SettingsError("--resume", "needs records with index, url and ok (written without --fields)")
        error = record.get("error")
        unfinished = isinstance(error, dict) and error.get("type") in UNFINISHED
        return index, url, ok, unfinished

    def _add(self, index: int, url: str, ok: bool, unfinished: bool) -> None:
        self.records += 1
        if index in self._recorded:
            self.duplicates += 1
        self._recorded.set(index)
        self._keys.add(record_key(index, url))
        self._failed.set(index, not ok)
        self._unfinished.set(index, unfinished)
        self.unfinished += unfinished
        self.max_index = max(self.max_index, index)

    def check(self, items: Iterable[UrlItem]) -> None:
        """Raise ``SettingsError`` unless ``items`` (the whole input, as this run reads it, of
        this shard) holds every recorded URL at its recorded index."""
        matched = 0
        for item in items:
            if item.index in self._recorded:
                if record_key(item.index, item.display_url) not in self._keys:
                    raise SettingsError(
                        "--resume",
                        f"{self.path} records another URL at index {item.index} than the input's "
                        f"{item.display_url}: the input changed since; start a new file",
                    )
                matched += 1
        recorded = self._recorded.count()
        if matched != recorded:
            raise SettingsError(
                "--resume",
                f"{self.path} records {recorded - matched} URL(s) the input no longer has: the input "
                "changed since (or this is another shard's file); start a new file",
            )

    def done(self, item: UrlItem) -> bool:
        """Whether the engine leaves ``item`` out: recorded already, and not to be redone."""
        if item.index not in self._recorded or item.index in self._unfinished:
            return False
        return not (self.redo_failed and item.index in self._failed)

    @property
    def needs_compacting(self) -> bool:
        return self.duplicates > 0 or self.redo_failed or self.unfinished > 0

    def compact(self) -> None:
        """Rewrite the file, atomically, with only the last record of each index."""
        last = array("q", [-1]) * (self.max_index + 1) if self.max_index >= 0 else array("q")
        lines = 0
        with open(self.path, "rb") as f:
            for number, line in enumerate(f):
                index = json.loads(line)["index"]
                if index >= len(last):
                    last.extend([-1] * (index + 1 - len(last)))
                last[index] = number
                lines = number + 1
        if lines == sum(1 for n in last if n >= 0):
            return  # nothing to drop
        folder = os.path.dirname(os.path.abspath(self.path))
        mode = os.stat(self.path).st_mode & 0o7777
        fd, temp = tempfile.mkstemp(prefix=".fetchcli-resume-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out, open(self.path, "rb") as f:
                for number, line in enumerate(f):
                    if last[json.loads(line)["index"]] == number:
                        out.write(line)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, mode)
            os.replace(temp, self.path)
        except BaseException:
            os.unlink(temp)
            raise
