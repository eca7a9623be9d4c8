"""Where records are written (stdout or ``-o PATH``), and what a failed write means.

``-o PATH`` behaves like curl's, with atomicity added only where it is safe:

- PATH absent, or a regular file (after following symlinks, so a link stays a link and its
  target is what changes), and any format but ``jsonl`` (``json``, ``table``, ``csv``, ``tsv``;
  ``--summary-json`` too): the records go to a temporary file beside the target, renamed over it
  when complete. A run that dies half-way leaves the old file. An existing file keeps its mode
  (and owner, where fetchcli may set it); a new one gets ``0666 & ~umask``, as any program's
  would. When the folder does not let the user create the temporary file but the file itself
  is writable (``/var/log/app/`` 0555 holding the user's ``app.csv``), the file is written in
  place, as curl writes it, without that guarantee.
- ``jsonl`` is written in place a line at a time (a reader may follow it; a torn last line is
  the most a crash can leave).
- Anything else — a FIFO, a character device, a terminal — is opened and written through, never
  replaced. A name for one of fetchcli's own descriptors (``/dev/stdout``, ``/dev/fd/3``,
  ``/proc/self/fd/3``; it may be a file the shell opened for appending) is not opened again: the
  descriptor checked before the run is duplicated and written where the shell left it.

What is opened is what ``targets.check_target`` checked before the run: the path resolved then,
opened without following a link that took its place since (or renamed over such a link).

A write that fails (disk full, I/O error, the reader of a pipe gone) raises ``OutputError``;
the runner ends the run at once with one line on stderr and its own exit status.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Callable
from typing import TextIO

from fetchcli.output.stalledreader import ReaderStalled, give_up, watch_reader
from fetchcli.targets import OpenError, Target, open_checked

__all__ = ["OpenError", "Output", "OutputError", "StateWriteError"]


class OutputError(Exception):
    """Writing the results failed; ``broken_pipe`` when the reader went away, ``stalled`` when
    it took nothing for a while after a stop (``stalledreader``)."""

    def __init__(self, exc: OSError) -> None:
        self.errno = exc.errno
        self.stalled = isinstance(exc, ReaderStalled)
        super().__init__(exc.strerror or str(exc))

    @property
    def broken_pipe(self) -> bool:
        return self.errno in (errno.EPIPE, errno.ECONNRESET)


class StateWriteError(Exception):
    """Writing the ``--state`` file failed (disk full, locked past its busy timeout): here, not
    in ``statefile``, so that the runner can catch it without importing ``sqlite3``."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class Output:
    """The stream records are written to, and what to do with it at the end."""

    def __init__(self, stream: TextIO, where: str, *, owned: bool = False) -> None:
        self.stream = stream
        self.where = where
        self._owned = owned

    @classmethod
    def open(cls, target: Target, *, atomic: bool, append: bool = False) -> Output:
        """Open a checked output (``targets.check_target``) as described in the module docstring;
        ``OpenError`` if it cannot be, or if what is there now is not the file checked.
        ``append``: add to what it holds (``--resume``)."""
        existing = target.existing
        mode = existing.st_mode if existing is not None else None
        try:
            if atomic and (mode is None or stat.S_ISREG(mode)) and not target.alias:
                try:
                    return _AtomicOutput(target.resolved, target.path, existing)  # beside the link's target
                except PermissionError:
                    if existing is None:
                        folder = os.path.dirname(target.path) or "."
                        raise OpenError(
                            f"cannot write {target.path!r}: its folder {folder!r} does not let this user"
                            " create a file there (Permission denied)"
                        ) from None
                    # The folder refuses the temporary file, but the file itself may be written
                    # (check_target refused it otherwise): written in place, as curl does.
            if target.descriptor is not None:
                # The descriptor checked, duplicated: written where the shell left it, never
                # truncated (`>` truncated it already; `>> log` appends), and never reopened (a
                # closed stdout is /dev/null opened read-only: a write error, as documented).
                stream = open(open_checked(target, os.O_WRONLY), "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            elif target.alias:
                # Another process's descriptor, by name: appended to, never truncated.
                stream = open(target.path, "a", encoding="utf-8", newline="\n")  # noqa: SIM115
            else:
                fd = open_checked(target, os.O_WRONLY | (os.O_APPEND if append else 0))
                if not append:
                    _empty(fd)
                stream = open(fd, "a" if append else "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        except OSError as exc:
            raise OpenError(f"cannot write {target.path!r}: {exc.strerror or exc}") from None
        return cls(stream, repr(target.path), owned=True)

    def watch_reader(self, stopped: Callable[[], bool]) -> None:
        """A pipe or a socket: once ``stopped()``, a reader that takes nothing is given up
        (``stalledreader``), so that a signal can end a run nobody reads."""
        self.stream = watch_reader(self.stream, stopped, owned=self._owned)

    def commit(self) -> None:
        """Everything is written: flush it (and for a temporary file, put it in place)."""
        try:
            self.stream.flush()
            if self._owned:
                self.stream.close()
        except OSError as exc:
            raise OutputError(exc) from None

    def discard(self) -> None:
        """Close what was opened without writing more; a no-op after ``commit``."""
        if self._owned:
            with contextlib.suppress(OSError):
                self.stream.close()  # closes the file even when the final flush fails

    def remove_temporary(self) -> None:
        """For a signal handler ending the process at once: remove the temporary file, if any
        (nothing else: the stream is not touched, as the interrupted code may be using it)."""

    def abandon(self) -> None:
        """A write failed: drop what is buffered, so that nothing tries to write it again."""
        give_up(self.stream)
        self.discard()
        if not self._owned:
            _silence(self.stream)


def _empty(fd: int) -> None:
    """Truncate a regular file opened in place (only once it is known to be the file checked)."""
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.ftruncate(fd, 0)
    except BaseException:
        os.close(fd)
        raise


def _silence(stream: TextIO) -> None:
    """Point a standard stream's descriptor at /dev/null, so that the interpreter's flush at
    exit finds somewhere to put what is still buffered instead of printing a traceback."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return  # an in-memory stream: nothing will flush it behind our back
    if stream not in (sys.stdout, sys.__stdout__, sys.stderr, sys.__stderr__):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


class _AtomicOutput(Output):
    """A temporary file beside the target, renamed over it by ``commit``."""

    def __init__(self, target: str, given: str, existing: os.stat_result | None) -> None:
        """``existing``: the target's stat (its mode and owner are kept), None when it is new."""
        folder, name = os.path.split(target)
        fd, self._temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        try:
            if existing is not None:
                os.fchmod(fd, stat.S_IMODE(existing.st_mode))
                if (existing.st_uid, existing.st_gid) != (os.geteuid(), os.getegid()):
                    with contextlib.suppress(OSError):  # allowed to root only: best effort
                        os.fchown(fd, existing.st_uid, existing.st_gid)
            else:
                os.fchmod(fd, 0o666 & ~_umask())
            stream = open(fd, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed by commit/abandon
        except BaseException:
            os.close(fd)
            os.unlink(self._temp)
            raise
        super().__init__(stream, repr(given), owned=True)
        self._target = target
        self._temp_gone = False

    def commit(self) -> None:
        try:
            self.stream.flush()
            os.fsync(self.stream.fileno())
            self.stream.close()
            os.replace(self._temp, self._target)
        except OSError as exc:
            self.discard()
            raise OutputError(exc) from None
        self._temp_gone = True

    def remove_temporary(self) -> None:
        if not self._temp_gone:
            with contextlib.suppress(OSError):
                os.unlink(self._temp)

    def discard(self) -> None:
        """Close and remove the temporary file, unless it was put in place."""
        super().discard()
        if not self._temp_gone:
            self._temp_gone = True  # once
            with contextlib.suppress(OSError):
                os.unlink(self._temp)
