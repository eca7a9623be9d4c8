"""``--save``'s file names: ``saved_name``, from ``--save-name``'s template (``{host}/{path}`` by
default; ``{index}``, ``{sha256}``, literal text; ``check_template`` says which it takes) filled in
from the URL asked for (not the final URL after redirects, as ``curl -O``; never from a header
such as ``Content-Disposition``). Each path segment is percent-decoded on its own (``%2F`` stays
in its segment), NFC-normalised, and made a name every filesystem takes (``_component``): no
``.``/``..``/empty segment, no control, format or ``/\\:*?"<>|`` character, no trailing dot or
space, no device name (``CON``, ``NUL``, ``COM1``...: prefixed with ``_``), at most
``COMPONENT_BYTES`` bytes. A name changed that way, or a URL with a query, gets ``~`` and 12 hex
digits of the URL's sha256 before its extension, so that two URLs do not share a file; a whole
name over ``TOTAL_BYTES`` becomes a hashed one. An empty path or one ending in ``/`` is
``index.html``. ``conflict_name``: the flat hashed name at DIR's top for a name that cannot be
made where it belongs; the part files' names (``TEMP_PREFIX``) are never a body's.
``NameClaims``: the names of one run, claimed in input order, so that two requests that map to
one name (``http://`` and ``https://``, ``/a/`` and ``/a/index.html``, ``/a//b`` and ``/a/b``, a
template without ``{host}``, the same request twice) are not saved over each other: the later
is saved apart.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import re
import string
import unicodedata
from urllib.parse import unquote_to_bytes

from fetchcli.engine.selection import Hash64Set
from fetchcli.engine.urlkey import request_key, url_hash
from fetchcli.models import UrlItem
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
# A segment _component leaves as it is, told at once (most of them): ASCII letters, digits and
# punctuation no filesystem refuses, no dot first (``.``, ``..``, the part files) nor last.
_PLAIN = re.compile(r"[A-Za-z0-9_~!$&'()+,;=@-](?:[A-Za-z0-9._~!$&'()+,;=@-]*[A-Za-z0-9_~!$&'()+,;=@-])?")


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
    if len(text) <= COMPONENT_BYTES and _PLAIN.fullmatch(text) and text.upper().split(".", 1)[0] not in _DEVICES:
        return text, False  # what the rest would return for it (the engine names every URL: --save)
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
            if not parts:  # no segment left a name ('/...', '/%20'): one that says so, hashed
                parts, changed = ["_"], True
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
    """The flat name at DIR's top for a name that cannot be made where it belongs: its segments
    joined by ``__``, the hash before the last segment's extension (``h__a__b~conflict-<hash>.css``;
    never a dot of the host: ``127.0.0.1__x`` has none)."""
    stem, dot, ext = names[-1].rpartition(".")
    keep = dot and stem and len(ext) <= 10
    joined = "__".join([*names[:-1], stem if keep else names[-1]])
    return _cut(joined, 150).rstrip(". ") + f"~conflict-{url_digest(url)}" + (f".{ext}" if keep else "")


def save_identity(item: UrlItem) -> str:
    """What one saved file stands for: the request (``request_key``), and with ``--all-ips`` the
    address probed (each probe's body is its own)."""
    key = request_key(item)
    return key if item.address is None else f"{key}\t{item.address}"


class NameClaims:
    """The names a run saves under, each claimed by the first request that maps to it (the
    engine asks in input order, before the URL is sent: with ``--workers`` too). ``apart``: the
    item with ``save_apart`` set when its name was claimed before: by another request
    (``save_identity``: another URL, a JSON Lines line's own method, headers or body, another
    ``--all-ips`` address), or by the same request earlier in the input (each answer may differ:
    one file would hold the body of whichever finished last, as wget saves ``dup.1``). With
    ``{sha256}`` in the template the name is taken here with the URL's digest in its place, and
    the same request again keeps its name: two bodies saved under one ``{sha256}`` name are the
    same bytes. Two ``Hash64Set`` of 64-bit hashes: a fixed number of bytes per URL, never the
    names. On a filesystem that takes names differing only by case for one (``fold_case``), they
    are compared so."""

    def __init__(self, template: str, fold_case: bool = False) -> None:
        self.template = template
        self.fold_case = fold_case  # DIR takes "A" and "a" for one name (savedir.folds_case)
        self.by_content = "{sha256}" in template  # one name, one body: a request again may share it
        self._names = Hash64Set()
        self._owners = Hash64Set()  # {sha256}: (name, request) of the request that claimed each name

    def claim(self, item: UrlItem) -> bool:
        """Whether ``item``'s name is its own (claimed now; with ``{sha256}``, or by the same
        request before); a URL another shard fetches or a resumed run skips
        (``Selection.on_left_out``) claims its name as that shard or the run before does."""
        assert item.url is not None
        try:
            name = "/".join(saved_name(self.template, item.index, item.url, None))
        except Exception:  # noqa: BLE001 - a URL the request refuses (BadURL), or a fault in naming it:
            return True  # the request's own saving says so in its record; the run goes on
        if self.fold_case:
            name = name.casefold()
        owner = url_hash(f"{name}\x00{save_identity(item)}") if self.by_content else 0
        if self._names.add(url_hash(name)):
            if self.by_content:
                self._owners.add(owner)
            return True
        return self.by_content and owner in self._owners

    def apart(self, item: UrlItem) -> UrlItem:
        """``item``, or with ``save_apart`` when its name was claimed before; its conflict name
        is then claimed too, so that a later URL whose own name spells it (``/a~conflict-<hash>``
        under ``--save-name '{path}'``) is set apart in turn, not saved over it."""
        if self.claim(item):
            return item
        assert item.url is not None
        with contextlib.suppress(Exception):  # named as claim() names it: a fault there is the request's to tell
            name = conflict_name(saved_name(self.template, item.index, item.url, None), conflict_owner(item))
            self._names.add(url_hash(name.casefold() if self.fold_case else name))
        return dataclasses.replace(item, save_apart=True)


def conflict_owner(item: UrlItem) -> str:
    """What the conflict name of an item set apart is hashed from: the request, and its place in
    the input (the same request asked twice never shares one either)."""
    return f"{save_identity(item)}\t#{item.index}"
