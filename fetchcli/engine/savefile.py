"""``--save DIR``: each body written, whole and decoded, to a file under DIR named from the URL
(``savename``), never anywhere else.

- The writing (``Saver``, ``SavePart``): DIR is opened once per process and every step is relative
  to that descriptor: the body goes to ``.fetchcli-<pid>-<random>.part`` at DIR's top (created
  with ``O_EXCL | O_NOFOLLOW``), then the directories of the name are made one by one, each
  opened with ``O_NOFOLLOW | O_DIRECTORY`` (a symlink or a file in the way is refused, never
  followed), and the file is renamed into place (``renameat``: a symlink at the final name is
  replaced, not followed). A name that cannot be made so (a file where a directory is needed, a
  directory where the file goes, a planted symlink, one of the run's own files: ``run_files``)
  falls back to one flat hashed name at DIR's top (``~conflict``); only if that fails too is
  the record a ``SaveError``. An item ``save_apart`` (an earlier request of the input claimed its
  name: ``savename.NameClaims``) goes to its conflict name, hashed from its request and its
  place in the input (the same request twice: two files).
- ``--fsync``: the file is synced before the rename and its directory after it.
- A body over ``--max-save-bytes`` stops being read: its part file is removed and the record is a
  ``BodyTooLarge`` failure (as curl's ``--max-filesize`` fails the transfer).
- A run killed leaves at most ``.part`` files, never a partial file under a final name; the next
  run on DIR removes the ones whose process is gone (``savedir.prepare``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from dataclasses import dataclass

from fetchcli.engine.savedir import saved_file_missing
from fetchcli.engine.savename import (
    TEMP_PREFIX,
    TEMP_SUFFIX,
    conflict_name,
    conflict_owner,
    save_identity,
    saved_name,
)
from fetchcli.engine.snippet import Body
from fetchcli.errors import SaveFailed, SaveTooLarge, classify
from fetchcli.models import ErrorInfo, UrlItem
from fetchcli.settings import BodySettings

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


Kept = tuple[int, int, str]  # (device, inode, "") of a file; (device, inode, name): a name in a folder


def run_files(sources: list[str | int]) -> frozenset[Kept]:
    """What ``SavePart.commit`` must not replace: each regular file of ``sources`` (paths, links
    followed, or open descriptors: the run's inputs and outputs) by device and inode, and each
    path by its name in its folder too (an output the run will make, or make anew: SQLite
    removes and remakes a state file's ``-wal`` and ``-journal``)."""
    kept: set[Kept] = set()
    for source in sources:
        if isinstance(source, str):
            real = os.path.realpath(source)
            with contextlib.suppress(OSError, ValueError):
                folder = os.stat(os.path.dirname(real))
                kept.add((folder.st_dev, folder.st_ino, os.path.basename(real)))
        try:
            found = os.fstat(source) if isinstance(source, int) else os.stat(source)
        except (OSError, ValueError):
            continue
        if stat.S_ISREG(found.st_mode):
            kept.add((found.st_dev, found.st_ino, ""))
    return frozenset(kept)


def _kept(parent: int, name: str, keep: frozenset[Kept]) -> bool:
    """Whether ``name`` in the folder ``parent`` is one of the run's own files (``run_files``)."""
    with contextlib.suppress(OSError):
        found = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if (found.st_dev, found.st_ino, "") in keep:
            return True
    folder = os.fstat(parent)
    return (folder.st_dev, folder.st_ino, name) in keep


def refuse_by_length(content_length: str | None, content_encoding: str | None, limit: int) -> None:
    """``SaveTooLarge`` before a byte is read when the response says its body is larger than
    ``limit``: a ``Content-Length`` over it and no ``Content-Encoding`` (else the length is not
    of the bytes saved), as curl's ``--max-filesize`` does not start such a transfer."""
    if content_length is None or (content_encoding and content_encoding.strip().lower() != "identity"):
        return
    text = content_length.strip()
    if not text.isdigit() or (len(text) <= 19 and int(text) <= limit):
        return
    said = f"{int(text):,}" if len(text) <= 19 else f"{text[:19]}..."
    raise SaveTooLarge(
        f"the body is {said} bytes (Content-Length), larger than --max-save-bytes {limit:,}: not read, not saved"
    )


class SavePart:
    """One body being written to its part file at DIR's top; ``commit`` renames it into place,
    ``discard`` removes it. At most ``limit`` bytes: one more raises ``SaveTooLarge``."""

    __slots__ = ("_file", "_root", "limit", "size", "temp")

    def __init__(self, root: int, limit: int) -> None:
        self._root = root
        self.limit = limit
        self.size = 0
        self.temp = f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}{TEMP_SUFFIX}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.temp, flags, 0o666, dir_fd=root)
        except OSError as exc:
            raise SaveFailed(f"cannot create a file in --save DIR: {exc.strerror or exc}") from None
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise SaveTooLarge(f"the body is larger than --max-save-bytes {self.limit:,}: not read further, not saved")
        try:
            self._file.write(data)
        except OSError as exc:
            raise SaveFailed(f"cannot write to --save DIR: {exc.strerror or exc}") from None

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        if self.temp:
            with contextlib.suppress(OSError):
                os.unlink(self.temp, dir_fd=self._root)
            self.temp = ""

    def commit(self, names: list[str], owner: str, fsync: bool, keep: frozenset[Kept] = frozenset()) -> str:
        """Rename the part file to ``names`` under DIR (or the conflict name, hashed from ``owner``,
        what the file stands for: ``savename.save_identity``); the name given,
        relative to DIR, ``/``-separated. ``SaveFailed`` when neither can be made. A name that
        is one of ``keep`` (the run's input list, its ``-o`` file...) is not replaced: the
        conflict name is used."""
        try:
            self._file.flush()
            if fsync:
                os.fsync(self._file.fileno())
            self._file.close()
        except OSError as exc:
            self.discard()
            raise SaveFailed(f"cannot write to --save DIR: {exc.strerror or exc}") from None
        for attempt in (names, [conflict_name(names, owner)]):
            parent = self._parent(attempt[:-1])
            if parent is None:
                continue
            try:
                if keep and _kept(parent, attempt[-1], keep):
                    raise FileExistsError(errno.EEXIST, "one of the run's own files")
                os.rename(self.temp, attempt[-1], src_dir_fd=self._root, dst_dir_fd=parent)
                if fsync:
                    with contextlib.suppress(OSError):
                        os.fsync(parent)
            except OSError:
                continue
            finally:
                if parent != self._root:
                    os.close(parent)
            self.temp = ""
            return "/".join(attempt)
        self.discard()
        raise SaveFailed(f"cannot save as {'/'.join(names)!r} under --save DIR, nor under a conflict name")

    def _parent(self, dirs: list[str]) -> int | None:
        """A descriptor of the directory ``dirs`` under DIR, made as needed, every segment opened
        without following a symlink; None when something other than a directory is in the way."""
        fd = self._root
        try:
            for name in dirs:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o777, dir_fd=fd)
                opened = os.open(name, _DIR_FLAGS, dir_fd=fd)
                if fd != self._root:
                    os.close(fd)
                fd = opened
        except OSError as exc:
            if fd != self._root:
                os.close(fd)
            if exc.errno in (errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT):
                raise SaveFailed(f"cannot make a directory under --save DIR: {exc.strerror or exc}") from None
            return None
        return fd


@dataclass(slots=True)
class Saver:
    """DIR opened once in this process (a worker opens its own)."""

    path: str
    root: int = -1
    pid: int = -1

    def part(self, limit: int) -> SavePart:
        if self.pid != os.getpid():
            try:
                self.root = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError as exc:
                raise SaveFailed(f"cannot open --save DIR {self.path!r}: {exc.strerror or exc}") from None
            self.pid = os.getpid()
        return SavePart(self.root, limit)


def keep(part: SavePart, body: BodySettings, item: UrlItem, read: Body | None) -> tuple[str | None, ErrorInfo | None]:
    """The body of ``item`` in ``part`` renamed to its name under DIR: ``(saved_path, None)``,
    or ``(None, SaveError)`` when it cannot be (the part file is then removed)."""
    assert item.url is not None and body.save_dir is not None
    try:
        names, owner = _name(body, item, read.sha256 if read is not None else None)
        return part.commit(names, owner, body.save_fsync, body.save_keep), None
    except SaveFailed as exc:
        part.discard()
        return None, classify(exc)


def _name(body: BodySettings, item: UrlItem, sha256: str | None) -> tuple[list[str], str]:
    """The name ``item``'s body is saved under, and what its conflict name is hashed from."""
    assert item.url is not None
    names = saved_name(body.save_name, item.index, item.url, sha256)
    owner = save_identity(item)  # two requests never share a conflict name either
    if item.save_apart:  # an earlier request of the input has this name (savename.NameClaims)
        owner = conflict_owner(item)  # nor does the same request asked twice
        names = [conflict_name(names, owner)]
    return names, owner


def copy_missing(body: BodySettings, item: UrlItem, method: str) -> bool:
    """Whether ``item`` would save a body (``--save``, not ``HEAD``) and no file is where it
    would be saved (its name, nor the conflict name it falls back to): ``--conditional`` then
    sends no validators, as curl's ``-z FILE`` does not for a missing file (a ``304`` saves
    nothing: the copy would never be made again). With ``{sha256}`` in ``--save-name`` the name
    is known only from the body: missing, so the body is always asked for."""
    if body.save_dir is None or method == "HEAD" or item.url is None:
        return False
    if "{sha256}" in body.save_name:
        return True
    try:
        names, owner = _name(body, item, None)
    except ValueError:  # a URL the request refuses: its record says so
        return False
    return all(saved_file_missing(body.save_dir, "/".join(n)) for n in (names, [conflict_name(names, owner)]))


_SAVERS: dict[str, Saver] = {}


def saver_for(path: str) -> Saver:
    """The ``Saver`` of DIR ``path`` in this process."""
    saver = _SAVERS.get(path)
    if saver is None:
        saver = _SAVERS[path] = Saver(path)
    return saver
