"""``--save DIR``: each body written, whole and decoded, to a file under DIR named from the URL,
never anywhere else.

- The name (``saved_name``): ``--save-name``'s template (``{host}/{path}`` by default; ``{index}``,
  ``{sha256}``, literal text) filled in from the URL asked for (not the final URL after
  redirects, as ``curl -O``; never from a header such as ``Content-Disposition``). Each path
  segment is percent-decoded on its own (``%2F`` stays in its segment), NFC-normalised, and made
  a name every filesystem takes (``_component``): no ``.``/``..``/empty segment, no control, format
  or ``/\\:*?"<>|`` character, no trailing dot or space, no device name (``CON``, ``NUL``,
  ``COM1``...: prefixed with ``_``), at most ``COMPONENT_BYTES`` bytes. A name changed that way,
  or a URL with a query, gets ``~`` and 12 hex digits of the URL's sha256 before its extension, so
  that two URLs do not share a file; a whole name over ``TOTAL_BYTES`` becomes a hashed one. An
  empty path or one ending in ``/`` is ``index.html``.
- The writing (``Saver``, ``SavePart``): DIR is opened once per process and every step is relative
  to that descriptor: the body goes to ``.fetchcli-<pid>-<random>.part`` at DIR's top (created
  with ``O_EXCL | O_NOFOLLOW``), then the directories of the name are made one by one, each
  opened with ``O_NOFOLLOW | O_DIRECTORY`` (a symlink or a file in the way is refused, never
  followed), and the file is renamed into place (``renameat``: a symlink at the final name is
  replaced, not followed). A name that cannot be made so (a file where a directory is needed, a
  directory where the file goes, a planted symlink, one of the run's own files: ``run_files``)
  falls back to one flat hashed name at DIR's top (``~conflict``); only if that fails too is
  the record a ``SaveError``.
- ``--fsync``: the file is synced before the rename and its directory after it.
- A body over ``--max-save-bytes`` stops being read: its part file is removed and the record is a
  ``BodyTooLarge`` failure (as curl's ``--max-filesize`` fails the transfer).
- A run killed leaves at most ``.part`` files, never a partial file under a final name; the next
  run on DIR removes the ones whose process is gone (``prepare``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
import string
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from fetchcli.engine.snippet import Body
from fetchcli.errors import SaveFailed, SaveTooLarge, classify
from fetchcli.models import ErrorInfo, UrlItem
from fetchcli.settings import BodySettings, SettingsError
from fetchcli.transport.wireurl import parse

PLACEHOLDERS = ("index", "sha256", "host", "path")
COMPONENT_BYTES = 200  # a name's segment, in UTF-8 bytes (most filesystems take 255)
TOTAL_BYTES = 1000  # a whole name, in UTF-8 bytes (PATH_MAX is 4096 with DIR in front)
HASH_DIGITS = 12
TEMP_PREFIX, TEMP_SUFFIX = ".fetchcli-", ".part"
INDEX_NAME = "index.html"

# Names Windows reserves for devices, with or without an extension (CON.txt too).
_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{kind}{n}" for kind in ("COM", "LPT") for n in (*"123456789", "\u00b9", "\u00b2", "\u00b3")]
)
_BAD_CHARS = frozenset('/\\:*?"<>|')
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class TemplateError(ValueError):
    """A ``--save-name`` template fetchcli does not take."""


def check_template(template: str) -> str:
    """``template`` if ``--save-name`` takes it, else ``TemplateError`` saying why: only the
    placeholders ``{index}``, ``{sha256}``, ``{host}``, ``{path}`` (no format spec), at least one
    of ``{index}``, ``{sha256}``, ``{path}`` (else every URL of a host would share one file), no
    NUL, no ``/`` at its start, no ``.`` or ``..`` segment."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"is not a template ({exc}); use {{index}}, {{sha256}}, {{host}}, {{path}}") from None
    names = set()
    for literal, field, spec, conversion in parts:
        if "\x00" in literal:
            raise TemplateError("has a NUL character")
        if field is None:
            continue
        if field not in PLACEHOLDERS or spec or conversion:
            shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise TemplateError(f"has {shown!r}; it takes {{index}}, {{sha256}}, {{host}}, {{path}}")
        names.add(field)
    if not names & {"index", "sha256", "path"}:
        raise TemplateError("needs {index}, {sha256} or {path} (else URLs would share a file)")
    if template.startswith("/"):
        raise TemplateError("must be relative to DIR (it begins with '/')")
    if any(segment in (".", "..") for segment in template.split("/")):
        raise TemplateError("has a '.' or '..' segment")
    return template


def _cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, on a character boundary."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def _component(text: str) -> tuple[str, bool]:
    """``text`` as a name every filesystem takes, and whether it had to change ('' when nothing
    is left of it: the segment is dropped). A name that NFC changed counts as changed: two
    URLs differing only in normalisation (``cafe%CC%81``, ``caf%C3%A9``) must not share a file."""
    given, text = text, unicodedata.normalize("NFC", text)
    chars = [
        "_" if ch in _BAD_CHARS or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") else ch for ch in text
    ]
    name = "".join(chars).rstrip(". ")
    if name.upper().split(".", 1)[0].rstrip(" ") in _DEVICES or name.startswith(TEMP_PREFIX):
        name = "_" + name
    name = _cut(name, COMPONENT_BYTES).rstrip(". ")
    return name, name != given


def _with_hash(name: str, digest: str) -> str:
    """``name`` with ``~`` and ``digest`` before its extension (``page~0a1b2c3d4e5f.html``)."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 10:
        stem, ext = name, ""
    tail = f"~{digest}" + (f".{ext}" if ext else "")
    return _cut(stem, COMPONENT_BYTES - len(tail.encode())) + tail


def url_digest(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_DIGITS]


def _path_parts(url: str) -> tuple[list[str], bool]:
    """The segments of ``url``'s path as names, and whether any changed (or a query was dropped)."""
    parsed = parse(url)
    path, _, query = parsed.target.partition("?")
    lossy = bool(query)
    segments = path.split("/")[1:]
    names: list[str] = []
    for segment in segments[:-1] if segments and segments[-1] == "" else segments:
        raw = unquote_to_bytes(segment)
        try:
            name, changed = _component(raw.decode("utf-8"))
        except UnicodeDecodeError:  # not UTF-8 (%FF): U+FFFD for each bad byte, and hashed (%FE too)
            name, changed = _component(raw.decode("utf-8", "replace"))[0], True
        lossy = lossy or changed
        if name:
            names.append(name)
    if not segments or segments[-1] == "":
        names.append(INDEX_NAME)
    return names, lossy


def _host(url: str) -> str:
    """``{host}``: the host (``_PORT`` after it when the URL names one) as a name; one cut to
    ``COMPONENT_BYTES`` gets the hash of the whole, so that two long hosts do not share a folder."""
    parsed = parse(url)
    host = parsed.host + (f"_{parsed.port}" if parsed.port is not None else "")
    name = _component(host)[0] or "_"
    if len(host.encode("utf-8", "surrogatepass")) > COMPONENT_BYTES:
        name = _with_hash(name, url_digest("host:" + host))
    return name


def saved_name(template: str, index: int, url: str, sha256: str | None) -> list[str]:
    """The segments of the name ``url`` (the input's ``index``-th URL, whose body's digest is
    ``sha256``) is saved under, relative to DIR; each a name every filesystem takes."""
    digest = url_digest(url)
    lossy = False
    out: list[str] = [""]
    for literal, field, _, _ in string.Formatter().parse(template):
        out[-1] += literal
        if field == "index":
            out[-1] += str(index)
        elif field == "sha256":
            out[-1] += sha256 or digest
        elif field == "host":
            out[-1] += _host(url)
        elif field == "path":
            parts, changed = _path_parts(url)
            lossy = lossy or changed
            out[-1] += parts[0]
            out.extend(parts[1:])
    names: list[str] = []
    for piece in "/".join(out).split("/"):  # literal text may hold '/' too
        name, changed = _component(piece)
        lossy = lossy or (changed and bool(piece))
        if name:
            names.append(name)
    if not names:
        names = [digest]
    elif lossy:
        names[-1] = _with_hash(names[-1], digest)
    if sum(len(n.encode("utf-8", "surrogatepass")) + 1 for n in names) > TOTAL_BYTES:
        names = [*names[:1], _with_hash(_cut(names[-1], 100), url_digest("long:" + url))]
    return names


def conflict_name(names: list[str], url: str) -> str:
    """The flat name at DIR's top for a name that cannot be made where it belongs."""
    return _with_hash(_cut("__".join(names), 150), "conflict-" + url_digest(url))


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


Kept = tuple[int, int, str]  # (device, inode, "") of a file; (device, inode, name): a name in a folder


def run_files(sources: list[str | int]) -> frozenset[Kept]:
    """What ``SavePart.commit`` must not replace: each regular file of ``sources`` (paths, links
    followed, or open descriptors: the run's inputs and outputs) by device and inode, and for a
    path with no file yet (an output the run will make), its name in its folder."""
    kept: set[Kept] = set()
    for source in sources:
        try:
            found = os.fstat(source) if isinstance(source, int) else os.stat(source)
        except FileNotFoundError:
            if isinstance(source, str):
                real = os.path.realpath(source)
                with contextlib.suppress(OSError):
                    folder = os.stat(os.path.dirname(real))
                    kept.add((folder.st_dev, folder.st_ino, os.path.basename(real)))
            continue
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


def _part_pid(name: str) -> int | None:
    if not (name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)):
        return None
    pid = name[len(TEMP_PREFIX) :].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


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

    def commit(self, names: list[str], url: str, fsync: bool, keep: frozenset[Kept] = frozenset()) -> str:
        """Rename the part file to ``names`` under DIR (or the conflict name); the name given,
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
        for attempt in (names, [conflict_name(names, url)]):
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
        names = saved_name(body.save_name, item.index, item.url, read.sha256 if read is not None else None)
        return part.commit(names, item.url, body.save_fsync, body.save_keep), None
    except SaveFailed as exc:
        part.discard()
        return None, classify(exc)


_SAVERS: dict[str, Saver] = {}


def saver_for(path: str) -> Saver:
    """The ``Saver`` of DIR ``path`` in this process."""
    saver = _SAVERS.get(path)
    if saver is None:
        saver = _SAVERS[path] = Saver(path)
    return saver
