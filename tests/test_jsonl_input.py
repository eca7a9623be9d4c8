"""Issue 22: per-URL requests from JSON Lines input (``-i FILE.jsonl``, ``--input-format``).

Each line ``{"url", "method"?, "headers"?, "data"?, "json"?, "meta"?}`` is one record; its own
method, headers and body are what a loopback server receives (both backends, and with
``--workers``); its ``meta`` comes back in the record as written; a bad line is an
``InvalidInput`` record naming its line; ``--resume``, ``--shard`` and ``--unique`` work on it."""

from __future__ import annotations

import io
import itertools
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fetchcli.cli.app import app
from fetchcli.input.jsonl import MAX_META_BYTES, iter_jsonl_items, jsonl_item
from fetchcli.input.readers import Inputs
from fetchcli.settings import Backend, InputFormat
from tests.helpers import fetchcli_in_clean_env
from tests.server import LoopbackServer, running_server


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg, unused-ignore]
    except TypeError:
        return CliRunner()


runner = _runner()


def _run(*args: str, stdin: str | None = None) -> tuple[int, list[dict[str, Any]], str]:
    result = runner.invoke(app, ["-f", "jsonl", *args], input=stdin)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, records, result.stdout


def _write(path: Path, *lines: str | dict[str, Any]) -> Path:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
    return path


# -- the lines ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "line 7: not JSON: Expecting value at column 1"),
        ("# a comment", "line 7: not JSON"),
        ("[1, 2]", "line 7: a JSON object is needed, not an array"),
        ('{"method": "GET"}', "line 7: no url"),
        ('{"url": 5}', "line 7: url must be a string"),
        ('{"url": "a.example", "uri": 1}', "line 7: unknown key 'uri': the keys are url, method, headers"),
        ('{"url": "a.example", "url": "b.example"}', "line 7: url is given twice"),
        ('{"url": "a.example", "method": "G T"}', "line 7: method must be an HTTP method token"),
        ('{"url": "a.example", "headers": ["X: 1"]}', "line 7: headers must be an object"),
        ('{"url": "a.example", "headers": {"X": 1}}', "line 7: headers 'X' must be a string"),
        ('{"url": "a.example", "headers": {"Bad Name": "1"}}', "line 7: headers: has an invalid header name"),
        ('{"url": "a.example", "headers": {"X": "a\\r\\nEvil: 1"}}', "must not contain control characters"),
        ('{"url": "a.example", "headers": {"Proxy-Authorization": "x"}}', "Proxy-Authorization is the run's"),
        ('{"url": "a.example", "data": "a", "json": 1}', "line 7: data and json cannot both be given"),
        ('{"url": "a.example", "data": 1}', "line 7: data must be a string"),
        ('{"url": "a.example", "meta": [1]}', "line 7: meta must be an object"),
        ('{"url": "a.example", "meta": {"x": NaN}}', "line 7: not JSON: NaN is not JSON"),
        ('{"url": "a.example",}', "line 7: not JSON: Expecting property name"),
        ('{"url": "a\\ud800"}', "line 7: url holds a lone surrogate"),
        ('{"url": "http://h/\udcff"}', "line 7: not valid UTF-8 (byte 0xff)"),
    ],
)
def test_a_bad_line_is_an_invalid_input_item_naming_its_line(line: str, problem: str) -> None:
    item = jsonl_item(line, 3, 7)
    assert item is not None and item.url is None and item.error is not None
    assert item.error.type == "InvalidInput"
    assert problem in item.error.message
    assert item.index == 3


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ('{"url": "http://u:pw@h/x", "headers": {"Authorization": "Bearer S"},}', "http://u:***@h/x"),
        ('{"headers": {"Authorization": "Bearer S", "X-A": "v"}, "data": "pw=1"', '{"headers": {"Authorization": "***", "X-A": "v"}, "data": "***"'),
        ('{"url": 5, "headers": {"X-Api-Key": "S"}}', '{"url": 5, "headers": {"X-Api-Key": "***"}}'),
        # '@' written as an escape is an '@' to the JSON's reader (review r9a)
        ('{"url": "http://u:pw\\u0040h/x",}', "http://u:***@h/x"),
        ('{"url": "http://u:pw\\u0040h/\\q",}', "http://***"),
        # a torn line (its url string does not end): escapes read too (review r10u)
        ('{"url": "http://u:pw\\u0040h/', '{"url": "http://u:***@h/'),
        ('{"meta": 1, "url": "http://u:pw\\u0040h/', '{"meta": 1, "url": "http://u:***@h/'),
        ('{"url": "http://u:pw\\u00', '{"url": "http://***'),
        ('{"url": "http://user:secr', '{"url": "http://***'),
        # names and keys written with escapes are read before masking (review r11a)
        ('{"url": 5, "headers": {"Author\\u0069zation": "Bearer TOKEN"}}', '{"url": 5, "headers": {"Author\\u0069zation": "***"}}'),
        ('{"\\u0075rl": "http://u:SECRET\\u0040h/", oops}', '{"\\u0075rl": "http://u:***@h/", oops}'),
        ('{"d\\u0061ta": "pw=1", "url": 5}', '{"d\\u0061ta": "***", "url": 5}'),
        ('{"url": 5, "json": "S"}', '{"url": 5, "json": "***"}'),  # a body, as data's (review r12a)
    ],
)  # fmt: skip
def test_a_bad_line_shows_its_url_or_the_line_with_secrets_masked(line: str, shown: str) -> None:
    item = jsonl_item(line, 0, 1)
    assert item is not None and item.error is not None
    assert item.display_url == shown


def test_meta_is_kept_as_written_and_capped() -> None:
    line = '{"url": "a.example", "meta": {"z": 1.10, "a": [123456789012345678901234567890, "\\u00e9\\n"], "e": 1E+2}}'
    item = jsonl_item(line, 0, 1)
    assert item is not None and item.error is None
    assert item.meta == '{"z":1.10,"a":[123456789012345678901234567890,"\\u00e9\\n"],"e":1E+2}'
    big = json.dumps({"url": "a.example", "meta": {"k": "x" * MAX_META_BYTES}})
    over = jsonl_item(big, 0, 2)
    assert over is not None and over.error is not None and over.error.type == "InvalidInput"
    assert "meta is 4,104 bytes of compact JSON, more than 4,096" in over.error.message
    # a bad URL keeps its meta, so that its record joins back
    bad_url = jsonl_item('{"url": "ftp://x", "meta": {"id": 9}}', 0, 3)
    assert bad_url is not None and bad_url.error is not None and bad_url.error.type == "InvalidURL"
    assert bad_url.error.message.startswith("line 3: ") and bad_url.meta == '{"id":9}'


def test_blank_lines_take_no_index_and_every_other_line_one(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'{"url": "a.example"}\n\n   \n\xef\xbb\xbf{"url": "b.example"}\r\n# no comments\n{"url": "c.example"}'
    )
    inputs = Inputs([], [str(path)], io.BytesIO(), True, [])
    assert inputs.count() == 4
    items = list(inputs.items())
    assert [(i.index, i.url) for i in items] == [
        (0, "https://a.example"),
        (1, "https://b.example"),
        (2, None),
        (3, "https://c.example"),
    ]
    assert items[2].error is not None and items[2].error.message.startswith("line 5: ")


def test_stdin_is_text_unless_the_flag_says_jsonl(tmp_path: Path) -> None:
    data = b'{"url": "a.example", "meta": {"id": 1}}\n'
    as_text = list(Inputs([], ["-"], io.BytesIO(data), False, []).items())
    assert as_text[0].error is not None and as_text[0].error.type == "InvalidURL"
    as_jsonl = list(Inputs([], ["-"], io.BytesIO(data), False, [], InputFormat.jsonl).items())
    assert as_jsonl[0].url == "https://a.example" and as_jsonl[0].meta == '{"id":1}'
    named = _write(tmp_path / "urls.jsonl", "a.example")  # --input-format text: the name does not count
    assert next(Inputs([], [str(named)], io.BytesIO(), True, [], InputFormat.text).items()).url == "https://a.example"


def test_a_line_over_a_mebibyte_is_one_invalid_record(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"url": "a.example", "data": "x" * (1 << 20)}) + "\n" + '{"url": "b.example"}\n')
    items = list(Inputs([], [str(path)], io.BytesIO(), True, []).items())
    assert len(items) == 2
    assert items[0].error is not None and "line 1: longer than 1,048,576 bytes" in items[0].error.message
    assert items[1].url == "https://b.example" and items[1].index == 1


# -- what is sent ------------------------------------------------------------------------------


def _sent(server: LoopbackServer) -> list[tuple[str, str, dict[str, str], bytes]]:
    return sorted(server.stats.bodies, key=lambda x: x[1])


@pytest.mark.live
def test_each_line_sends_its_own_method_headers_and_body(backend: Backend, tmp_path: Path) -> None:
    with running_server() as server:
        path = _write(
            tmp_path / "requests.jsonl",
            {"url": server.url("/headers?put"), "method": "put", "headers": {"X-Id": "7", "accept": "text/x"}},
            '{"url": "URL", "json": {"n": 1.50, "s": "é"}, "meta": {"id": "j"}}'.replace(
                "URL", server.url("/method?json")
            ),
            {"url": server.url("/method?data"), "data": "a=1&b=é", "headers": {"Content-Type": "text/plain"}},
            {"url": server.url("/method?run"), "meta": {"id": "r"}},
            {"url": server.url("/headers?get"), "method": "GET"},
        )
        code, records, _ = _run("--backend", backend.value, "-H", "X-Run: 1", "-d", "z=9", "-i", str(path))
        assert code == 0, records
        assert [r["method"] for r in records] == ["PUT", "POST", "POST", "POST", "GET"]
        assert [r["meta"] for r in records] == [None, {"id": "j"}, None, {"id": "r"}, None]
        form = "application/x-www-form-urlencoded"
        got = {target: (method, headers, body) for method, target, headers, body in server.stats.bodies}
        # -X and the run's body kept where the line says nothing; the line's header replaces the run's
        assert got["/headers?put"][0] == "PUT" and got["/headers?put"][2] == b"z=9"
        assert got["/headers?put"][1]["x-id"] == "7" and got["/headers?put"][1]["accept"] == "text/x"
        assert got["/headers?put"][1]["x-run"] == "1" and got["/headers?put"][1]["content-type"] == form
        method, headers, body = got["/method?json"]
        assert (method, body) == ("POST", '{"n":1.50,"s":"é"}'.encode())
        assert (headers["content-type"], headers["accept"]) == ("application/json", "application/json")
        method, headers, body = got["/method?data"]
        assert (method, headers["content-type"], body) == ("POST", "text/plain", "a=1&b=é".encode())
        assert got["/method?run"][0] == "POST" and got["/method?run"][2] == b"z=9"
        assert got["/headers?get"][0] == "GET" and got["/headers?get"][2] == b"z=9"  # -X GET -d: curl's way


@pytest.mark.live
def test_retries_follow_the_lines_method(backend: Backend, tmp_path: Path) -> None:
    with running_server() as server:
        path = _write(
            tmp_path / "retry.jsonl",
            {"url": server.url(f"/fail/put-{backend.value}/1"), "method": "PUT", "data": "x"},
            {"url": server.url(f"/fail/post-{backend.value}/1"), "data": "x"},
        )
        _, records, _ = _run("--backend", backend.value, "--retries", "2", "--retry-backoff", "0", "-i", str(path))
        assert [(r["method"], r["status"], r["attempts"]) for r in records] == [("PUT", 200, 2), ("POST", 503, 1)]
        again = _write(tmp_path / "again.txt", {"url": server.url(f"/fail/post2-{backend.value}/1"), "data": "x"})
        _, records, _ = _run(
            "--backend", backend.value, "--retries", "2", "--retry-backoff", "0", "--retry-all-methods",
            "--input-format", "jsonl", "-i", str(again),
        )  # fmt: skip
        assert [(r["method"], r["status"], r["attempts"]) for r in records] == [("POST", 200, 2)]


@pytest.mark.live
def test_workers_send_each_lines_request(tmp_path: Path) -> None:
    with running_server() as server:
        lines = [{"url": server.url(f"/method?{n}"), "json": {"n": n}, "meta": {"id": n}} for n in range(20)]
        path = _write(tmp_path / "w.jsonl", *lines)
        code, records, _ = _run("--workers", "2", "-i", str(path))
        assert code == 0
        assert [r["meta"] for r in records] == [{"id": n} for n in range(20)]
        assert sorted((t, b) for _, t, _, b in server.stats.bodies) == sorted(
            (f"/method?{n}", json.dumps({"n": n}, separators=(",", ":")).encode()) for n in range(20)
        )


# -- selection ---------------------------------------------------------------------------------


@pytest.mark.live
def test_unique_keeps_each_request_once_and_shard_splits_by_url(tmp_path: Path) -> None:
    with running_server() as server:
        a, b = server.url("/method?a"), server.url("/method?b")
        path = _write(
            tmp_path / "u.jsonl",
            {"url": a, "meta": {"i": 0}},
            {"url": a, "meta": {"i": 1}},  # the same request: left out
            {"url": a, "data": "1", "meta": {"i": 2}},
            {"url": a, "data": "2", "meta": {"i": 3}},  # another body: kept
            {"url": a, "data": "2", "meta": {"i": 4}},  # the same again: left out
            {"url": a, "method": "PUT", "data": "2", "meta": {"i": 5}},
            {"url": b, "meta": {"i": 6}},
        )
        _, records, _ = _run("--unique", "-i", str(path))
        assert [r["meta"]["i"] for r in records] == [0, 2, 3, 5, 6]
        shards = [_run("--shard", f"{k}/2", "-i", str(path))[1] for k in (1, 2)]
        indexes = [sorted(r["index"] for r in shard) for shard in shards]
        assert sorted(indexes[0] + indexes[1]) == list(range(7))
        by_url = [{r["url"] for r in shard} for shard in shards]
        assert not by_url[0] & by_url[1]  # one URL, one shard, whatever its body


@pytest.mark.live
def test_resume_carries_on_a_jsonl_input(tmp_path: Path) -> None:
    with running_server() as server:
        lines: list[str | dict[str, Any]] = [{"url": server.url(f"/ok/{n}"), "meta": {"id": n}} for n in range(3)]
        path = _write(tmp_path / "r.jsonl", *lines, "oops")
        out = tmp_path / "out.jsonl"
        code, _, _ = _run("-o", str(out), "-i", str(path))
        assert code == 1  # the bad line
        first = server.stats.requests
        _write(path, *lines, "oops", {"url": server.url("/ok/9"), "meta": {"id": 9}})
        result = runner.invoke(app, ["--resume", str(out), "-i", str(path)])
        assert result.exit_code == 1, result.stderr
        assert server.stats.requests == first + 1  # only the new line
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert sorted((r["index"], json.dumps(r["meta"])) for r in records) == [
            (0, '{"id": 0}'),
            (1, '{"id": 1}'),
            (2, '{"id": 2}'),
            (3, "null"),
            (4, '{"id": 9}'),
        ]


# -- outputs -----------------------------------------------------------------------------------


def test_dry_run_shows_each_lines_method_and_body_length(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "d.jsonl",
        {"url": "http://127.0.0.1:9/a", "json": {"k": "v"}},
        {"url": "http://127.0.0.1:9/b", "method": "DELETE", "headers": {"X-A": "1"}},
        {"url": "http://127.0.0.1:9/c"},
        "[]",
    )
    result = runner.invoke(app, ["--dry-run", "-X", "PUT", "-i", str(path)])
    assert result.exit_code == 1
    assert f"-i {path} (JSON Lines) (from --input)\n" in result.stdout
    assert "     0  http://127.0.0.1:9/a  (PUT, a 9-byte body)\n" in result.stdout
    assert "     1  http://127.0.0.1:9/b  (DELETE, 1 header of its own)\n" in result.stdout
    assert "     2  http://127.0.0.1:9/c\n" in result.stdout
    assert "     3  []  -> InvalidInput: line 4: a JSON object is needed, not an array\n" in result.stdout


def test_csv_carries_meta_last_and_cleaned_and_the_json_array_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"url": "ftp://x", "meta": {"n": 1.10, "t": "a\u202eb", "e": "\\u001b[2J"}}\n', encoding="utf-8")
    result = runner.invoke(app, ["-f", "csv", "-i", str(path)])
    header, row = result.stdout.splitlines()
    # meta after method; then the fields of --state (issue 21), empty without it
    state = ",not_modified,change.kind,change.fields,change.previous,change.transition,consecutive_failures"
    assert header.endswith(",method,saved_path,meta" + state)
    assert row.endswith(',"{""n"":1.10,""t"":""a\\u202eb"",""e"":""\\u001b[2J""}"' + "," * 6)
    assert "\u202e" not in result.stdout and "\x1b" not in result.stdout
    as_json = runner.invoke(app, ["-f", "json", "--fields", "meta,index", "-i", str(path)]).stdout
    assert as_json == '[\n  {"meta": {"n":1.10,"t":"a\\u202eb","e":"\\u001b[2J"}, "index": 0}\n]\n'  # ASCII, as JSON is
    assert json.loads(as_json)[0]["meta"] == {"n": 1.1, "t": "a\u202eb", "e": "\x1b[2J"}


# -- the proof at scale ------------------------------------------------------------------------

JQ = shutil.which("jq")


@pytest.mark.slow
@pytest.mark.live
@pytest.mark.skipif(JQ is None, reason="jq is not installed (.ci/run installs it)")
def test_ten_thousand_lines_one_record_each_and_meta_round_trips_through_jq(tmp_path: Path) -> None:
    """10,000 lines, a few malformed: exactly one record a line, and for every line with a good
    meta, ``jq -c .meta`` of its record prints what ``jq -c .meta`` of the line prints, byte for
    byte (and the record holds the line's meta text itself, its whitespace taken out)."""
    assert JQ is not None
    bad = {17: "not json", 999: '{"url": 1, "meta": {"id": 999}}', 5000: '{"url": "x.example", "bogus": true}',
           7777: "[]", 9998: '{"url": "http://127.0.0.1:1/", "meta": {"too": "' + "x" * 5000 + '"}}'}  # fmt: skip
    with running_server() as server:
        lines, metas = [], []
        for n in range(10_000):
            meta = (
                f'{{"id": {n}, "f": 1.10, "big": 123456789012345678901234567890{n}, "neg": -0.0, "e": 2.5E-3,'
                f' "s": "caf\\u00e9 \\"{n}\\" \u00e9\\ud83d\\ude00 a, b: c", "nested": {{"z": [1, {{"b": null, "a": true}}], "": {{}}}}}}'
            )
            lines.append(bad.get(n, f'{{"meta": {meta}, "url": "{server.url(f"/ok/{n % 50}")}"}}'))
            if n not in bad:
                metas.append((n, meta))
            elif n == 999:  # a line with a bad url keeps its good meta: its record joins back
                metas.append((n, '{"id": 999}'))
        lines.insert(500, "")  # blank lines: skipped, no index
        lines.insert(2000, "   ")
        path = tmp_path / "big.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = tmp_path / "out.jsonl"
        done = fetchcli_in_clean_env("-c", "50", "-o", str(out), "-i", str(path))
        assert done.returncode == 1, done.stderr  # the bad lines
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["index"] for r in records) == list(range(10_000))
    invalid = {r["index"]: r["error"]["type"] for r in records if r["error"] is not None}
    assert invalid == {17: "InvalidInput", 999: "InvalidInput", 5000: "InvalidInput", 7777: "InvalidInput",
                       9998: "InvalidInput"}  # fmt: skip
    expected_jq = subprocess.run(
        [JQ, "-c", ".meta"], input="".join(f'{{"meta": {meta}}}\n' for _, meta in metas),
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    got_jq = subprocess.run(
        [JQ, "-c", "select(.meta != null) | .meta"], input="".join(sorted(
            out.read_text(encoding="utf-8").splitlines(keepends=True), key=lambda line: json.loads(line)["index"]
        )), capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    assert got_jq.encode() == expected_jq.encode()
    assert len(got_jq.splitlines()) == len(metas) == 9_996
    # the record's own text: the input's meta as written, whitespace between tokens out, ASCII
    raw = {json.loads(line)["index"]: line for line in out.read_text(encoding="utf-8").splitlines()}
    n, meta = metas[1234]
    compact = meta.replace(", ", ",").replace(": ", ":").replace("a,b:c", "a, b: c")  # not inside the string
    compact = compact.replace("\u00e9", "\\u00e9")  # a character outside ASCII as its escape
    assert f'"meta": {compact}, "not_modified": null' in raw[n]  # the fields of --state (issue 21) follow


@pytest.mark.live
def test_both_backends_send_the_same_request_for_each_line(tmp_path: Path) -> None:
    """A differential case: every line's request as the server received it (method, target,
    headers, body) is the same from aiohttp and httpx."""
    seen: dict[str, list[tuple[str, str, list[tuple[str, str]], bytes]]] = {}
    with running_server() as server:
        path = _write(
            tmp_path / "diff.jsonl",
            {"url": server.url("/method?1"), "method": "PATCH", "headers": {"X-A": "1", "x-b": "é"}, "data": "d"},
            {"url": server.url("/method?2"), "json": [1, {"k": None}], "headers": {"Accept": "text/plain"}},
            {"url": server.url("/method?3"), "data": "", "headers": {"User-Agent": "mine", "Host": "other.example"}},
            {"url": server.url("/method?4")},
        )
        for backend in (Backend.aiohttp, Backend.httpx):
            server.stats.bodies.clear()
            code, records, _ = _run("--backend", backend.value, "--json", '{"run": 1}', "-i", str(path))
            assert code == 0 and len(records) == 4, [(r["status"], r["error"]) for r in records]
            seen[backend.value] = sorted((m, t, sorted(h.items()), b) for m, t, h, b in server.stats.bodies)
    assert seen["aiohttp"] == seen["httpx"]
    assert ("x-b", "é".encode().decode("latin-1")) in seen["httpx"][0][2]  # sent as UTF-8, as -H values are
    assert [(m, t, b) for m, t, _, b in seen["httpx"]] == [
        ("PATCH", "/method?1", b"d"),
        ("POST", "/method?2", b'[1,{"k":null}]'),
        ("POST", "/method?4", b'{"run": 1}'),
    ]  # an empty data is a body of 0 bytes: not recorded by the server


def test_a_jsonl_input_is_read_lazily() -> None:
    def endless() -> Iterator[str]:
        n = 0
        while True:
            yield json.dumps({"url": f"a{n}.example", "meta": {"n": n}})
            n += 1

    first = list(itertools.islice(iter_jsonl_items(endless()), 5))
    assert [item.meta for item in first] == [f'{{"n":{n}}}' for n in range(5)]


@pytest.mark.live
def test_a_lines_secret_header_is_masked_in_what_the_server_echoes(backend: Backend, tmp_path: Path) -> None:
    """As a secret -H is: a server that echoes the request (/headers) shows *** for the value
    of the line's Authorization, and the server did receive it."""
    with running_server() as server:
        path = _write(
            tmp_path / "s.jsonl",
            {"url": server.url("/headers?secret"), "headers": {"Authorization": "Bearer line-token-42"}},
        )
        code, records, out = _run("--backend", backend.value, "--snippet-length", "2000", "-i", str(path))
        assert code == 0
        assert server.stats.headers_seen["/headers?secret"]["authorization"] == "Bearer line-token-42"
        assert "line-token-42" not in out and "Authorization: ***" in records[0]["snippet"]
