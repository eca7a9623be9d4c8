"""``--save DIR`` before a run and after one: ``prepare`` makes DIR (as ``curl --create-dirs``)
and removes the ``.part`` files of runs that are gone (a run killed leaves at most those, never a
partial file under a final name); ``check_option``, what ``prepare`` would refuse, found without
making anything (``--dry-run``); ``folds_case``, whether DIR's names differ by case only as
one (``savename.NameClaims`` then compares them so); ``saved_file_missing``, whether a record's saved file is gone
(``--resume`` fetches its URL again).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from fetchcli.engine.savename import TEMP_PREFIX, TEMP_SUFFIX
from fetchcli.errors import SaveFailed
from fetchcli.settings import SettingsError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process: alive
    return True


def prepare(path: str) -> None:
    """Make DIR if it is missing (with its parents, as ``curl --create-dirs``); ``SaveFailed``
    if it is not a directory or cannot be made. Part files left by runs that are gone (killed)
    are removed."""
    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError:
        raise SaveFailed(f"{path!r} is not a directory") from None
    except OSError as exc:
        raise SaveFailed(f"cannot make the directory {path!r}: {exc.strerror or exc}") from None
    if not os.path.isdir(path):
        raise SaveFailed(f"{path!r} is not a directory")
    try:
        root = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise SaveFailed(f"cannot open the directory {path!r}: {exc.strerror or exc}") from None
    try:
        with os.scandir(root) as entries:  # streamed: DIR's top may hold many files ({index})
            for entry in entries:
                pid = _part_pid(entry.name)
                if pid is not None and not _alive(pid):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.name, dir_fd=root)
    finally:
        os.close(root)


def folds_case(path: str) -> bool:
    """Whether DIR's filesystem takes names that differ only by case for one name (macOS's and
    Windows' default): a probe part file made at its top is looked for in upper case, then
    removed. False when it cannot be told (DIR not made yet, not writable)."""
    probe = f"{TEMP_PREFIX}{os.getpid()}-case{TEMP_SUFFIX}"
    try:
        root = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        os.close(
            os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=root)
        )
    except OSError:
        os.close(root)
        return False
    try:
        return _exists(root, probe.upper())
    finally:
        with contextlib.suppress(OSError):
            os.unlink(probe, dir_fd=root)
        os.close(root)


def _exists(root: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=root, follow_symlinks=False)
    except OSError:
        return False
    return True


def check_option(path: str) -> None:
    """What ``prepare`` would refuse, found without making anything (``--dry-run``, and every
    run before it writes): DIR, or the nearest of its parents that exists, not a directory is a
    ``SettingsError`` of ``--save`` worded as ``prepare`` words it."""
    probe = os.path.abspath(path)
    while not os.path.lexists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if os.path.isdir(probe):
        return
    if probe == os.path.abspath(path):
        raise SettingsError("--save", f"{path!r} is not a directory")
    raise SettingsError("--save", f"cannot make the directory {path!r}: {os.strerror(errno.ENOTDIR)}")


def prepare_option(path: str) -> None:
    """``prepare`` for the command line: a problem is a ``SettingsError`` of ``--save``."""
    try:
        prepare(path)
    except SaveFailed as exc:
        raise SettingsError("--save", str(exc)) from None


def saved_file_missing(path: str, saved: object) -> bool:
    """Whether a record's ``saved_path`` (``saved``) names no regular file under DIR ``path``
    (``--resume`` fetches that URL again); False for a record that saved nothing."""
    if not isinstance(saved, str):
        return False
    parts = saved.split("/")
    if not saved or "\x00" in saved or saved.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return True  # not a name fetchcli writes: nothing trusted about it
    try:
        return not stat.S_ISREG(os.lstat(os.path.join(path, *parts)).st_mode)
    except (OSError, ValueError):
        return True


def _part_pid(name: str) -> int | None:
    if not (name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)):
        return None
    pid = name[len(TEMP_PREFIX) :].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None
