"""Issue 17: what reaches a terminal or a line-based tool through CSV, TSV and the table.

A certificate whose names carry escape sequences, CR and LF, a server whose reason phrase, title,
``Server`` and ``Location`` carry them, and input lines that carry them: the CSV and TSV output
holds none of them raw (only its own row separators), each record is one line, and the TLS
names are clean in every format because they are cleaned where they are read. And a table is at
most 1,000 columns wide whatever ``$COLUMNS`` says."""

from __future__ import annotations

import asyncio
import csv
import io
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.cells import cell_len

from fetchcli.output.render.progress import ProgressLine
from fetchcli.output.render.table import TableSink
from fetchcli.settings import Backend, RequestSettings, Settings
from tests.certs import issue, server_context
from tests.helpers import fetchcli_in_clean_env, run
from tests.server import LoopbackServer, _SmallServer

MAX_WIDTH = 1000  # fetchcli.output.render.table.MAX_WIDTH, as the README says
OSC_CLEAR = "\x1b]0;pwned\x07\x1b[2J"
HOSTILE_CN = f"x{OSC_CLEAR}\r\nforged,row\t\u202eevil"
HOSTILE_DNS = "a\x1b[2J.b\r\nforged\tc"
HOSTILE_TITLE = f"one\ttwo\r\nthree{OSC_CLEAR}\u202eend"
HOSTILE_INPUT = [
    "http://127.0.0.1:9/\x1b[2J\u202e\tx",  # ESC, bidi and a tab in a URL line of the input
    "http://127.0.0.1:9/a\rb",  # a CR inside a line
    "=cmd|' /C calc'!A0",  # a formula
]


class HostileText(_SmallServer):
    """HTTP/1.1 (over TLS when given a context) whose every text field carries control
    characters: ``/page`` (reason phrase, ``Server``, ``<title>``, body) and ``/moved`` (a 302
    whose reason and ``Location`` do)."""

    name = "test-hostile-text"

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(ssl_context)
        self.requests = 0

    def url(self, path: str) -> str:
        return f"{'https' if self._ssl is not None else 'http'}://127.0.0.1:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                target = head.split(b" ", 2)[1]
                if target.startswith(b"/moved"):
                    status = b"302 Found\t\x1b[2J"
                    headers = [b"Location: /page?q=\t" + OSC_CLEAR.encode() + "\u202e".encode()]
                    body = b""
                else:
                    status = "200 OK\t\x1b[2J\u202e".encode()
                    headers = [b"Content-Type: text/html; charset=utf-8", b"Server: evil\t" + OSC_CLEAR.encode()]
                    body = f"<html><head><title>{HOSTILE_TITLE}</title></head><body>x\ty\r\nz</body>".encode()
                lines = [b"HTTP/1.1 " + status, *headers, b"Content-Length: %d" % len(body)]
                writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileText]:
    """The hostile server over TLS, presenting a certificate with a hostile CN and SAN."""
    cert = issue(tmp_path_factory.mktemp("hostile"), "hostile", common_name=HOSTILE_CN, dns_names=(HOSTILE_DNS,))
    srv = HostileText(server_context(cert)).start()
    try:
        yield srv
    finally:
        srv.stop()


def _only_row_separators(out: bytes, *, tsv: bool) -> str:
    """The output as text, checked: every CR and LF is part of a row's line end (CRLF in CSV,
    LF in TSV), and every other character (but TSV's tab separators) is printable: no ESC, BEL,
    C1, bidi, zero-width."""
    text = out.decode("utf-8")
    body = text.replace("\n", "").replace("\t", "") if tsv else text.replace("\r\n", "")
    bad = sorted({f"U+{ord(ch):04X}" for ch in body if not ch.isprintable()})
    assert not bad, f"raw control or invisible characters in the output: {bad}"
    return text


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_delimited_output_has_no_control_characters_and_one_line_per_record(
    hostile: HostileText, tmp_path: Path, backend: Backend, fmt: str
) -> None:
    listing = tmp_path / "urls.txt"
    urls = [hostile.url("/page"), hostile.url("/moved"), *HOSTILE_INPUT]
    listing.write_bytes("\n".join(urls).encode() + b"\n")
    target = tmp_path / f"out.{fmt}"  # a file, read as bytes: a pipe read as text hides a lone CR
    done = fetchcli_in_clean_env(
        "--backend", backend.value, "-k", "-L", "-f", fmt, "-i", str(listing), "-o", str(target)
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr  # the input lines fail
    text = _only_row_separators(target.read_bytes(), tsv=fmt == "tsv")
    lines = text.split("\n" if fmt == "tsv" else "\r\n")
    assert lines[-1] == "" and len(lines) - 2 == len(urls)  # a header, a line per record, nothing else
    if fmt == "tsv":
        header = lines[0].split("\t")
        assert all(line.count("\t") == len(header) - 1 for line in lines[:-1])
        rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:-1]]
    else:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        assert all(None not in row for row in rows)  # no row has more cells than the header
    assert [row["index"] for row in rows] == [str(i) for i in range(len(urls))]
    page = rows[0]
    assert page["status"] == "200"
    # Shown escaped, not dropped: the names say what the certificate holds.
    assert "\\x1b]0" in page["tls.subject"] and "\\u202eevil" in page["tls.subject"]
    assert "\\x1b[2J" in page["tls.san"] and "127.0.0.1" in page["tls.san"]
    assert "three" in page["title"] and "end" in page["title"]
    assert rows[-1]["url"].startswith("'=")  # the formula stays inert


def test_tsv_escapes_follow_the_tab_separated_convention() -> None:
    from fetchcli.output.render.csv import tsv_text

    assert tsv_text("plain café") == "plain café"
    assert tsv_text("a\tb\r\nc\\d") == "a\\tb\\r\\nc\\\\d"
    assert tsv_text("\x1b[2J\u202e") == "\\x1b[2J\\u202e"
    assert tsv_text("C:\\x1b") == "C:\\\\x1b"  # a literal backslash is never read as an escape


def test_certificate_names_are_clean_in_every_format(hostile: HostileText, backend: Backend) -> None:
    """Cleaned where the certificate is read: the record (so JSON too) has no control character."""
    [result] = run([hostile.url("/page")], Settings(request=RequestSettings(insecure=True)), backend=backend)
    assert result.tls is not None and result.tls.subject is not None and result.tls.issuer is not None
    for name in (result.tls.subject, result.tls.issuer, *result.tls.san):
        assert name.isprintable(), repr(name)
    assert result.tls.subject.startswith("CN=x\\x1b]0")
    assert "a\\x1b[2J.b\\x0d\\x0aforged\\x09c" in result.tls.san


def test_csv_written_to_a_pipe_holds_no_escape(hostile: HostileText) -> None:
    """What a user piping ``-f csv`` into ``less -R`` or a terminal would get: no ESC at all."""
    done = fetchcli_in_clean_env("-k", "-f", "csv", hostile.url("/page"), HOSTILE_INPUT[0])
    assert "Traceback" not in done.stderr
    assert done.stdout.count("\n") == 3  # read as text, any CR or LF is a line end: one per row
    assert not {"\x1b", "\x07", "\x9b", "\u202e"} & set(done.stdout)


@pytest.mark.parametrize("columns", ["20000000", "99999999999999999999", "-5", "abc", "0"])
def test_a_huge_or_nonsense_columns_gives_a_small_table(server: LoopbackServer, columns: str) -> None:
    done = fetchcli_in_clean_env("-f", "table", server.url("/ok/1"), server.url("/ok/2"), env={"COLUMNS": columns})
    assert done.returncode == 0, done.stderr[-500:]
    assert len(done.stdout) < 10_000  # COLUMNS=20000000 wrote 96 MB for these two URLs
    lines = done.stdout.splitlines()
    assert len(lines) == 4  # header, rule, two rows
    assert max(cell_len(line) for line in lines) <= MAX_WIDTH
    assert "/ok/1" in done.stdout and "/ok/2" in done.stdout


def test_the_width_is_capped_for_the_table_and_the_progress_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from fetchcli.output.render import table

    assert table.MAX_WIDTH == MAX_WIDTH
    monkeypatch.setenv("COLUMNS", "20000000")
    assert TableSink(io.StringIO()).width == MAX_WIDTH  # to a file or a pipe: from $COLUMNS
    line = ProgressLine(io.StringIO(), color=False)
    assert line._width < MAX_WIDTH
    wide = TableSink(io.StringIO(), width=10**9)  # a width handed in directly is held too
    assert wide.width == MAX_WIDTH
