"""A whole record as one line of JSON, written field by field: exactly what
``dumps_record(result.to_dict())`` writes (``to_dict`` stays the schema; a test holds the two
equal over every field and value type), for less than half of its work.

``json.dumps`` of the record's dict escaped each of its 35 keys again for every record, built
the dict and its nested ones first, and went through its encoder's generic machinery for every
value: 125,000 instructions a record (callgrind; 59,000 this way), 14% of fetchcli's CPU per
URL. Here the keys
are constant text, and each value is written as ``json`` writes a value of its declared type: a
string by ``json``'s own escaping, an ``int`` by ``int.__repr__``, a finite ``float`` by
``float.__repr__``; anything else (``NaN``, an ``int`` where a float is declared, a ``bool``
where an ``int`` is, a value of another type) by ``json`` itself, so nothing is written
differently whatever a record holds. ``--fields`` (a projection) takes the general way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii as _string
from typing import Any

from fetchcli.models import RECORD_SCHEMA_VERSION, FetchResult, RawJson, Timing
from fetchcli.output.render.fields import dumps_record, project

_json = json.dumps


def _int(value: Any) -> str:
    """An ``int`` field (``None``: null), as json writes it."""
    if value is None:
        return "null"
    return int.__repr__(value) if type(value) is int else _json(value)


def _float(value: Any) -> str:
    """A ``float`` field (``None``: null), as json writes it (NaN and the infinities by json)."""
    if value is None:
        return "null"
    return float.__repr__(value) if type(value) is float and value - value == 0 else _json(value)


def _timing(timing: Timing | None) -> str:
    if timing is None:
        return "null"
    return (
        f'{{"dns_ms": {_float(timing.dns_ms)}, "connect_ms": {_float(timing.connect_ms)}, '
        f'"tls_ms": {_float(timing.tls_ms)}, "ttfb_ms": {_float(timing.ttfb_ms)}}}'
    )


def record_json(result: FetchResult, fields: Sequence[str] | None = None) -> str:
    """The record as one line of JSON; with ``fields`` (``--fields``), only those, in that order."""
    if fields is None:
        return record_line(result)
    return dumps_record(project(result.to_dict(), fields))


def record_line(result: FetchResult) -> str:
    """``dumps_record(result.to_dict())``, written without the dict."""
    r = result
    try:
        # A str field is None (null) or a str, which json's own escaping writes (it raises
        # TypeError for any other type: then the general way below writes the record).
        return (
            f'{{"schema_version": {RECORD_SCHEMA_VERSION}, "index": {_int(r.index)}, "url": {_string(r.url)}, '
            f'"ok": {"true" if r.ok is True else "false" if r.ok is False else _json(r.ok)}, '
            f'"status": {_int(r.status)}, '
            f'"reason": {"null" if r.reason is None else _string(r.reason)}, '
            f'"http_version": {"null" if r.http_version is None else _string(r.http_version)}, '
            f'"final_url": {"null" if r.final_url is None else _string(r.final_url)}, '
            f'"redirects": {_json([hop.to_dict() for hop in r.redirects]) if r.redirects else "[]"}, '
            f'"elapsed_ms": {_float(r.elapsed_ms)}, "timing": {_timing(r.timing)}, '
            f'"content_type": {"null" if r.content_type is None else _string(r.content_type)}, '
            f'"content_length": {_int(r.content_length)}, '
            f'"server": {"null" if r.server is None else _string(r.server)}, '
            f'"title": {"null" if r.title is None else _string(r.title)}, '
            f'"remote_ip": {"null" if r.remote_ip is None else _string(r.remote_ip)}, '
            f'"remote_port": {_int(r.remote_port)}, "bytes_read": {_int(r.bytes_read)}, '
            f'"truncated": {"true" if r.truncated is True else "false" if r.truncated is False else _json(r.truncated)}, '
            f'"sha256": {"null" if r.sha256 is None else _string(r.sha256)}, '
            f'"binary": {"true" if r.binary is True else "false" if r.binary is False else _json(r.binary)}, '
            f'"snippet": {_string(r.snippet)}, "fetched_at": {_string(r.fetched_at)}, '
            f'"error": {"null" if r.error is None else _json(r.error.to_dict())}, '
            f'"attempts": {_int(r.attempts)}, '
            f'"tls": {"null" if r.tls is None else _json(r.tls.to_dict())}, '
            f'"queued_ms": {_float(r.queued_ms)}, '
            f'"location": {"null" if r.location is None else _string(r.location)}, '
            f'"method": {"null" if r.method is None else _string(r.method)}, '
            f'"saved_path": {"null" if r.saved_path is None else _string(r.saved_path)}, '
            f'"meta": {"null" if r.meta is None else r.meta if isinstance(r.meta, RawJson) else _json(r.meta)}, '
            f'"not_modified": {"null" if r.not_modified is None else _json(r.not_modified)}, '
            f'"change": {"null" if r.change is None else _json(r.change.to_dict())}, '
            f'"consecutive_failures": {_int(r.consecutive_failures)}}}'
        )
    except TypeError:  # a str field holding another type: json says what it would have written
        return dumps_record(r.to_dict())
