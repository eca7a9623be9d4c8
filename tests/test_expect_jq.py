"""Issue 22: ``--expect-jq EXPR``, a jq expression over the whole body parsed as JSON that must
yield ``true`` (at least one output, every output exactly ``true``). Judged in child processes
(the jq library holds the GIL), so a pathological expression neither freezes the run nor outlives
``--max-time``. Loopback servers serve the JSON (``/say?text=``); both backends."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from pathlib import Path

import pytest

from fetchcli.cli.app import main
from fetchcli.engine.jqcheck import JqChecks, compile_problem
from fetchcli.engine.jqchild import judge
from fetchcli.errortype import ErrorType
from fetchcli.settings import Backend, BodySettings, Settings, SuccessSettings
from tests.helpers import fetchcli_in_clean_env, run
from tests.server import running_server

jq = pytest.importorskip("jq")  # the [test] extra brings it


def _say(text: str) -> str:
    return "/say?" + urllib.parse.urlencode({"text": text})


def _errors(results: list[object]) -> list[tuple[bool, str | None, str | None]]:
    out = []
    for r in results:
        error = getattr(r, "error", None)
        out.append(
            (bool(getattr(r, "ok", False)), error.type.value if error else None, error.message if error else None)
        )
    return out


BODIES = [
    '{"status": "up", "n": [1, 2]}',  # passes
    '{"status": "down", "n": [1, 2]}',  # false
    "<html>down</html>",  # not JSON
    '"just a string"',  # a jq runtime error: .status on a string
    "",  # empty
    '{"status": "up"} {"status": "up"}',  # two documents: not one JSON body
    "\ufeff" + '{"status": "up", "n": [3]}',  # a UTF-8 BOM is ignored
]


@pytest.mark.live
def test_verdicts_on_json_bodies(backend: Backend) -> None:
    settings = Settings(success=SuccessSettings(expect_jq='.status == "up"'))
    with running_server() as server:
        results = run([server.url(_say(b)) for b in BODIES], settings, backend=backend)
        assert server.stats.requests == len(BODIES)
    verdicts = _errors(list(results))
    assert verdicts[0] == (True, None, None)
    assert verdicts[1] == (False, "ExpectFailed", "--expect-jq yielded false, not true")
    assert verdicts[2][:2] == (False, "ExpectFailed") and verdicts[2][2] is not None
    assert verdicts[2][2].startswith("the body is not JSON: Expecting value")
    assert verdicts[3][:2] == (False, "ExpectFailed") and verdicts[3][2] is not None
    assert verdicts[3][2].startswith("--expect-jq failed: jq error: Cannot index string with string")
    assert verdicts[4] == (False, "ExpectFailed", "the body is not JSON: it is empty")
    assert verdicts[5][:2] == (False, "ExpectFailed") and "Extra data" in (verdicts[5][2] or "")
    assert verdicts[6] == (True, None, None)
    assert all(r.status == 200 for r in results)  # the record keeps the status


@pytest.mark.live
def test_every_output_must_be_true(backend: Backend) -> None:
    body = '{"items": [{"ok": true}, {"ok": false}, {"ok": true}], "none": []}'
    cases = [".items[0:1][] | .ok", ".items[] | .ok", ".none[] | .ok", ".items | length", ".items[0].ok, true"]
    got = []
    with running_server() as server:
        for expression in cases:
            [result] = run(
                [server.url(_say(body))], Settings(success=SuccessSettings(expect_jq=expression)), backend=backend
            )
            got.append(result.error.message if result.error else None)
    assert got == [
        None,  # one output, true
        "--expect-jq yielded false (output 2), not true",  # jq -e would pass it: its last output is true
        "--expect-jq yielded nothing (it must yield true)",
        "--expect-jq yielded 3, not true",  # truthy for jq -e, not true here
        None,
    ]


@pytest.mark.live
def test_server_text_in_messages_is_cleaned_and_bounded(backend: Backend) -> None:
    evil = "\x1b[31mred\u202e" + "x" * 5000
    body = json.dumps({"msg": evil})
    with running_server() as server:
        results = run(
            [server.url(_say(body))] * 2,
            Settings(success=SuccessSettings(expect_jq="error(.msg)")),
            backend=backend,
        )
        [yielded] = run([server.url(_say(body))], Settings(success=SuccessSettings(expect_jq=".msg")), backend=backend)
    for result in (*results, yielded):
        assert result.error is not None and result.error.type == ErrorType.ExpectFailed
        message = result.error.message
        assert "\x1b" not in message and "\u202e" not in message and len(message) <= 300
        assert "red" in message


@pytest.mark.live
def test_a_body_cut_at_max_body_bytes_is_not_judged(backend: Backend) -> None:
    body = json.dumps({"status": "up", "pad": "x" * 200})
    settings = Settings(body=BodySettings(max_body_bytes=100), success=SuccessSettings(expect_jq='.status == "up"'))
    with running_server() as server:
        [cut] = run([server.url(_say(body))], settings, backend=backend)
        read_all = Settings(
            body=BodySettings(max_body_bytes=100, read_all=True), success=SuccessSettings(expect_jq='.status == "up"')
        )
        [whole_but_kept_short] = run([server.url(_say(body))], read_all, backend=backend)
    for result in (cut, whole_but_kept_short):
        assert result.error is not None and result.error.type == ErrorType.ExpectFailed
    assert cut.error is not None and whole_but_kept_short.error is not None
    assert cut.error.message.startswith("--expect-jq needs the whole body: it was cut at --max-body-bytes 100")
    assert whole_but_kept_short.error.message.startswith("--expect-jq needs the whole body: it is ")


def test_judge_reads_json_as_utf8() -> None:
    program = jq.compile(". == 1")
    assert judge(program, b"1") is None
    assert judge(program, b"\xef\xbb\xbf1") is None
    assert judge(program, b'"\xff"') == "the body is not JSON: not UTF-8 (byte 1)"
    assert judge(program, b"NaN") == "the body is not JSON: NaN is not JSON"
    assert judge(jq.compile(". > 0"), b"1" * 5000) is None  # no int-digit limit on validation
    assert (judge(program, b"[" * 100_000 + b"]" * 100_000) or "").startswith("the body is not JSON")


def test_a_compile_error_is_a_usage_error_before_anything_is_sent() -> None:
    assert compile_problem('.status == "up"') is None
    with running_server() as server:
        for expression in (".a |", "..a", "}"):
            done = fetchcli_in_clean_env("--expect-jq", expression, server.url("/ok"))
            assert done.returncode == 2, done.stderr
            assert done.stderr.startswith("fetchcli: error: --expect-jq does not compile: ")
            assert done.stderr.count("\n") == 1 and done.stdout == ""
        assert server.stats.requests == 0 and server.stats.accepted == 0


def test_without_the_jq_package_it_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "jq.py").write_text("raise ImportError('no jq here')\n")  # the compiling child's import jq fails
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    assert main(["--expect-jq", ".ok", "http://127.0.0.1:9/"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "fetchcli: error: --expect-jq needs the jq package: in fetchcli's clone, pip install '.[jq]' (or pip "
        "install jq into its environment)"
    ]


def test_the_config_file_and_dry_run(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("expect-jq = '.status == \"up\"'\n")
    done = fetchcli_in_clean_env("--config", str(config), "--dry-run", "http://127.0.0.1:9/")
    assert done.returncode == 0, done.stderr
    assert "jq '.status == \"up\"' yields true on the whole body as JSON" in done.stdout + done.stderr
    config.write_text("expect-jq = '.status =='\n")
    bad = fetchcli_in_clean_env("--config", str(config), "http://127.0.0.1:9/")
    assert bad.returncode == 2 and f"(from {config}: expect-jq)" in bad.stderr


@pytest.mark.live
@pytest.mark.parametrize("backend_name", ["aiohttp", "httpx"])
def test_the_command_line_and_workers(backend_name: str) -> None:
    with running_server() as server:
        urls = [server.url(_say('{"status": "up"}')), server.url(_say('{"status": "down"}'))] * 3
        done = fetchcli_in_clean_env(
            "--backend", backend_name, "--workers", "2", "-f", "jsonl", "--expect-jq", '.status == "up"', *urls
        )
        assert server.stats.requests == 6
    assert done.returncode == 1, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["ok"] for r in records] == [True, False] * 3
    assert {r["error"]["message"] for r in records if not r["ok"]} == {"--expect-jq yielded false, not true"}


def _children() -> set[int]:
    """Live jq child processes of any fetchcli (their command line carries jqchild's source)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"PR_SET_PDEATHSIG" in (entry / "cmdline").read_bytes():
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.live
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_a_pathological_expression_is_bounded_by_max_time() -> None:
    before = _children()
    with running_server() as server:
        urls = [server.url(_say("null")), server.url(_say("1"))]
        started = time.monotonic()
        done = fetchcli_in_clean_env(
            "--max-time", "3", "-f", "jsonl", "--expect-jq", "[range(1e9)] | length > 0", *urls
        )
        took = time.monotonic() - started
        loop = fetchcli_in_clean_env(
            "--max-time", "0", "--read-timeout", "2", "-f", "jsonl", "--expect-jq", "def f: f; f", urls[0]
        )
        stopped = fetchcli_in_clean_env(
            "--max-time", "0", "--read-timeout", "0", "--deadline", "3", "-f", "jsonl",
            "--expect-jq", "[range(1e9)] | length > 0", *urls,
        )  # fmt: skip
    assert took < 40  # a 1e9-element array would take minutes and gigabytes
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["status"], r["error"]["type"], r["error"]["message"]) for r in records] == [
        (200, "TotalTimeout", "gave up after --max-time 3 s (while --expect-jq ran)")
    ] * 2
    [record] = [json.loads(line) for line in loop.stdout.splitlines()]
    assert record["error"] == {"type": "ExpectFailed", "message": "--expect-jq did not finish within 2 s"}
    assert [(r["status"], r["error"]["type"]) for r in map(json.loads, stopped.stdout.splitlines())] == [
        (200, "Cancelled")
    ] * 2
    deadline = time.monotonic() + 20  # the killed children are gone
    while _children() - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _children() - before == set()


def test_the_event_loop_runs_while_jq_does_and_memory_is_limited() -> None:
    async def main() -> tuple[str | None, int, str | None]:
        checks = JqChecks("if . == null then [range(1e9)] | length > 0 else true end", 256 << 20)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        ticker = asyncio.create_task(tick())
        try:
            why = await checks.check(b"null", 100)  # memory runs out long before
            still = await checks.check(b"[]", 100)  # a new child answers the next check
        finally:
            ticker.cancel()
            checks.close()
        return why, ticks, still

    why, ticks, still = asyncio.run(main())
    assert why is not None and why.startswith("--expect-jq stopped without an answer (signal")
    assert "256 MiB" in why
    assert ticks >= 10  # a jq holding the GIL in this process would have let none run
    assert still is None


def test_checks_run_side_by_side_and_are_reused() -> None:
    async def main() -> list[str | None]:
        checks = JqChecks(". > 3", 256 << 20)
        try:
            return list(await asyncio.gather(*(checks.check(str(n).encode(), 60) for n in range(12))))
        finally:
            checks.close()

    assert asyncio.run(main()) == ["--expect-jq yielded false, not true"] * 4 + [None] * 8
