"""The files a run writes (``-o``, ``--summary-json``, ``--resume``), checked before anything
is read or written, so that a slip or a hostile directory cannot destroy a file.

- ``check_files`` refuses, as a usage error naming both options, an output that is the same file
  as an input (``-i``, stdin when it is a file, ``--cacert``...) or as another output: the same
  device and inode once links are followed, or, for a path that does not exist yet, the same
  path once the links of its folders are followed. Only regular files (and names that would
  become one) count: a terminal, a FIFO or a device may be both read and written by one run
  (``fetchcli < /dev/tty > /dev/tty``).
  An output inside a folder of CA certificates read (``--capath``, ``SSL_CERT_DIR``) is refused
  as well: every file there is an input, and a new one would be read as a CA next time.
- A name for one of this process's descriptors (``/dev/stdout``, ``/dev/fd/3``,
  ``/proc/self/fd/3``) is resolved now, to the descriptor: one that is not open is a usage
  error (the first file fetchcli opens would take its number: the input list, written into),
  and what it is open on is checked like any other output. ``Output.open`` writes a duplicate
  of that descriptor, never the name opened again.
- ``check_target`` refuses an existing regular file that is read-only: one the user may not
  write (``access``), or, because root may write anything, one without any write bit (``chmod
  a-w``). Replacing it by a rename would succeed, but it is not fetchcli's to replace (curl
  refuses it too).
- A ``Target`` remembers what was checked: the path with every link followed, and the file found
  there. ``Output.open`` (and ``ResumeFile.load``, which may cut a torn line off) writes that file
  or nothing: ``open_checked`` opens the resolved path without following a link (``O_NOFOLLOW``)
  and compares the file it opened with the one checked, so a symlink swapped in afterwards (in a
  shared folder) cannot redirect the write; a rename into place replaces such a link rather than
  following it.

An output path still writes *through* the user's own links, FIFOs and devices (output.py).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from fetchcli.settings import SettingsError


class OpenError(Exception):
    """An output cannot be opened, or what is there is not the file checked; the CLI reports it
    as a usage error."""


Identity = tuple[int, int] | str  # (device, inode) of a regular file; the resolved path of a new one

_DESCRIPTOR_ALIAS = re.compile(
    r"^/(?:dev/(?P<std>stdin|stdout|stderr)|dev/fd/(?P<dev_fd>\d+)|proc/(?P<proc>self|thread-self|\d+)/fd/(?P<fd>\d+))$"
)
_STANDARD = {"stdin": 0, "stdout": 1, "stderr": 2}


def _alias_match(path: str) -> re.Match[str] | None:
    """The descriptor alias ``path`` is, or leads to through symlinks; None if it is none."""
    current = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on symlinks followed
        found = _DESCRIPTOR_ALIAS.match(current)
        if found is not None:
            return found
        if not os.path.islink(current):
            return None
        current = os.path.abspath(os.path.join(os.path.dirname(current), os.readlink(current)))
    return None


def is_descriptor_alias(path: str) -> bool:
    """``/dev/stdout``, ``/dev/fd/N``, ``/proc/self/fd/N`` (or a symlink to one): another name
    for a descriptor the caller opened (``>> log``, a pipe), to be written through and appended
    to, never renamed over or truncated."""
    return _alias_match(path) is not None


def alias_descriptor(path: str) -> int | None:
    """The number of this process's descriptor that ``path`` names (``/dev/stdout``: 1,
    ``/proc/self/fd/3``: 3); None when it names none of this process's (not an alias, or one of
    another process: ``/proc/PID/fd/N``)."""
    found = _alias_match(path)
    if found is None:
        return None
    if found["std"] is not None:
        return _STANDARD[found["std"]]
    if found["dev_fd"] is not None:
        return int(found["dev_fd"])
    if found["proc"] not in ("self", "thread-self") and int(found["proc"]) != os.getpid():
        return None
    return int(found["fd"])


@dataclass(frozen=True)
class Target:
    """An output path as checked before the run."""

    option: str  # the option that names it, e.g. ``--output``
    path: str  # as given
    resolved: str  # every link followed: the name written (a descriptor alias: as given)
    existing: os.stat_result | None  # the file found there, links followed; None: none yet
    alias: bool  # a name for an open descriptor (``/dev/stdout``)
    descriptor: int | None = None  # the alias names this process's descriptor: the one written

    @property
    def identity(self) -> Identity | None:
        """What ``check_files`` compares; None for what may be shared (a FIFO, a device)."""
        if self.existing is None:
            return self.resolved
        return _file_identity(self.existing)


def _file_identity(found: os.stat_result) -> Identity | None:
    return (found.st_dev, found.st_ino) if stat.S_ISREG(found.st_mode) else None


def _cannot(option: str, path: str, exc: OSError) -> SettingsError:
    return SettingsError(option, f"cannot write {path!r}: {exc.strerror or exc}")


def _resolve(option: str, path: str) -> tuple[str, os.stat_result | None]:
    """The path with every link followed, and what is there (not following a link: one found
    there now was swapped in after ``realpath`` looked, and is looked through once more)."""
    for _ in range(3):
        resolved = os.path.realpath(path)
        try:
            found = os.lstat(resolved)
        except FileNotFoundError:
            return resolved, None
        except OSError as exc:
            raise _cannot(option, path, exc) from None
        if not stat.S_ISLNK(found.st_mode):
            return resolved, found
        try:
            os.stat(resolved)  # a loop of links: its own error (ELOOP)
        except FileNotFoundError:
            return resolved, None  # a dangling link realpath left as it is
        except OSError as exc:
            raise _cannot(option, path, exc) from None
    raise SettingsError(option, f"cannot write {path!r}: its links keep changing")


def read_only(path: str, found: os.stat_result) -> bool:
    """Whether an existing file is not the user's to overwrite: no write bit at all (so also for
    root, who may write anything), or no write permission for this user."""
    if stat.S_IMODE(found.st_mode) & 0o222 == 0:
        return True
    effective = os.access in os.supports_effective_ids
    return not os.access(path, os.W_OK, effective_ids=effective)


def check_target(option: str, path: str) -> Target:
    """What ``path`` is now, for ``Output.open``; ``SettingsError`` when it cannot be written."""
    if not path:  # not the working directory, which an empty path would resolve to
        raise SettingsError(option, "is an empty path: name a file")
    descriptor = alias_descriptor(path)
    if descriptor is not None:
        # What the descriptor is now, and not what the name will lead to later: a descriptor not
        # open yet would be taken by the first file fetchcli opens (the input list, on -o
        # /dev/fd/3), and the output written into it. ``Output.open`` writes this descriptor.
        try:
            found = os.fstat(descriptor)
        except OSError:
            raise SettingsError(
                option, f"{path!r} names file descriptor {descriptor}, which is not open: nothing would be written"
            ) from None
        if stat.S_ISDIR(found.st_mode):
            raise SettingsError(option, f"cannot write {path!r}: it is a directory")
        return Target(option, path, path, found, alias=True, descriptor=descriptor)
    if is_descriptor_alias(path):  # another process's descriptor (/proc/PID/fd/N): opened by name
        try:
            existing: os.stat_result | None = os.stat(path)  # what it leads to: a pipe, a file opened with >>
        except FileNotFoundError:
            existing = None
        except OSError as exc:
            raise _cannot(option, path, exc) from None
        return Target(option, path, path, existing, alias=True)
    resolved, existing = _resolve(option, path)
    if existing is not None:
        if stat.S_ISDIR(existing.st_mode):
            raise SettingsError(option, f"cannot write {path!r}: it is a directory")
        if stat.S_ISREG(existing.st_mode) and read_only(resolved, existing):
            raise SettingsError(
                option, f"will not replace {path!r}: it is read-only (make it writable, or choose another path)"
            )
    return Target(option, path, resolved, existing, alias=False)


def _identity_of(source: str | int) -> Identity | None:
    """A path (links followed; a missing one by its resolved name) or an open descriptor."""
    try:
        found = os.fstat(source) if isinstance(source, int) else os.stat(source)
    except FileNotFoundError:
        return None if isinstance(source, int) else os.path.realpath(source)
    except (OSError, ValueError):
        return None  # cannot be looked at: the open reports why, if it matters
    return _file_identity(found)


def check_files(
    outputs: Sequence[tuple[str, str]],
    inputs: Sequence[tuple[str, str | int]],
    stdout: int | None = None,
    folders: Sequence[tuple[str, str]] = (),
) -> dict[str, Target]:
    """Check every output (option, path) as ``check_target`` does, then refuse one that is the
    same file as an input (option, path or descriptor: stdin is ``("stdin", 0)``) or as another
    output, or that is inside a folder read (option, path: ``--capath``, whose every file is an
    input); ``stdout``: the descriptor records go to when no ``-o`` is given. Returns the targets
    by option, for ``Output.open``. Nothing is opened, read or written here."""
    targets = {option: check_target(option, path) for option, path in outputs}
    for option, folder in folders:
        inside = os.path.join(os.path.realpath(folder), "")
        for target in targets.values():
            if not target.alias and target.resolved.startswith(inside):
                raise SettingsError(
                    target.option,
                    f"{target.path!r} is inside {option} {folder!r}, whose files are read: writing there would"
                    " change the certificates trusted; choose another path",
                )
    read: list[tuple[str, Identity]] = []
    for option, source in inputs:
        identity = _identity_of(source)
        if identity is not None:
            read.append((option if isinstance(source, int) else f"{option} {source!r}", identity))
    written: list[tuple[str, Identity]] = []
    named = [(t.option, f"{t.path!r} ", t.identity, t.descriptor) for t in targets.values()]
    if stdout is not None:
        named.append(("stdout", "", _identity_of(stdout), stdout))
    for option, shown, identity, descriptor in named:
        if identity is None:
            continue
        for label, other in read:
            if other == identity:
                raise SettingsError(option, f"{shown}is the same file as {label}: {_destroys(descriptor, not shown)}")
        for label, other in written:
            if other == identity:
                raise SettingsError(
                    option, f"{shown}is the same file as {label}: one would overwrite the other; give each its own path"
                )
        written.append((option if not shown else f"{option} {shown.strip()}", identity))
    return targets


def _destroys(descriptor: int | None, stdout: bool) -> str:
    """Why an output that is an input is refused; for a descriptor the shell opened with ``>``
    (not appending) on a file now empty, that the shell emptied it already."""
    if descriptor is not None:
        try:
            emptied = os.fstat(descriptor).st_size == 0 and not fcntl.fcntl(descriptor, fcntl.F_GETFL) & os.O_APPEND
        except OSError:
            emptied = False
        if emptied:
            instead = (
                "write the records with -o PATH (fetchcli refuses an -o that is an input before it writes anything)"
                if stdout
                else "give -o a file of its own"
            )
            return f"the shell's '>' emptied it before fetchcli started, so its URLs are gone; restore the list, and {instead}"
    return "writing would destroy what is read; choose another path"


def open_checked(target: Target, flags: int) -> int:
    """A descriptor on the very file checked (``os.open`` ``flags``, such as ``O_WRONLY``): its
    resolved path opened without following a link, and compared with what was checked; a file
    absent then is created, and must still be absent. Nothing is truncated here. For a name of
    one of this process's descriptors (``/dev/stdout``), a duplicate of that descriptor, with
    the access the caller gave it (``flags`` do not apply): what it names was checked, not what
    opening the name again would give (a writable /dev/null for a closed stdout)."""
    if target.descriptor is not None and target.existing is not None:
        return _duplicate(target.path, target.descriptor, target.existing)
    flags |= os.O_NOFOLLOW | os.O_CLOEXEC
    if target.existing is None:
        flags |= os.O_CREAT | os.O_EXCL  # absent when checked: what appeared since is not ours
    try:
        fd = os.open(target.resolved, flags, 0o666)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK, errno.EEXIST):  # a link not followed, or a new file
            what = "a symbolic link" if os.path.islink(target.resolved) else "a file"
            raise OpenError(f"cannot write {target.path!r}: {what} took its place after it was checked") from None
        raise
    checked = target.existing
    try:
        found = os.fstat(fd)
        if checked is not None and (found.st_dev, found.st_ino) != (checked.st_dev, checked.st_ino):
            raise OpenError(f"cannot write {target.path!r}: another file took its place after it was checked")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _duplicate(path: str, descriptor: int, checked: os.stat_result) -> int:
    """A duplicate of ``descriptor`` (``path`` names it), if it is still the file checked."""
    try:
        fd = os.dup(descriptor)
    except OSError:
        raise OpenError(f"cannot write {path!r}: file descriptor {descriptor} was closed") from None
    found = os.fstat(fd)
    if (found.st_dev, found.st_ino) != (checked.st_dev, checked.st_ino):
        os.close(fd)
        raise OpenError(f"cannot write {path!r}: another file took its place after it was checked")
    return fd
