"""What a line of a ``--resume`` file may be: a record as fetchcli writes it, no longer than a
record can be (``record_line_limit``: a crafted file never makes fetchcli read a line of
gigabytes), holding nothing fetchcli never writes (``wrong_field``: the file is input, and its
error types, statuses and times reach the summary); or a last line torn by a kill
(``torn_record``: the beginning of a record, cut off and its URL fetched again)."""

from __future__ import annotations

import json
from typing import Any

from fetchcli.errortype import ErrorType
from fetchcli.models import FetchResult
from fetchcli.settings import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_REDIRECTS, DEFAULT_SNIPPET_LENGTH
from fetchcli.urls import MAX_URL_LENGTH

UNFINISHED = frozenset({ErrorType.Cancelled, ErrorType.NotStarted})  # error types of URLs a stop left unfetched

# The longest line a record can be, generously: each URL it holds (the URL, final_url, every
# redirect) is at most MAX_URL_LENGTH characters, 12 bytes each at worst once JSON-escaped (a
# character outside the BMP: \ud83d\ude00); the snippet's characters as well; and 4 MiB for
# everything else (messages, header values, the certificate's names). The snippet has at most
# --snippet-length characters and comes from at most --max-body-bytes bytes (masking a secret
# of one character makes it three: 3 characters a byte at most); the redirects are at most
# --max-redirects. Both are counted up to a bound, so that no setting lets a crafted file make
# fetchcli read a line of gigabytes: at most about 41 MB (records of URLs mostly ASCII, as they
# are, fit with thousands of redirects; a snippet of a million characters fits).
_URL_JSON = MAX_URL_LENGTH * 12
_REST = 4 << 20
_MAX_REDIRECTS_COUNTED = 256
_MAX_SNIPPET_COUNTED = 1 << 20


def record_line_limit(
    snippet_length: int = DEFAULT_SNIPPET_LENGTH,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> int:
    """The longest line ``ResumeFile.load`` takes for a record of a run with these settings."""
    snippet = min(snippet_length, 3 * max_body_bytes, _MAX_SNIPPET_COUNTED)
    return (min(max_redirects, _MAX_REDIRECTS_COUNTED) + 2) * _URL_JSON + 12 * snippet + _REST


def _record_head() -> bytes:
    """How every record fetchcli writes begins, up to its index's digits (``{"schema_version":
    1, "index": ``), from the record's own serialisation (``FetchResult.to_dict``, as the JSON
    Lines sink writes it)."""
    line = json.dumps(FetchResult(0, "", True).to_dict()).encode()
    return line[: line.index(b'"index": ') + len(b'"index": ')]


_HEAD = _record_head()


def torn_record(line: bytes) -> bool:
    """Whether a last line without its newline is the beginning of a record fetchcli wrote (torn
    by a kill while it was written): the record's head, or a part of it, then the index's
    digits. Anything else (a user's JSON file, ``{"name": "app"}``) is not fetchcli's to cut."""
    if len(line) <= len(_HEAD):
        return _HEAD.startswith(line)
    return line.startswith(_HEAD) and line[len(_HEAD) : len(_HEAD) + 1].isdigit()


# The longest time a record can hold (about 31 years): a bound, so that no file makes the
# summary print a 300-digit time.
_MAX_MS = 1e12


def wrong_field(record: dict[str, Any]) -> str | None:
    """What of a record's fields counted by the summary fetchcli never writes (an edited or
    crafted file: its text would reach the summary line), or None: ``status`` an int 100-599,
    ``error.type`` a name of ``ErrorType``, the times finite and >= 0, ``attempts`` an int >= 0,
    each or null (or absent)."""
    status = record.get("status")
    if status is not None and (type(status) is not int or not 100 <= status <= 599):
        return "a status that is not an HTTP status (100-599) or null"
    error = record.get("error")
    if error is not None and (not isinstance(error, dict) or ErrorType.named(error.get("type")) is None):
        return "an error that is not null or one of fetchcli's error types"
    for name in ("elapsed_ms", "queued_ms"):
        ms = record.get(name)
        if ms is not None and (type(ms) not in (int, float) or not 0 <= ms <= _MAX_MS):  # NaN fails too
            return f"an {name} that is not a time (a number >= 0) or null"
    attempts = record.get("attempts")
    if attempts is not None and (type(attempts) is not int or attempts < 0):
        return "attempts that are not a count or null"
    return None
