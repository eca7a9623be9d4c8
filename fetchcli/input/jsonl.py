"""JSON Lines input (``-i FILE.jsonl``, ``--input-format jsonl``): one request a line,
``{"url": ..., "method"?, "headers"?, "data"?, "json"?, "meta"?}``, each line one ``UrlItem``.

- ``url`` (required, a string): read as a line of a URL list is (``urls.normalise_url``).
- ``method``: a string, an HTTP token (upper-cased, as ``-X``).
- ``headers``: an object of names to string values, each checked as ``-H`` checks it; each
  replaces the run's headers (``-H`` and fetchcli's own) of its name. ``Proxy-Authorization`` is
  the run's alone (``-H``): only a proxy is told it.
- ``data``: a string, sent as its UTF-8 bytes exactly, as ``--data-binary``
  (``Content-Type: application/x-www-form-urlencoded`` unless ``headers`` name one); ``json``:
  any JSON value, sent as its compact JSON text (numbers as written), as ``--json``
  (``Content-Type`` and ``Accept: application/json`` unless ``headers`` name them). Not both. A
  line's body replaces the run's (``-d``, ``--json``); a line without one has the run's.
- A line with a body and no ``method`` is sent with the run's method, or POST when that is GET
  or HEAD (a body without ``-X`` means POST, as curl).
- ``meta``: an object, at most ``MAX_META_BYTES`` of compact JSON, copied into the record as
  written (``models.RawJson``): key order, number spellings and escapes kept; only the
  whitespace between tokens taken out, and a character outside ASCII written as its ``\\u``
  escape (as every other string of a record is), so ``jq`` reads the same value in the record as
  in the input.

A blank line is skipped (and takes no index), as in a URL list; JSON Lines has no comments, so
a line starting with ``#`` is an ``InvalidInput`` record, as is every other line that is not a
request: not UTF-8, not JSON, not an object, no ``url``, an unknown or repeated key, a value of
the wrong type, a bad header, a ``meta`` too large or holding a lone surrogate
(``"\\ud800"``: not text, and ``jq`` stops reading at it), a line over ``MAX_LINE_BYTES``. Its message
starts with the line's number (``line 12: ...``); its ``meta`` is still copied when it was good (and
given once), whatever else is wrong, so the record joins back. A ``url`` that is not a URL fetchcli can request is ``InvalidURL``, as
in a URL list. Nothing is held but the line being read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from json.scanner import make_scanner
from typing import Any

from fetchcli.errortype import ErrorType
from fetchcli.models import ErrorInfo, RawJson, UrlItem, UrlRequest
from fetchcli.redact import MASK, is_secret_header, mask_input
from fetchcli.settings import header_problem, is_token, not_utf8
from fetchcli.text import clean_line
from fetchcli.urls import normalise_url

__all__ = ["KEYS", "MAX_LINE_BYTES", "MAX_META_BYTES", "is_request_line", "iter_jsonl_items", "jsonl_item"]

MAX_LINE_BYTES = 1 << 20  # a longer line is InvalidInput (its rest read and dropped: memory stays bounded)
MAX_META_BYTES = 4096  # of the meta's compact JSON text (UTF-8)
KEYS = ("url", "method", "headers", "data", "json", "meta")
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

_WS = re.compile(r"[ \t\n\r]*")
# A JSON string (escapes kept as written) or a run of whitespace: compacting keeps the strings.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[ \t\n\r]+', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")
_NON_ASCII = re.compile("[^\x00-\x7f]")
_PREVIEW = 200


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
# (text, at) -> (the JSON value at ``at``, where it ends); typeshed types only the C class's argument
_SCAN = make_scanner(_DECODER)  # type: ignore[arg-type]


def _text(line: str) -> str:
    return line.strip().lstrip("\ufeff").strip()


def is_request_line(line: str) -> bool:
    """Whether a line of a JSON Lines input makes an item (every line but a blank one)."""
    return bool(_text(line))


def _escaped(char: re.Match[str]) -> str:
    return json.dumps(char.group())[1:-1]  # \u00e9; a character beyond the BMP as its surrogate pair


def _compact(raw: str) -> str:
    """JSON text without the whitespace between its tokens; strings, numbers and key order as written."""
    return _TOKENS.sub(lambda m: m.group() if m.group()[0] == '"' else "", raw)


def _ascii(text: str) -> str:
    """JSON text with each character outside ASCII (only a string can hold one) as its ``\\u``
    escape, as ``json.dumps`` writes the rest of a record: the same value, in ASCII whatever the
    output's encoding. Numbers, key order and the escapes written stay as they are."""
    return text if text.isascii() else _NON_ASCII.sub(_escaped, text)


class _Bad(Exception):
    """A line that is not a request; the message says why (its line number is added)."""


def _members(text: str) -> list[tuple[str, Any, int, int]] | None:
    """The members of the JSON object ``text`` in order, as (key, value, start, end) with the
    value's span in ``text``; None when ``text`` is not one JSON object (``json`` says why)."""
    at = _WS.match(text).end()  # type: ignore[union-attr]  # matches the empty string
    if text[at : at + 1] != "{":
        return None
    at = _WS.match(text, at + 1).end()  # type: ignore[union-attr]
    out: list[tuple[str, Any, int, int]] = []
    if text[at : at + 1] == "}":
        at += 1
    else:
        while True:
            if text[at : at + 1] != '"':
                return None
            key, at = _SCAN(text, at)
            at = _WS.match(text, at).end()  # type: ignore[union-attr]
            if text[at : at + 1] != ":":
                return None
            at = _WS.match(text, at + 1).end()  # type: ignore[union-attr]
            value, end = _SCAN(text, at)
            out.append((key, value, at, end))
            at = _WS.match(text, end).end()  # type: ignore[union-attr]
            if text[at : at + 1] == ",":
                at = _WS.match(text, at + 1).end()  # type: ignore[union-attr]
                continue
            if text[at : at + 1] == "}":
                at += 1
                break
            return None
    return out if _WS.match(text, at).end() == len(text) else None  # type: ignore[union-attr]


def _why_not_an_object(text: str) -> str:
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        return f"not JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}"  # json: "Invalid control character at"
    except (ValueError, RecursionError) as exc:
        return f"not JSON: {exc}"
    kind = {list: "an array", str: "a string", bool: "true or false", type(None): "null"}.get(type(value), "a number")
    return f"a JSON object is needed, not {kind}"


def _shown(text: str) -> str:
    return repr(clean_line(text[:40]) + ("..." if len(text) > 40 else ""))


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad(f"{key} must be a string")
    if _SURROGATE.search(value):
        raise _Bad(f"{key} holds a lone surrogate (\\u{ord(_SURROGATE.search(value).group()):04x}), which is not text")  # type: ignore[union-attr]
    return value


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise _Bad('headers must be an object of names and values: {"Name": "value"}')
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, given in value.items():
        text = _string(f"headers {_shown(name)}", given)
        problem = header_problem(name, text)
        if problem is not None:
            raise _Bad(f"headers: {problem}")
        lower = name.lower()
        if lower == "proxy-authorization":
            raise _Bad("headers: Proxy-Authorization is the run's (-H): only a proxy is told it")
        if lower in seen:
            raise _Bad(f"headers: {name!r} is given twice")
        seen.add(lower)
        out.append((name, text))
    return tuple(out)


def _meta(value: Any, raw: str) -> RawJson:
    if not isinstance(value, dict):
        raise _Bad("meta must be an object")
    compact = _ascii(_compact(raw))
    size = len(compact)  # ASCII: characters are bytes
    if size > MAX_META_BYTES:
        raise _Bad(f"meta is {size:,} bytes of compact JSON, more than {MAX_META_BYTES:,}")
    if "\\ud" in compact or "\\uD" in compact:  # an escaped surrogate: paired, or not text
        try:
            lone = _SURROGATE.search(json.dumps(value, ensure_ascii=False))
        except RecursionError:
            raise _Bad("meta is nested too deeply") from None
        if lone is not None:  # jq (and a strict reader) refuses the record, and every one after it
            raise _Bad(f"meta holds a lone surrogate (\\u{ord(lone.group()):04x}), which is not text")
    return RawJson(compact)


def _request(found: dict[str, tuple[Any, str]]) -> UrlRequest | None:
    """The line's own request from its members (value, raw text), or None when it has none."""
    method = None
    if "method" in found:
        method = _string("method", found["method"][0])
        if not is_token(method):
            raise _Bad(f"method must be an HTTP method token, not {_shown(method)}")
        method = method.upper()
    headers = _headers(found["headers"][0]) if "headers" in found else ()
    if "data" in found and "json" in found:
        raise _Bad("data and json cannot both be given: give one body")
    body, content_type, accept = None, None, None
    if "data" in found:
        body, content_type = _string("data", found["data"][0]).encode("utf-8"), FORM
    elif "json" in found:
        body, content_type, accept = _compact(found["json"][1]).encode("utf-8"), JSON, JSON
    if method is None and not headers and body is None:
        return None
    return UrlRequest(method, headers, body, content_type, accept)


# In a line that is not JSON: its url, else each "name": "value" pair, to mask a secret header's
# value (and a body's: data).
_URL_KEY = re.compile(r'"url"\s*:\s*"')


def _url_value(text: str) -> str | None:
    """The text of the first ``"url": "..."`` string of ``text`` that ends (escapes as written),
    else None. Scanned with ``str.find``: a regular expression kept a backtracking entry per
    character or escape of the string (150 MB for a 1 MiB url, 70 MB for 1 MiB of escapes)."""
    for key in _URL_KEY.finditer(text):
        start = pos = key.end()
        while (end := text.find('"', pos)) >= 0:
            before = end
            while before > start and text[before - 1] == "\\":
                before -= 1
            if (end - before) % 2 == 0:  # not escaped: the string ends here
                return text[start:end]
            pos = end + 1
        return None  # no quote ends it: none ends a later one either
    return None


def _masked_url_text(raw: str, *, torn: bool = False) -> str:
    """A bad line's ``url`` string (escapes as written) masked as the URL it spells: ``\\u0040``
    is an ``@`` to the reader of the JSON, so escapes are read first; a string whose escapes do
    not read is masked after its scheme, whole (its '@' cannot be told). ``torn``: the string
    does not end (a line cut short): what follows may be a user name, masked unless an '@' ends it."""
    if "\\" not in raw:
        return mask_input(raw, cut=torn)
    try:
        decoded = json.loads(f'"{raw}"')
    except ValueError:  # a torn escape at the end (\\u00) does not read either
        return mask_input(raw, cut=True)
    return mask_input(decoded, cut=torn)


# A value may run to the end of the text: a line cut at MAX_LINE_BYTES. Bounded input (the preview).
# A name may hold escapes ("Author\u0069zation" is Authorization to the JSON's reader).
_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:\s*)"([^"\\]*(?:\\.[^"\\]*)*)("|\\?\Z)')


def _masked_pair(pair: re.Match[str]) -> str:
    raw_name, between, value, end = pair.groups()
    try:
        name = json.loads(f'"{raw_name}"') if "\\" in raw_name else raw_name
    except ValueError:  # a name that does not read: its value may be anything's, masked
        name = None
    if name == "url":  # the url, its key written with escapes ("\u0075rl"): masked as a url is
        url = _masked_url_text(value, torn=end != '"')  # no closing quote: a torn line
        return f'"{raw_name}"{between}"{url}{end}'
    if name is None or name in ("data", "json") or is_secret_header(name):
        return f'"{raw_name}"{between}"{MASK}"'
    return pair.group()


def _line_preview(text: str, parsed: bool = True) -> str:
    """What a record's ``url`` shows of a bad line: masked, cut, a byte that is not UTF-8 as
    U+FFFD. For a line that is not JSON (``parsed`` False): its ``url``'s text when one is
    found, else the line with the values of secret headers and of ``data`` masked."""
    cut = len(text) > _PREVIEW * 4  # a password's '@' may lie past the cut: then all is masked
    if not parsed:
        found = _url_value(text)
        if found is not None:  # the url masked whole, then cut
            text, cut = _masked_url_text(found), False
        elif (key := _URL_KEY.search(text)) is not None and key.end() <= _PREVIEW * 4:  # a torn url string
            before = _PAIR.sub(_masked_pair, text[: key.end()])  # the pairs before it, as below
            text, cut = before + _masked_url_text(text[key.end() :], torn=True), False
        else:  # the pairs as far as shown (a value cut there is masked to its end: _PAIR)
            text = _PAIR.sub(_masked_pair, text[: _PREVIEW * 4])
    text = _SURROGATE.sub("\ufffd", text[: _PREVIEW * 4])
    shown = mask_input(text, cut=cut)
    return shown if len(shown) <= _PREVIEW else shown[:_PREVIEW] + "..."


def jsonl_item(line: str, index: int, number: int) -> UrlItem | None:
    """The item of one line (``number``: its line number in its input, from 1; ``index``: the
    item's), or None for a blank line. Never raises."""
    text = _text(line)
    if not text:
        return None
    if (
        not line.endswith("\n")
        and len(line) >= MAX_LINE_BYTES // 4
        and len(line.encode("utf-8", "surrogateescape")) > MAX_LINE_BYTES
    ):
        return _invalid(index, number, _line_preview(text, parsed=False), f"longer than {MAX_LINE_BYTES:,} bytes")
    problem = not_utf8(text)
    if problem is not None:
        return _invalid(index, number, _line_preview(text, parsed=False), problem.removeprefix("is "))
    try:
        members = _members(text)
    except (ValueError, StopIteration, RecursionError):
        members = None
    if members is None:
        return _invalid(index, number, _line_preview(text, parsed=False), _why_not_an_object(text))
    found: dict[str, tuple[Any, str]] = {}
    wrong: str | None = None  # the first key that is not right; the others are still read
    repeated: set[str] = set()
    for key, value, start, end in members:
        if key not in KEYS:
            wrong = wrong or f"unknown key {_shown(key)}: the keys are {', '.join(KEYS)}"
        elif key in found:
            wrong = wrong or f"{key} is given twice"
            repeated.add(key)
        else:
            found[key] = (value, text[start:end])
    meta: RawJson | None = None
    try:
        if "meta" in found and "meta" not in repeated:  # copied even to a bad line's record: it joins back
            meta = _meta(*found["meta"])
        if wrong is not None:
            raise _Bad(wrong)
        if "url" not in found:
            raise _Bad("no url")
        url = _string("url", found["url"][0])
        request = _request(found)
    except _Bad as exc:
        url_given = found["url"][0] if "url" in found else None
        shown = _line_preview(url_given) if isinstance(url_given, str) else _line_preview(text, parsed=False)
        return _invalid(index, number, shown, str(exc), meta)
    item = normalise_url(url.strip(), index)
    if item.error is not None:
        error = ErrorInfo(item.error.type, f"line {number}: {item.error.message}")
        return UrlItem(index=index, raw=item.raw, url=None, error=error, meta=meta)
    return UrlItem(index=index, raw=item.raw, url=item.url, request=request, meta=meta)


def _invalid(index: int, number: int, raw: str, message: str, meta: RawJson | None = None) -> UrlItem:
    error = ErrorInfo(ErrorType.InvalidInput, f"line {number}: {message}")
    return UrlItem(index=index, raw=raw, url=None, error=error, meta=meta)


def iter_jsonl_items(lines: Iterable[str], start: int = 0) -> Iterator[UrlItem]:
    """The items of a JSON Lines input's lines (decoded with ``surrogateescape``: a byte that is
    not UTF-8 is named), indexes from ``start``; blank lines take none."""
    index = start
    for number, line in enumerate(lines, 1):
        item = jsonl_item(line, index, number)
        if item is not None:
            yield item
            index += 1
