"""Review round 4: text encodings never end a run with a traceback.

With ``PYTHONIOENCODING=latin-1`` or ``ascii`` (or a legacy locale), ``-f table`` crashed drawing
its rule (``─``), and ``-f csv``/``tsv`` on the first URL or server text the encoding cannot
write: exit 1, a traceback, the records lost. Now standard streams write such characters as
backslash escapes, the table and the progress line fall back to ASCII drawing, and ``-o FILE``
is UTF-8 whatever the locale. An option value that is not valid UTF-8 (``-H $'X: \\xff'``,
``-A $'\\xff'``: Python hands such bytes on as surrogate escapes) was a traceback when the
request was built; it is a one-line usage error naming the option. Paths may hold any bytes.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fetchcli.models import FetchResult
from fetchcli.output.render.progress import ProgressLine
from fetchcli.output.render.table import TableSink
from fetchcli.settings import Backend, RequestSettings, Settings, SettingsError
from fetchcli.summary import Summary
from tests.server import LoopbackServer

CJK_TEXT = "%E4%B8%AD%E6%96%87+caf%C3%A9"  # 中文 café: no legacy single-byte encoding has both


def _fetchcli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """As tests.helpers.fetchcli_in_clean_env, but the output kept as bytes (it is in the
    encoding under test). A ``str`` argument with surrogate escapes reaches the process as the
    bytes they stand for (os.fsencode), as a shell passes ``$'\\xff'``."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FETCHCLI_", "PYTHONIOENCODING")) and "proxy" not in k.lower()
    }
    return subprocess.run(
        [sys.executable, "-m", "fetchcli", *args],
        capture_output=True,
        timeout=60,
        env={**kept, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), **(env or {})},
        cwd=cwd,
    )


def _urls(server: LoopbackServer) -> list[str]:
    return [server.url("/ok"), server.url(f"/say?text={CJK_TEXT}"), server.url("/ok?é"), server.url("/charset/x-bogus")]


@pytest.mark.parametrize("fmt", ["table", "csv", "tsv"])
@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
def test_a_legacy_output_encoding_never_crashes(
    server: LoopbackServer, backend: Backend, encoding: str, fmt: str
) -> None:
    done = _fetchcli(
        "--backend", backend.value, "-f", fmt, *_urls(server), env={"PYTHONIOENCODING": encoding, "COLUMNS": "120"}
    )
    assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode(encoding)  # what is written is in the stream's encoding
    lines = text.splitlines()
    assert len(lines) == 1 + 1 + 4 if fmt == "table" else 1 + 4  # header (and rule), a row per URL
    assert "\\u4e2d\\u6587" in text  # what the encoding cannot write is escaped, not lost
    assert ("café" if encoding == "latin-1" else "caf\\xe9") in text  # what it can is written
    if fmt == "table":
        assert set(lines[1]) == {"-"}  # the rule in ASCII
        assert all(line.split()[2] == "200" for line in lines[2:]), text


def test_output_files_are_utf8_whatever_the_locale(server: LoopbackServer, backend: Backend, tmp_path: Path) -> None:
    for fmt in ("table", "csv", "tsv", "jsonl"):
        target = tmp_path / f"out.{fmt}"
        done = _fetchcli(
            "--backend", backend.value, "-f", fmt, "-o", str(target), *_urls(server), env={"PYTHONIOENCODING": "ascii"}
        )
        assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr
        written = target.read_bytes().decode("utf-8")
        assert ("中文 café" if fmt != "jsonl" else "\\u4e2d\\u6587 caf\\u00e9") in written, fmt
        if fmt == "table":
            assert "─" in written and "…" not in written.splitlines()[0]


def test_messages_on_stderr_in_a_legacy_encoding(server: LoopbackServer, backend: Backend) -> None:
    """The summary line and the progress line (ASCII spinner and bar) on an ASCII stderr."""
    done = _fetchcli(
        "--backend", backend.value, "--progress", "--summary", "-f", "jsonl", "-o", os.devnull, *_urls(server),
        env={"PYTHONIOENCODING": "ascii"},
    )  # fmt: skip
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr
    assert b"4 URLs: 4 ok" in done.stderr
    done.stderr.decode("ascii")


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["-H", "X-Token: \udcff"], "--header"),
        (["--header=X-Token: ab\udcfe"], "--header"),
        (["-A", "\udcff"], "--user-agent"),
        (["--expect-text", "caf\udce9"], "--expect-text"),
        (["--noproxy", "h\udcffst"], "--noproxy"),
        (["-x", "http://pr\udcffxy:3128"], "--proxy"),
    ],
)
def test_an_option_value_that_is_not_utf8_is_a_usage_error(
    server: LoopbackServer, args: list[str], option: str
) -> None:
    for dry_run in ([], ["--dry-run"]):
        done = _fetchcli(*dry_run, *args, server.url("/ok"))
        assert done.returncode == 2, done.stderr
        assert b"Traceback" not in done.stderr
        [line] = done.stderr.decode().splitlines()
        assert line.startswith(f"fetchcli: error: {option} ") and "is not valid UTF-8 (byte 0x" in line, line
        assert done.stdout == b""


def test_a_variable_that_is_not_utf8_is_named(server: LoopbackServer) -> None:
    done = _fetchcli(server.url("/ok"), env={"FETCHCLI_USER_AGENT": "agent \udcff"})
    assert done.returncode == 2 and b"Traceback" not in done.stderr
    assert done.stderr.decode().strip() == (
        "fetchcli: error: --user-agent is not valid UTF-8 (byte 0xff): give it as UTF-8 text (from FETCHCLI_USER_AGENT)"
    )


def test_paths_may_hold_any_bytes(server: LoopbackServer, tmp_path: Path) -> None:
    """A file name is bytes on POSIX: ``-o $'\\xfe.jsonl'`` writes that file, as before."""
    name = "r\udcfesult.jsonl"
    done = _fetchcli("-q", "-o", name, server.url("/ok"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert os.listdir(os.fsencode(tmp_path)) == [b"r\xfesult.jsonl"]


def test_settings_refuse_header_values_that_are_not_utf8() -> None:
    """The library's own check (a Settings built in Python, not by the CLI)."""
    with pytest.raises(SettingsError, match=r"--header value for 'X' is not valid UTF-8 \(byte 0xff\)"):
        Settings(request=RequestSettings(headers=(("X", "\udcff"),)))
    with pytest.raises(SettingsError, match=r"--user-agent is not valid UTF-8 \(byte 0xfe\)"):
        Settings(request=RequestSettings(user_agent="a\udcfe"))


def _result(index: int, url: str, snippet: str) -> FetchResult:
    return FetchResult(index=index, url=url, ok=True, status=200, snippet=snippet, elapsed_ms=1.0)


@pytest.mark.parametrize("encoding", ["ascii", "latin-1", "cp1252"])
def test_the_table_draws_with_what_the_stream_can_write(encoding: str) -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding=encoding, newline="\n")
    sink = TableSink(stream, width=100)
    sink.write(_result(0, "http://example.com/" + "p" * 80, "中文 café " * 10))
    sink.close(Summary())
    stream.flush()
    lines = raw.getvalue().decode(encoding).splitlines()
    assert set(lines[1]) == {"-"}
    assert "..." in lines[2] and "…" not in lines[2]
    assert "\\u4e2d\\u6587" in lines[2]
    assert all(len(line) <= 100 for line in lines), lines


def test_the_table_keeps_its_unicode_drawing_on_utf8() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
    sink = TableSink(stream, width=100)
    sink.write(_result(0, "http://example.com/" + "p" * 80, "中文 café " * 10))
    sink.close(Summary())
    stream.flush()
    lines = raw.getvalue().decode().splitlines()
    assert set(lines[1]) == {"─"} and "…" in lines[2] and "中文 café" in lines[2]


def test_the_progress_line_draws_in_ascii_on_an_ascii_stream() -> None:
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    line = ProgressLine(stream, color=False, width=100)
    line.set_total(4)
    frame = line.render(Summary())
    frame.encode("ascii")
    assert "----" in frame
