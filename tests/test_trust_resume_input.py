"""Review of issue 18, findings 3, 4 and 12: a ``--resume`` file is input, and untrusted. A file
recording another URL at an index than the input's (also beside the right one), or a record
fetchcli never writes (an error type outside its vocabulary, a status outside 100-599, a time
that is NaN, infinite, negative or 300 digits long), is a usage error naming its line, before
anything is fetched; the line limit does not grow without bound with the settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fetchcli.errortype import ErrorType
from fetchcli.input.resume import ResumeFile
from fetchcli.models import ErrorInfo, FetchResult
from fetchcli.settings import Backend, SettingsError
from tests.server import LoopbackServer

FETCHCLI = [sys.executable, "-m", "fetchcli"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FETCHCLI, *args], capture_output=True, text=True, timeout=60)


def _write(path: Path, records: list[dict[str, Any]]) -> bytes:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path.read_bytes()


def _record(index: int, url: str, **fields: Any) -> dict[str, Any]:
    return {"schema_version": 1, "index": index, "url": url, "ok": True, "status": 200, "elapsed_ms": 1.0,
            "attempts": 1, **fields}  # fmt: skip


# Finding 3: one index, another URL ----------------------------------------------------------------


@pytest.mark.parametrize("evil_first", [False, True], ids=["evil-last", "evil-first"])
def test_an_index_recorded_with_two_urls_is_refused_before_any_fetch(
    server: LoopbackServer, tmp_path: Path, backend: Backend, evil_first: bool
) -> None:
    """Index 0 recorded twice: the input's URL (a 404) and another (ok). The check once looked
    only for the input's URL among the recorded: the run hid the 404, exited 0, and compacting
    kept the other URL, which the next run refused."""
    urls = [server.url(f"/status/404?dup-{backend.value}"), server.url("/ok/dup-b"), server.url("/ok/dup-c")]
    mine = _record(0, urls[0], ok=False, status=404)
    evil = _record(0, server.url("/EVIL"))
    records = [evil, mine] if evil_first else [mine, evil]
    results = tmp_path / "r.jsonl"
    before = _write(results, [*records, _record(1, urls[1]), _record(2, urls[2])])
    requests = server.stats.requests
    done = _run("--backend", backend.value, "--resume", str(results), "--resume-failed", *urls)
    assert done.returncode == 2, done.stderr  # before: 0, the 404 hidden
    assert done.stderr.startswith(f"fetchcli: error: --resume line 2 of {results} records another URL at index 0")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert server.stats.requests == requests  # nothing fetched
    assert results.read_bytes() == before  # nothing appended, nothing compacted


def test_another_url_at_an_index_names_its_line(server: LoopbackServer, tmp_path: Path) -> None:
    results = tmp_path / "r.jsonl"
    urls = [server.url("/ok/line-a"), server.url("/ok/line-b")]
    before = _write(results, [_record(0, urls[0]), _record(1, server.url("/EVIL"))])
    done = _run("--resume", str(results), *urls)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"fetchcli: error: --resume {results} records another URL at index 1 (line 2)")
    assert results.read_bytes() == before


# Finding 4: records fetchcli never writes ---------------------------------------------------------

CRAFTED = {
    "escape-type": ('"error": {"type": "\\u001b]0;pwned\\u0007\\u001b[2J", "message": "x"}', "error"),
    "long-type": ('"error": {"type": "' + "A" * 100_000 + '", "message": "x"}', "error"),
    "type-not-a-string": ('"error": {"type": 7, "message": "x"}', "error"),
    "error-a-string": ('"error": "oops"', "error"),
    "nan": ('"elapsed_ms": NaN', "elapsed_ms"),
    "infinity": ('"elapsed_ms": Infinity', "elapsed_ms"),
    "overflow": ('"elapsed_ms": 1e999', "elapsed_ms"),
    "negative": ('"elapsed_ms": -1e+308', "elapsed_ms"),
    "300-digits": ('"elapsed_ms": 1' + "0" * 300, "elapsed_ms"),
    "string-time": ('"elapsed_ms": "fast"', "elapsed_ms"),
    "bool-time": ('"elapsed_ms": true', "elapsed_ms"),
    "queued-nan": ('"queued_ms": NaN', "queued_ms"),
    "queued-negative": ('"queued_ms": -1', "queued_ms"),
    "huge-status": ('"status": 1000000000000000000000000000000', "status"),
    "status-600": ('"status": 600', "status"),
    "status-99": ('"status": 99', "status"),
    "string-status": ('"status": "200"', "status"),
    "float-status": ('"status": 200.0', "status"),
    "string-attempts": ('"attempts": "many"', "attempts"),
    "negative-attempts": ('"attempts": -1', "attempts"),
}


def _crafted(path: Path, fields: str, urls: tuple[str, str] = ("http://127.0.0.1:9/a", "http://127.0.0.1:9/b")) -> None:
    """Line 1 a crafted record of ``urls[0]`` with ``fields``, line 2 a good record of ``urls[1]``."""
    good = json.dumps(_record(1, urls[1]))
    path.write_text(f'{{"schema_version": 1, "index": 0, "url": "{urls[0]}", "ok": false, {fields}}}\n{good}\n')


@pytest.mark.parametrize(("fields", "named"), list(CRAFTED.values()), ids=list(CRAFTED))
def test_a_record_fetchcli_never_writes_is_a_usage_error_naming_its_line(
    tmp_path: Path, fields: str, named: str
) -> None:
    path = tmp_path / "r.jsonl"
    _crafted(path, fields)
    with pytest.raises(SettingsError) as caught:
        ResumeFile.load(str(path), urls=2)
    message = str(caught.value)
    assert message.startswith(f"--resume line 1 of {path} has ") and named in message
    assert len(message) < 300 and message.isprintable()  # nothing of the crafted text


@pytest.mark.parametrize("name", ["escape-type", "nan", "negative", "huge-status"])
def test_a_crafted_file_reaches_neither_the_summary_nor_the_summary_json(
    server: LoopbackServer, tmp_path: Path, name: str
) -> None:
    """Before: ``failed (1 ^[]0;pwned^G^[[2J)`` raw on stderr, ``p50 nan ms``, a 300-digit p95,
    a ``1000...0xx`` status class, and NaN/Infinity in --summary-json."""
    path, summary_json = tmp_path / "r.jsonl", tmp_path / "s.json"
    urls = (server.url("/ok/crafted-a"), server.url("/ok/crafted-b"))
    _crafted(path, CRAFTED[name][0], urls)
    requests = server.stats.requests
    done = _run("--resume", str(path), "--summary", "--summary-json", str(summary_json), *urls)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"fetchcli: error: --resume line 1 of {path} has ")
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr and "nan" not in done.stderr
    assert server.stats.requests == requests and not summary_json.exists()


def test_every_record_fetchcli_writes_is_read_back(tmp_path: Path) -> None:
    """The checks refuse nothing fetchcli writes: a record of every error type, every status
    class, no times, zero times, and long ones."""
    path = tmp_path / "r.jsonl"
    records = [FetchResult(0, "http://h/0", True, status=200, elapsed_ms=0.0, queued_ms=0.0, attempts=1)]
    for etype in ErrorType:
        records.append(FetchResult(len(records), f"http://h/{len(records)}", False, error=ErrorInfo(etype, "m")))
    for status in (100, 204, 301, 404, 503, 599):
        records.append(
            FetchResult(len(records), f"http://h/{len(records)}", False, status=status, elapsed_ms=9e8, attempts=3)
        )
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in records))
    loaded = ResumeFile.load(str(path), urls=len(records))
    assert loaded.records == len(records)
    earlier = loaded.earlier
    assert earlier.total == len(records) - 2  # Cancelled and NotStarted are fetched again
    assert all(json.dumps(v, allow_nan=False) for v in earlier.to_dict().values())


# Finding 12: the line limit is bounded whatever the settings ---------------------------------------


def test_the_line_limit_does_not_grow_without_bound_with_the_settings() -> None:
    """Before: ``--max-redirects 100000000`` let a line of 9.8 TB be read, and a huge
    ``--snippet-length`` as much; the snippet comes from at most --max-body-bytes anyway."""
    from fetchcli.input.resumelines import record_line_limit

    default = record_line_limit()
    assert record_line_limit(max_redirects=10**8) < 64 << 20
    assert record_line_limit(snippet_length=10**12, max_body_bytes=10**12) < 64 << 20
    assert record_line_limit(10**12, 10**8, 10**12) < 64 << 20
    assert record_line_limit(snippet_length=10**9) <= default + 12 * 3 * 65536  # by the 64 KiB body
    assert record_line_limit(snippet_length=10**9, max_body_bytes=0) == record_line_limit(snippet_length=0)


def test_a_line_past_the_bounded_limit_is_refused_from_the_command_line(tmp_path: Path) -> None:
    """With every setting huge, a line of 48 MiB (past the bound) is refused, not read whole."""
    path = tmp_path / "r.jsonl"
    with path.open("w") as f:
        f.write('{"schema_version": 1, "index": 0, "url": "http://127.0.0.1:9/", "ok": true, "snippet": "')
        chunk = "x" * (1 << 20)
        for _ in range(48):
            f.write(chunk)
        f.write('"}\n')
    huge = ["--max-redirects", "100000000", "--snippet-length", "1000000000", "--max-body-bytes", "1000000000000"]
    done = _run("--resume", str(path), *huge, "http://127.0.0.1:9/")
    assert done.returncode == 2, done.stderr
    assert f"--resume line 1 of {path} is longer than" in done.stderr


@pytest.mark.parametrize(("snippet_length", "max_body_bytes"), [(10**9, 100), (1 << 20, 10**9)])
def test_the_largest_record_fits_the_bounded_limit(snippet_length: int, max_body_bytes: int) -> None:
    """The bound still takes every record fetchcli writes with such settings: the snippet at its
    longest (3 characters a body byte, each the worst to escape), 256 redirects of URLs at
    their longest."""
    from fetchcli.input.resumelines import record_line_limit
    from fetchcli.models import Redirect
    from fetchcli.urls import MAX_URL_LENGTH

    url = "http://h/" + "\U0001f600" * (MAX_URL_LENGTH - 9)
    snippet = "\U0001f600" * min(snippet_length, 3 * max_body_bytes)
    record = FetchResult(0, url, True, final_url=url, redirects=tuple(Redirect(url, 301) for _ in range(256)),
                         snippet=snippet)  # fmt: skip
    limit = record_line_limit(snippet_length, 10**6, max_body_bytes)
    assert len(json.dumps(record.to_dict()).encode()) < limit
