"""Review r4a (attacker) of JSON Lines input, --all-ips and --metrics: what was found, pinned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fetchcli.cli.app import app, main
from fetchcli.input.jsonl import MAX_LINE_BYTES, jsonl_item
from fetchcli.models import FetchResult
from fetchcli.output.metrics import MetricsCollector
from fetchcli.settings import Backend
from fetchcli.summary import Summary
from fetchcli.transport.addressmap import parse_resolve
from tests.server import running_server
from tests.test_all_ips import _run, servers_on
from tests.test_metrics import parse, per_url

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


@pytest.mark.parametrize("escape", ["\\ud800", "\\udc00\\ud800", "\\uDBFF x"])
def test_meta_with_a_lone_surrogate_is_invalid_input(escape: str) -> None:
    """jq refuses a record holding a lone surrogate, and stops there: every record after it lost."""
    item = jsonl_item('{"url": "h.example", "meta": {"id": 1, "s": "' + escape + '"}}', 0, 4)
    assert item is not None and item.error is not None and item.error.type == "InvalidInput"
    assert item.error.message.startswith("line 4: meta holds a lone surrogate") and item.meta is None
    paired = jsonl_item('{"url": "h.example", "meta": {"s": "\\ud83d\\ude00\\u00e9"}}', 0, 1)
    assert paired is not None and paired.error is None and paired.meta == '{"s":"\\ud83d\\ude00\\u00e9"}'


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"meta": {"id": 7}, "url": "h.example", "bogus": 1}', "unknown key 'bogus'"),
        ('{"meta": {"id": 7}, "url": "h.example", "url": "g.example"}', "url is given twice"),
        ('{"url": "h.example", "x": 1, "meta": {"id": 7}}', "unknown key 'x'"),
    ],
)
def test_a_bad_line_keeps_its_good_meta_whatever_the_order_of_its_keys(line: str, problem: str) -> None:
    """The module says a bad line's record still carries its meta, so that it joins back."""
    item = jsonl_item(line, 0, 2)
    assert item is not None and item.error is not None and item.error.type == "InvalidInput"
    assert item.error.message.startswith(f"line 2: {problem}")
    assert item.meta == '{"id":7}'
    twice = jsonl_item('{"url": "h.example", "meta": {"id": 1}, "meta": {"id": 2}}', 0, 3)
    assert twice is not None and twice.error is not None and "meta is given twice" in twice.error.message
    assert twice.meta is None  # which one? neither


@pytest.mark.live
def test_all_ips_probes_an_address_given_twice_by_resolve_once(backend: Backend) -> None:
    """The module says each address once; --resolve's list (written twice, or as two spellings
    of one IPv6 address) was taken as it came."""
    with servers_on("127.0.0.2") as (two,):
        given = f"site.test:{two.port}:127.0.0.2,127.0.0.2,[0:0::1],::1"
        resolve = (parse_resolve("--resolve", given),)
        records = _run([f"http://site.test:{two.port}/a"], backend, concurrency=1, resolve=resolve, all_ips=True)
        assert [r.remote_ip for r in records] == ["127.0.0.2", "::1"]
        assert two.hits == 1


@pytest.mark.parametrize("header", ["Content-Length: 5", "transfer-encoding: chunked"])
def test_a_framing_header_is_refused_before_anything_is_sent(
    header: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given by hand, Content-Length or Transfer-Encoding disagreed with the body sent: aiohttp cut
    the body to the length (the record said ok) or sent "chunked" over an unframed body, httpx
    refused with an Unexpected error; both sent the two headers together (RFC 9112 6.2)."""
    name, value = header.split(": ")
    with running_server() as server:
        url = server.url("/headers")
        assert main(["-f", "jsonl", "-H", header, "-d", "hello world", url]) == 2
        assert f"fetchcli: error: --header cannot set {name}" in capsys.readouterr().err
        lines = tmp_path / "in.jsonl"
        lines.write_text(json.dumps({"url": url, "headers": {name: value}, "data": "hello", "meta": {"id": 1}}) + "\n")
        result = CliRunner().invoke(app, ["-f", "jsonl", "-i", str(lines)])
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert [(r["error"]["type"], r["meta"]) for r in records] == [("InvalidInput", {"id": 1})]
        assert f"line 1: headers: cannot set {name}" in records[0]["error"]["message"]
        assert server.stats.requests == 0


def test_two_urls_whose_labels_are_written_alike_are_one_series() -> None:
    """An ESC (or U+202E) in a URL is written as the text of its escape, which another URL can
    hold as written: the file had the series twice, which node_exporter's collector rejects."""
    collector = MetricsCollector()
    collector.add(FetchResult(index=0, url="http://h.test/\x1b", ok=False))
    collector.add(FetchResult(index=1, url="http://h.test/\\x1b", ok=True, status=200))
    collector.add(FetchResult(index=2, url="http://h.test/\u202e", ok=True, status=200))
    collector.add(FetchResult(index=3, url="http://h.test/\\u202e", ok=False))
    text = collector.render(Summary(total=4, ok=2, failed=2), now=0.0)
    assert per_url(parse(text), "probe_success") == {"http://h.test/\\x1b": 1, "http://h.test/\\u202e": 0}


@pytest.mark.parametrize(
    ("body_flag", "output_flag"),
    [("-d", "-o"), ("--data-binary", "--metrics"), ("--json", "--summary-json"), ("--data", "--metrics")],
)
def test_an_output_that_is_a_body_file_is_refused(
    body_flag: str, output_flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-d @FILE is read as --input is, but was not in the inputs no output may be: the run wrote
    its records (or metrics, or summary) over the user's request body."""
    body = tmp_path / "payload.json"
    body.write_text('{"id": 1}\n')
    args = [output_flag, str(body), body_flag, f"@{tmp_path}/./payload.json", "http://127.0.0.1:9/"]
    assert main(["-f", "jsonl", *args]) == 2
    err = capsys.readouterr().err
    named = "--output" if output_flag == "-o" else output_flag
    assert err.startswith(f"fetchcli: error: {named} ") and "writing would destroy what is read" in err
    assert body.read_text() == '{"id": 1}\n'


def test_a_raw_control_character_is_named_once() -> None:
    item = jsonl_item('{"url": "h.example", "meta": {"s": "a\tb"}}', 0, 1)
    assert item is not None and item.error is not None
    assert item.error.message == "line 1: not JSON: Invalid control character at column 38"
