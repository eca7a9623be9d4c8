"""The command line, through Typer's CliRunner and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fetchcli import __version__
from fetchcli.cli.app import app, main
from fetchcli.cli.status import ExitStatus
from tests.server import LoopbackServer


def _runner() -> CliRunner:
    """stdout alone: Click before 8.2 mixes stderr into it unless told not to."""
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg, unused-ignore]
    except TypeError:  # Click 8.2 and later: always separate, and no such argument
        return CliRunner()


runner = _runner()


def fetchcli_process(*args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fetchcli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "120"},
    )


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"fetchcli {__version__}"


def test_all_ok_exits_0_and_jsonl_parses(server: LoopbackServer) -> None:
    result = runner.invoke(app, [server.url("/ok/1"), server.url("/ok/2")])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["index"] for r in records] == [0, 1]
    assert all(r["ok"] and r["status"] == 200 for r in records)
    expected = {
        "schema_version", "index", "url", "ok", "status", "reason", "http_version", "final_url", "elapsed_ms", "content_type",
        "content_length", "server", "title", "remote_ip", "remote_port", "bytes_read", "truncated", "binary", "snippet", "fetched_at", "error", "attempts", "redirects", "tls", "timing", "sha256",
        "queued_ms", "location", "method", "saved_path", "meta", "not_modified", "change", "consecutive_failures",
    }  # fmt: skip
    assert set(records[0]) == expected


def test_any_failure_exits_1(server: LoopbackServer) -> None:
    for bad in (server.url("/status/404"), "ftp://x", "http://127.0.0.1:9/", server.url("/status/500")):
        result = runner.invoke(app, [server.url("/ok"), bad])
        assert result.exit_code == 1, bad


def test_json_format_is_one_array(server: LoopbackServer) -> None:
    result = runner.invoke(app, ["-f", "json", server.url("/ok"), "ftp://x"])
    data = json.loads(result.stdout)
    assert [d["index"] for d in data] == [0, 1]
    assert data[1]["error"] == {
        "type": "InvalidURL",
        "message": "unsupported scheme 'ftp': only http and https are fetched",
    }
    empty = runner.invoke(app, ["-f", "json", "-i", "-"], input="# nothing\n")
    assert json.loads(empty.stdout) == []


def test_table_format_shows_markup_as_text(server: LoopbackServer) -> None:
    result = runner.invoke(
        app, ["-f", "table", server.url("/escape"), server.url("/status/404"), "ftp://x"], env={"COLUMNS": "200"}
    )
    assert "[bold]markup[/bold]" in result.stdout
    assert "\x1b" not in result.stdout
    assert "404" in result.stdout and "InvalidURL" in result.stdout


def test_input_files_and_stdin(server: LoopbackServer, tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_bytes(f"\ufeff# comment\r\n{server.url('/a')}\r\n\r\n{server.url('/b')}\r\n".encode())
    result = runner.invoke(app, ["-i", str(listing), "-i", "-"], input=server.url("/c") + "\n")
    urls = [json.loads(line)["url"] for line in result.stdout.splitlines()]
    assert urls == [server.url("/a"), server.url("/b"), server.url("/c")]
    piped = runner.invoke(app, [], input=server.url("/d") + "\n")  # no URL, no -i: stdin is read
    assert json.loads(piped.stdout)["url"] == server.url("/d")


def test_output_file(server: LoopbackServer, tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["-o", str(target), server.url("/ok")])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert json.loads(target.read_text())["status"] == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timeout", "-1", "x"], "fetchcli: error: --timeout must be 0 or more"),
        (
            ["--read-timeout", "nan", "x"],
            "fetchcli: error: --read-timeout must be a number of seconds (0 or inf for no limit), not 'nan'",
        ),
        (
            ["-t", "abc", "x"],
            "fetchcli: error: --timeout must be a number of seconds (0 or inf for no limit), not 'abc'",
        ),
        (["--retry-backoff", "inf", "x"], "fetchcli: error: --retry-backoff must be a number of seconds, not 'inf'"),
        (["--max-connections", "lots", "x"], "fetchcli: error: --max-connections must be a whole number, not 'lots'"),
        (["--rate", "fast", "x"], "fetchcli: error: --rate must be a number of requests per second, not 'fast'"),
        (["--format", "xml", "x"], "fetchcli: error: --format must be one of table, json, jsonl, csv, tsv, not 'xml'"),
        (["--order", "random", "x"], "fetchcli: error: --order must be one of input, completion, not 'random'"),
        (["--color", "pink", "x"], "fetchcli: error: --color must be one of auto, always, never, not 'pink'"),
        (["--max-connections", "0", "x"], "fetchcli: error: --max-connections must be 1 or more"),
        (["-c", "0", "x"], "fetchcli: error: --concurrency must be 1 or more"),
        (["-H", "no colon", "x"], "fetchcli: error: --header must look like 'Name: value'"),
        (["-H", "X: a\x01b", "x"], "fetchcli: error: --header value for 'X' must not contain control characters"),
        (["-H", "Bad Name: v", "x"], "fetchcli: error: --header has an invalid header name: character 4 (a space)"),
        (["-A", "agent\x1b[2J", "x"], "fetchcli: error: --user-agent must not contain control characters"),
        (["-X", "GE T", "x"], "fetchcli: error: --method"),
        (["--max-body-bytes", "-5", "x"], "fetchcli: error: --max-body-bytes must be 0 or more"),
        (["-i", "/no/such/file"], "fetchcli: error: --input cannot read '/no/such/file'"),
        (["--nope"], "fetchcli: error: No such option"),  # then --nope, in Click's words
        (["--proxy", "not a url", "x"], "fetchcli: error: --proxy"),
    ],
)
def test_usage_errors_are_one_line_naming_the_flag(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("fetchcli: error:")
    assert message in captured.err
    assert captured.err.count("\n") == 1


def test_no_urls_on_a_terminal_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    assert main([]) == 2
    assert "URL missing" in capsys.readouterr().err


def test_http2_without_h2_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "h2", None)
    assert main(["--http2", "http://127.0.0.1:9/"]) == 2
    assert "fetchcli: error: --http2 needs the h2 package" in capsys.readouterr().err


def test_subprocess_streams_and_exit_codes(server: LoopbackServer) -> None:
    ok = fetchcli_process(server.url("/ok"))
    assert ok.returncode == 0
    assert json.loads(ok.stdout)["status"] == 200
    assert ok.stderr == ""  # stderr is not a terminal: no summary line in cron mail
    failed = fetchcli_process(server.url("/ok"), "http://127.0.0.1:9/", "--format", "json")
    assert failed.returncode == 1
    assert len(json.loads(failed.stdout)) == 2
    usage = fetchcli_process("--timeout", "-3", "x")
    assert usage.returncode == 2
    assert usage.stdout == ""
    assert usage.stderr == "fetchcli: error: --timeout must be 0 or more\n"


def test_subprocess_reads_a_pipe(server: LoopbackServer) -> None:
    done = fetchcli_process(stdin=f"{server.url('/x')}\nftp://y\n")
    assert [json.loads(line)["index"] for line in done.stdout.splitlines()] == [0, 1]
    assert done.returncode == 1
    assert "Traceback" not in done.stderr


def test_subprocess_no_traceback_on_bad_input(tmp_path: Path) -> None:
    weird = tmp_path / "weird.txt"
    weird.write_bytes(b"\xff\xfe\x00garbage\nhttp://\x00\nhttp://[::1\n" + b"a" * 100_000 + b"\n")
    done = fetchcli_process("-i", str(weird))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == 4 and all(r["error"]["type"] == "InvalidURL" for r in records)


def test_help_groups_options_in_sections() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    sections = ("Input", "Output", "Success and exit status", "Request", "TLS", "Proxy", "Connection pool",
                "Timeouts", "Retries", "Politeness", "Body", "Other", "Examples", "Exit status")  # fmt: skip
    starts = [line.split(" (")[0] for line in result.stdout.splitlines() if line and not line.startswith(" ")]
    assert [s for s in starts if s in sections] == list(sections)  # each once, in this order
    assert result.stdout.startswith("Usage: fetchcli [OPTIONS] [URL]...\n")
    for noise in ("<bool>", "<list", "[[URL]", "╭", "\x1b"):
        assert noise not in result.stdout
    assert "-t, --timeout SECONDS" in result.stdout and "[env: FETCHCLI_TIMEOUT]" in result.stdout
    assert "[env: FETCHCLI_HEADER, one per line]" in result.stdout
    assert "Precedence: flag > environment > config file > default" in " ".join(result.stdout.split())
    exit_section = result.stdout.split("\nExit status\n", 1)[1]
    listed = [int(line.split()[0]) for line in exit_section.splitlines() if line.strip()]
    assert sorted(listed) == sorted(int(status) for status in ExitStatus)
