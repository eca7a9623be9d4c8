"""Review r4a (attacker) of JSON Lines input, --all-ips and --metrics: what was found, pinned."""

from __future__ import annotations

import json

import pytest

from fetchcli.input.jsonl import MAX_LINE_BYTES, jsonl_item

SECRETS = ("LEAKTOKEN", "LEAKDATA")


@pytest.mark.parametrize(
    "line",
    [
        # over MAX_LINE_BYTES (the reader hands the cut line over, without its newline)
        '{"headers": {"Authorization": "Bearer LEAKTOKEN"}, "data": "LEAKDATA' + "x" * MAX_LINE_BYTES,
        '{"headers": {"Authorization": "Bearer LEAKTOKEN"}, "url": "h.example", "data": "LEAKDATA'
        + "x" * MAX_LINE_BYTES,
        # a byte that is not UTF-8 (read with surrogateescape)
        '{"headers": {"Authorization": "Bearer LEAKTOKEN"}, "data": "LEAKDATA", "url": "h.example/\udcff"}\n',
        '{"data": "LEAKDATA", "headers": {"Authorization": "Bearer LEAKTOKEN"}}\udcff\n',
    ],
)
def test_a_too_long_or_not_utf8_line_shows_no_secret(line: str) -> None:
    item = jsonl_item(line, 0, 1)
    assert item is not None and item.error is not None and item.error.type == "InvalidInput"
    shown = json.dumps(item.display_url) + item.error.message
    assert not [secret for secret in SECRETS if secret in shown], shown
