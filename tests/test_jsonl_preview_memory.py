"""A JSON Lines line that cannot be read (over the line limit, not UTF-8, not JSON) is shown by
its ``url``'s text, found over the whole line: by a regular expression matching one alternation a
character, a 1 MiB url took about 150 MB and 0.2 s of CPU (review r7u, 20 such lines: 186 MB of
RSS). Counted with tracemalloc, not timed."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from fetchcli.input import jsonl


def _peak_bytes(text: str) -> int:
    tracemalloc.start()
    try:
        jsonl._line_preview(text, parsed=False)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_huge_url_in_a_bad_line_is_found_in_memory_of_its_own_size() -> None:
    line = '{"url": "http://127.0.0.1:9/' + "a" * 1_100_000 + '", "x": }'  # not JSON
    assert _peak_bytes(line) < 8 * len(line)  # the text and a copy or two, not 140 bytes a character


def test_a_huge_unnamed_value_is_bounded_too() -> None:
    line = '{"headers": {"X-Api-Key": "' + "k" * 1_100_000 + '"}, "y": }'
    assert _peak_bytes(line) < 8 * len(line)


def test_what_the_preview_shows_is_unchanged() -> None:
    # the url's escapes are read, as they are on a line that is JSON (and as '\u0040' must be)
    assert jsonl._line_preview('{"url": "http://a/\\"x\\\\y", "h": 1', parsed=False) == 'http://a/"x\\y'
    assert (
        jsonl._line_preview('{"headers": {"Authorization": "Bearer abc\\"d"}, "url": "http://x/', parsed=False)
        == '{"headers": {"Authorization": "***"}, "url": "http://***'  # torn: all after the scheme
    )
    assert jsonl._line_preview('{"data": "abc\\', parsed=False) == '{"data": "***"'


def test_a_string_of_escapes_is_bounded_too() -> None:
    """Review r8a: the unrolled expression still kept an entry per escape (70 MB for 1 MiB of
    them); the url is now found by a scan."""
    line = '{"url":"' + "\\a" * 550_000 + '", }'
    assert _peak_bytes(line) < 8 * len(line)


def test_a_long_password_is_masked_before_the_preview_is_cut() -> None:
    """The url of a bad line is masked whole, then cut: a password (a token) longer than the
    preview kept its '@' past the cut, and its first characters were shown."""
    line = '{"url": "https://user:' + "s3cr3t" * 400 + '@host.example/", "x": }'
    shown = jsonl._line_preview(line, parsed=False)
    assert shown == "https://user:***@host.example/" and "s3cr3t" not in shown


def test_a_long_password_in_a_url_string_that_does_not_end_is_masked() -> None:
    """Review r9a: the url string not closed (or a line cut at the limit), the text cut at the
    preview held no '@': everything after the scheme is masked then. Since review r10u the torn
    string is read whole (escapes too) before the cut, so its '@' is found."""
    line = '{"url": "http://user:' + "S" * 900 + "@127.0.0.1:9/x"
    shown = jsonl._line_preview(line, parsed=False)
    assert shown == '{"url": "http://user:***@127.0.0.1:9/x'
    assert jsonl._line_preview('{"url": "http://user:' + "S" * 900, parsed=False) == '{"url": "http://***'
    assert "SSS" not in jsonl._line_preview("http://user:" + "S" * 1000 + "@127.0.0.1:9/x")


def test_the_pairs_are_only_looked_for_in_what_the_preview_can_show(monkeypatch: pytest.MonkeyPatch) -> None:
    """Review r12a: a torn line whose url key came after 80 KB of escaped quotes ran the name
    pattern (escapes allowed) over all of it, in time growing with the square of the length (20 s
    for 80 KB). The pattern now only ever sees the text the preview can show."""
    seen: list[int] = []
    pattern = jsonl._PAIR

    class Counting:
        def sub(self, repl: Any, string: str) -> str:
            seen.append(len(string))
            return pattern.sub(repl, string)

    monkeypatch.setattr(jsonl, "_PAIR", Counting())
    for line in ("{" + '\\"' * 40_000 + '"url": "http://torn', '{"a": "' + "x" * 5000 + '", "url": "http://torn'):
        jsonl._line_preview(line, parsed=False)
    assert seen and max(seen) <= jsonl._PREVIEW * 4, seen
