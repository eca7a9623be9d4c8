"""CSV and TSV output, --fields for every structured format, and -o's extension choosing the format."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server import LoopbackServer


def _fetchcli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fetchcli", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("fmt", "delimiter"), [("csv", ","), ("tsv", "\t")])
def test_delimited_output_round_trips_and_is_safe_in_a_spreadsheet(
    server: LoopbackServer, fmt: str, delimiter: str
) -> None:
    urls = [server.url('/ok/a,b"c'), '=HYPERLINK("http://evil")', server.url("/status/404")]
    done = subprocess.run([sys.executable, "-m", "fetchcli", "-f", fmt, *urls], capture_output=True, timeout=60)
    assert done.returncode == 1
    text = done.stdout.decode()
    if fmt == "csv":
        assert text.count("\r\n") == 4  # RFC 4180 line ends: a header and three rows
    else:
        assert text.count("\n") == 4 and "\r" not in text  # LF, as awk, cut and read expect
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))
    assert [row["index"] for row in rows] == ["0", "1", "2"]
    assert rows[0]["snippet"] == "hello from /ok/a,b%22c" and rows[0]["ok"] == "true"
    assert rows[0]["error.type"] == "" and rows[1]["error.type"] == "InvalidURL"
    assert rows[1]["url"].startswith("'=")  # would run as a formula otherwise
    assert rows[2]["status"] == "404" and rows[2]["reason"] == "Whatever"


def test_fields_select_and_order_in_every_structured_format(server: LoopbackServer) -> None:
    urls = [server.url("/ok"), "http://127.0.0.1:9/"]
    fields = "status,url,error.type"
    jsonl = [json.loads(line) for line in _fetchcli("--fields", fields, *urls).stdout.splitlines()]
    assert [list(r) for r in jsonl] == [["status", "url", "error.type"]] * 2
    assert jsonl[0]["error.type"] is None and jsonl[1]["error.type"] == "ConnectionRefused"
    array = json.loads(_fetchcli("-f", "json", "--fields", "url,error", *urls).stdout)
    assert array[1] == {"url": "http://127.0.0.1:9/", "error": array[1]["error"]}
    assert array[1]["error"]["type"] == "ConnectionRefused"
    table = _fetchcli("-f", "csv", "--fields", fields, *urls).stdout.splitlines()
    assert table[0] == "status,url,error.type" and table[2] == "," + "http://127.0.0.1:9/,ConnectionRefused"
    bad = _fetchcli("-f", "table", "--fields", "url", *urls)
    assert bad.returncode == 2 and "--fields applies to json, jsonl, csv and tsv" in bad.stderr
    unknown = _fetchcli("--fields", "url,nope", *urls)
    assert unknown.returncode == 2 and "unknown field 'nope'" in unknown.stderr


@pytest.mark.parametrize("extension", [".json", ".jsonl", ".csv", ".tsv"])
def test_the_output_extension_chooses_the_format(server: LoopbackServer, tmp_path: Path, extension: str) -> None:
    target = tmp_path / f"results{extension}"
    assert _fetchcli("-o", str(target), server.url("/ok")).returncode == 0
    text = target.read_text()
    if extension == ".json":
        assert json.loads(text)[0]["status"] == 200
    elif extension == ".jsonl":
        assert json.loads(text.splitlines()[0])["status"] == 200
    else:
        assert text.startswith("schema_version" + ("," if extension == ".csv" else "\t"))
    assert _fetchcli("-f", "jsonl", "-o", str(target), server.url("/ok")).returncode == 0
    assert json.loads(target.read_text())["status"] == 200  # -f wins
