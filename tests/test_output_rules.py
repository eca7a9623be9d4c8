"""Issue 18: output for shell tools and pipes. TSV lines end with LF (CSV keeps CRLF) and
``--no-header`` leaves out the header row of both; ``-f json`` is flushed per record; an ``-o``
extension that names no format is a usage error; ``--ok-status`` takes classes (``2xx``);
``--dry-run`` into a reader that goes away ends with 141; and the install hint for an extra
names a command that works (fetchcli is installed from a clone, not from the package index).

The pipe tests run fetchcli as a process without ``PYTHONUNBUFFERED`` (a developer's or CI's
environment may set it, and it hides what buffering does to a user's pipe)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fetchcli.cli.app import main
from fetchcli.cli.help import render_help
from fetchcli.errortype import ErrorType
from fetchcli.models import ErrorInfo, FetchResult
from fetchcli.output.render import make_sink
from fetchcli.settings import Backend, OutputFormat, RequestSettings, Settings, SettingsError, parse_status_ranges
from fetchcli.summary import Summary
from tests.helpers import fetchcli_in_clean_env
from tests.server import LoopbackServer

ROOT = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    """The environment of a user's shell: none of the caller's FETCHCLI_*, proxy or SSL_CERT_*
    variables, and no PYTHONUNBUFFERED."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FETCHCLI_")
        and "proxy" not in k.lower()
        and k not in ("SSL_CERT_FILE", "SSL_CERT_DIR", "PYTHONUNBUFFERED")
    }
    return {**kept, "PYTHONPATH": str(ROOT)}


def _popen(*args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "fetchcli", *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )


def _read_until(proc: subprocess.Popen[bytes], wanted: bytes, *, within: float) -> bytes:
    """What ``proc`` writes on stdout until it holds ``wanted``, or all of it by ``within``
    seconds (or its end), whichever comes first."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    got = b""
    deadline = time.monotonic() + within
    while wanted not in got and (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        got += chunk
    return got


def _finish(proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def _records() -> list[FetchResult]:
    return [
        FetchResult(index=0, url="http://a.example/", ok=True, status=200, elapsed_ms=1.5, snippet="a\tb\\c"),
        FetchResult(index=1, url="ftp://b", ok=False, error=ErrorInfo(ErrorType.InvalidURL, "bad\r\nline")),
    ]


def _render(fmt: OutputFormat, *, header: bool = True) -> str:
    out = io.StringIO(newline="")
    sink = make_sink(fmt, out, fields=("index", "status", "url", "snippet", "error.type"), header=header)
    for result in _records():
        sink.write(result)
    sink.close(Summary())
    return out.getvalue()


# Item 11: TSV ends lines with LF, CSV keeps CRLF; --no-header for both.


def test_tsv_lines_end_with_lf_and_csv_lines_with_crlf() -> None:
    tsv = _render(OutputFormat.tsv)
    assert "\r" not in tsv
    assert tsv.split("\n") == [
        "index\tstatus\turl\tsnippet\terror.type",
        "0\t200\thttp://a.example/\ta\\tb\\\\c\t",  # the cell escapes are kept
        "1\t\tftp://b\t\tInvalidURL",
        "",
    ]
    assert _render(OutputFormat.csv).split("\r\n") == [
        "index,status,url,snippet,error.type",
        "0,200,http://a.example/,a\\x09b\\c,",
        "1,,ftp://b,,InvalidURL",
        "",
    ]


@pytest.mark.parametrize("fmt", [OutputFormat.csv, OutputFormat.tsv])
def test_no_header_leaves_out_the_header_row(fmt: OutputFormat) -> None:
    with_header, without = _render(fmt), _render(fmt, header=False)
    assert with_header.startswith("index")
    assert without == with_header.split("\n", 1)[1]  # the same rows, no header


@pytest.mark.skipif(shutil.which("awk") is None, reason="awk is not installed")
def test_awk_and_read_take_tsv_fields_as_they_are(server: LoopbackServer, backend: Backend, tmp_path: Path) -> None:
    """The issue's commands: ``awk -F'\\t' '$2==200'`` matched nothing and ``read`` got ``200\\r``."""
    urls = [server.url("/ok/awk"), server.url("/status/404"), "ftp://awk.example/"]
    script = (
        f"fetchcli --backend {backend.value} -f tsv --no-header --fields url,status {' '.join(urls)} > out.tsv;"
        " awk -F'\\t' '$2==200 { print \"awk:\" $1 }' out.tsv;"
        " while IFS=$'\\t' read -r url status; do echo \"read:[$status]\"; done < out.tsv"
    )
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60, env={**_env(), "PATH": path}
    )
    assert done.stdout.splitlines() == [f"awk:{urls[0]}", "read:[200]", "read:[404]", "read:[]"], done.stderr


@pytest.mark.parametrize("flag", ["--no-header", "--no-header-row"])
@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_no_header_from_the_command_line_is_not_about_request_headers(
    server: LoopbackServer, backend: Backend, tmp_path: Path, flag: str, fmt: str
) -> None:
    """``--no-header`` turns off the header row, beats the environment, and leaves ``-H`` alone."""
    target = server.url(f"/headers?{fmt}{flag}{backend.value}")
    out = tmp_path / f"results.{fmt}"
    done = fetchcli_in_clean_env(
        "--backend", backend.value, "-H", "X-Probe: kept", flag, "--fields", "status,url", "-o", str(out), target,
        env={"FETCHCLI_HEADER_ROW": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    separator, end = (",", "\r\n") if fmt == "csv" else ("\t", "\n")
    assert out.read_bytes() == f"200{separator}{target}{end}".encode()
    assert server.stats.headers_seen[target.split(str(server.port), 1)[1]]["x-probe"] == "kept"


def test_the_header_row_switch_comes_from_the_environment_and_a_config_file(
    server: LoopbackServer, tmp_path: Path
) -> None:
    url = server.url("/ok/header-row")
    by_env = fetchcli_in_clean_env("-f", "tsv", "--fields", "status", url, env={"FETCHCLI_HEADER_ROW": "off"})
    assert by_env.stdout == "200\n"
    config = tmp_path / "config.toml"
    config.write_text("header-row = false\n")
    by_config = fetchcli_in_clean_env("-f", "csv", "--fields", "status", "--config", str(config), url)
    assert by_config.stdout == "200\n"  # read as text: CRLF is "\n"
    flag_wins = fetchcli_in_clean_env("-f", "csv", "--fields", "status", "--config", str(config), "--header-row", url)
    assert flag_wins.stdout == "status\n200\n"


# Item 12: -f json is flushed per record.


def test_json_array_shows_each_record_at_once_and_ends_on_a_closed_pipe(
    server: LoopbackServer, backend: Backend
) -> None:
    """The first record reaches the reader while a later URL still hangs; the reader then goes
    away (``| head -c 1``) and the run ends at the next record (141), not when the hang's
    --max-time (60 s) or 8 KiB of buffered records would have ended it."""
    urls = [server.url("/ok/json-first"), server.url("/slow/300"), server.url("/hang")]
    started = time.monotonic()
    proc = _popen("-f", "json", "--backend", backend.value, "-t", "60", "-m", "60", *urls)
    try:
        first = _read_until(proc, b"/ok/json-first", within=40)
        assert first.startswith(b"[\n  {") and b"/hang" not in first
        assert proc.poll() is None  # the hang is still in flight: the record did not wait for the end
        assert proc.stdout is not None
        proc.stdout.close()  # the reader goes away
        assert _finish(proc) == 141
        assert time.monotonic() - started < 40  # well before the hang's 60 s
        assert proc.stderr is not None and proc.stderr.read() == b""  # no message for a closed pipe
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# Item 13: output format by extension.


@pytest.mark.parametrize("name", ["out.txt", "out.xlsx", "OUT.TXT", "report.2024-05-01"])
def test_an_extension_that_names_no_format_is_a_usage_error(
    fresh_server: LoopbackServer, tmp_path: Path, name: str
) -> None:
    target = tmp_path / name
    done = fetchcli_in_clean_env("-o", str(target), fresh_server.url("/ok"))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("fetchcli: error: --output ") and done.stderr.count("\n") == 1
    assert "names no output format (.json, .jsonl, .ndjson, .csv, .tsv do): give one with -f" in done.stderr
    assert not target.exists() and list(tmp_path.iterdir()) == []
    assert fresh_server.stats.requests == 0  # refused before anything was fetched


@pytest.mark.parametrize(
    ("name", "args", "starts"),
    [
        ("out.txt", ["-f", "jsonl"], '{"schema_version"'),  # -f: any extension
        ("out.xlsx", ["-f", "csv"], "schema_version,"),
        ("results", [], '{"schema_version"'),  # no extension: JSON Lines, as without -o
        (".hidden", [], '{"schema_version"'),  # a dot file has no extension
        ("OUT.JSON", [], '[\n  {"schema_version"'),  # extensions in any case
        ("out.NDJSON", [], '{"schema_version"'),
    ],
)
def test_a_known_extension_or_f_chooses_the_format(
    server: LoopbackServer, backend: Backend, tmp_path: Path, name: str, args: list[str], starts: str
) -> None:
    target = tmp_path / name
    done = fetchcli_in_clean_env("--backend", backend.value, "-o", str(target), *args, server.url("/ok"))
    assert done.returncode == 0, done.stderr
    assert target.read_text().startswith(starts)


# Item 14: --ok-status classes.


@pytest.mark.parametrize(
    ("text", "ranges"),
    [
        ("2xx", ((200, 299),)),
        ("2XX", ((200, 299),)),
        ("2xx,3Xx", ((200, 299), (300, 399))),
        (" 2xx , 301, 400-403 ", ((200, 299), (301, 301), (400, 403))),
        ("1xx,5xx", ((100, 199), (500, 599))),
        ("200-299", ((200, 299),)),
    ],
)
def test_ok_status_takes_classes_beside_codes_and_ranges(text: str, ranges: tuple[tuple[int, int], ...]) -> None:
    assert parse_status_ranges(text) == ranges


@pytest.mark.parametrize("text", ["2x", "2xxx", "x2x", "0xx", "xx", "2yy", "2xx-3xx", ","])
def test_ok_status_rejects_what_is_no_class(text: str) -> None:
    with pytest.raises(SettingsError, match="--ok-status"):
        parse_status_ranges(text)


def test_ok_status_classes_decide_the_exit_status(server: LoopbackServer, backend: Backend) -> None:
    urls = [server.url("/ok/class"), server.url("/status/302")]
    only_2xx = fetchcli_in_clean_env("--backend", backend.value, "--ok-status", "2xx", *urls)
    assert only_2xx.returncode == 1, only_2xx.stderr
    assert [line.count('"ok": true') for line in only_2xx.stdout.splitlines()] == [1, 0]
    both = fetchcli_in_clean_env("--backend", backend.value, "--ok-status", "2XX,3xx", *urls)
    assert both.returncode == 0, both.stderr
    bad = fetchcli_in_clean_env("--ok-status", "2xy", *urls)
    assert bad.returncode == 2
    assert bad.stderr == (
        "fetchcli: error: --ok-status must be statuses, ranges and classes such as 2xx,301,400-403, not '2xy'\n"
    )


# Item 18: --dry-run into a reader that goes away.


def test_dry_run_writes_each_line_at_once_and_ends_with_141_when_the_reader_goes_away() -> None:
    """``--dry-run | head -1`` exited 1 (an invalid URL in the list): its lines were buffered
    and written after the whole list was read, so a reader gone by then went unnoticed. Now each
    line is written as its URL is read, and the next line after the reader went away ends the
    run as every output does: 141, nothing on stderr. URLs come from a pipe the test controls,
    so no timing is involved."""
    proc = _popen("--dry-run", stdin=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"http://127.0.0.1:9/first\n")
        proc.stdin.flush()
        shown = _read_until(proc, b"http://127.0.0.1:9/first\n", within=30)
        assert shown.startswith(b"fetchcli --dry-run: nothing is sent\n")
        assert b"     0  http://127.0.0.1:9/first\n" in shown  # before the input ended
        assert proc.poll() is None
        proc.stdout.close()  # the reader goes away, as head does after its first line
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(b"ftp://invalid.example/\nhttp://127.0.0.1:9/last\n")
            proc.stdin.close()
        assert _finish(proc) == 141
        assert proc.stderr is not None and proc.stderr.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_dry_run_into_head_exits_141(tmp_path: Path) -> None:
    """The issue's command, through a real pipe, as a regression check: a list whose lines are
    more than a pipe holds (64 KiB) and head reads (8 KiB), so fetchcli is still writing when
    head leaves, whatever the timing. (How soon the reader's leaving is noticed, which a short
    list depends on, is the test above.)"""
    listing = tmp_path / "urls.txt"
    listing.write_text("ftp://invalid.example/\n" + "".join(f"http://127.0.0.1:9/{n}\n" for n in range(10_000)))
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(
        ["bash", "-c", "fetchcli --dry-run -i urls.txt | head -1; echo \"status=${PIPESTATUS[0]}\""],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env={**_env(), "PATH": path},
    )  # fmt: skip
    assert done.stdout == "fetchcli --dry-run: nothing is sent\nstatus=141\n" and done.stderr == ""


# Item 15 (part): the install hint of an extra names a command that works from a clone.

HINT = "in fetchcli's clone, pip install '.[{extra}]' (or pip install 'httpx[{extra}]' into its environment)"


def test_http2_without_h2_names_a_command_that_works(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "h2", None)
    assert main(["--http2", "http://127.0.0.1:9/"]) == 2
    assert capsys.readouterr().err == f"fetchcli: error: --http2 needs the h2 package: {HINT.format(extra='http2')}\n"


def test_socks_without_socksio_names_a_command_that_works(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "socksio" else real(name, *a))
    with pytest.raises(SettingsError) as raised:
        Settings(request=RequestSettings(proxy="socks5://127.0.0.1:9"))
    assert str(raised.value) == f"--proxy socks5:// needs the socksio package: {HINT.format(extra='socks')}"


def test_no_text_names_a_package_that_is_not_on_the_index() -> None:
    """``pip install 'fetchcli[http2]'`` named a package that is not on the package index."""
    import typer

    from fetchcli.cli.app import app

    texts = {"README.md": (ROOT / "README.md").read_text(), "--help": render_help(typer.main.get_command(app))}
    texts |= {str(p.relative_to(ROOT)): p.read_text() for p in (ROOT / "fetchcli").rglob("*.py")}
    texts |= {str(p.relative_to(ROOT)): p.read_text() for p in (ROOT / "docs").glob("*.md")}
    assert [name for name, text in texts.items() if "fetchcli[" in text] == []
    options = texts["docs/options.md"]  # the --http2 and --proxy rows of the option reference
    assert "pip install '.[http2]'" in options and "pip install '.[socks]'" in options
