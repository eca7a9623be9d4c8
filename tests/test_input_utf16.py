"""A URL list saved as UTF-16 (Windows Notepad's "Unicode") is read as UTF-8, the only encoding
fetchcli reads: each line then holds a NUL every other character. Its records say what the input
looks like and how to convert it (review r7u: one InvalidURL a line with NULs and no hint)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import fetchcli_in_clean_env

HINT = "(the input looks like UTF-16: fetchcli reads UTF-8; convert it, e.g. iconv -f utf-16 -t utf-8)"


def test_a_utf16_list_says_so_in_each_record(tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_bytes("http://a.example/\r\nhttp://b.example/\r\n".encode("utf-16"))  # with its BOM
    done = fetchcli_in_clean_env("-f", "jsonl", "-i", str(listing))
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert records and all(r["error"]["type"] == "InvalidURL" for r in records)
    assert all(r["error"]["message"].endswith(HINT) for r in records), [r["error"]["message"] for r in records]


def test_a_stray_control_character_gets_no_such_hint(tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_bytes(b"http://a.example/x\x00y\n")
    done = fetchcli_in_clean_env("-f", "jsonl", "-i", str(listing))
    [record] = [json.loads(line) for line in done.stdout.splitlines()]
    assert record["error"]["message"] == "URL contains a control character (U+0000)"
