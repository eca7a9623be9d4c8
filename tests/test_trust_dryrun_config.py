"""A new user's review of the config and --dry-run fixes (issue 18's follow-up to issue 17):

- a ``./fetchcli.toml``, read by earlier versions, is never read now, and a run that would have
  read it says so once on stderr (``-q`` too), and in ``--dry-run``;
- ``--dry-run`` refuses what a run refuses, the same way (exit 2), and shows where records would
  go and how (format and why, fields, order, summary JSON, resume, max failures);
- ``--dry-run`` names where each value that is not the default came from;
- a malformed proxy variable is a usage error naming the variable, never quoting it;
- CSV and TSV write an object named by ``--fields`` as its fields, never a Python repr;
- small things: ``1 URL``, the summary JSON keys in the option reference, ``python -m``, the wording of
  ``--resume``'s refusal, the CA bundle actually used."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest

from fetchcli.cli.app import main
from fetchcli.cli.config import LOCAL_CONFIG_NOTE
from fetchcli.cli.dryrun import describe_run
from fetchcli.cli.runner import Environment, OutputOptions
from fetchcli.settings import Backend, Settings
from fetchcli.summary import Summary
from fetchcli.transport.proxies import resolve_proxies
from tests.helpers import fetchcli_in_clean_env, self_signed_context
from tests.server import LoopbackServer, running_server

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
OPTIONS = (Path(__file__).resolve().parent.parent / "docs" / "options.md").read_text()  # the option reference
NOTE = f"fetchcli: note: {LOCAL_CONFIG_NOTE}\n"


@pytest.fixture
def cwd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No FETCHCLI_* or proxy variable of the caller's; run in an empty directory of the test's."""
    for name in list(os.environ):
        if name.startswith("FETCHCLI_") or "proxy" in name.lower() or name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
            monkeypatch.delenv(name)
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    yield folder


def _dry(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["--dry-run", *args])
    out, err = capsys.readouterr()
    return status, out, err


def _line(out: str, name: str) -> str:
    """The value of the dry-run's line ``name`` (the first one)."""
    for line in out.splitlines():
        if line.startswith(f"{name:<14}"):
            return line[14:]
    raise AssertionError(f"no {name!r} line in:\n{out}")


# Item 1: a ./fetchcli.toml is not read, and a run that would have read it says so.


@pytest.mark.parametrize("backend_name", [Backend.aiohttp.value, Backend.httpx.value])
def test_a_fetchcli_toml_in_the_working_directory_is_named_once_and_not_read(
    server: LoopbackServer, tmp_path: Path, backend_name: str
) -> None:
    """Not TOML at all: were it read, the run would be a usage error. ``-q``, as cron runs it:
    the note is about what configures the run, and a cron job is where the change bites."""
    (tmp_path / "fetchcli.toml").write_text("this is = not [toml\n")
    done = fetchcli_in_clean_env("-q", "--backend", backend_name, server.url("/ok/note"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True
    assert done.stderr == NOTE


def test_dry_run_shows_the_note_too(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (cwd / "fetchcli.toml").write_text("timeout = 4\n")
    status, out, err = _dry(capsys, "http://h/")
    assert (status, err) == (0, NOTE)
    assert _line(out, "note") == LOCAL_CONFIG_NOTE
    assert "connect 5 s" in out  # not read


@pytest.mark.parametrize(
    ("args", "env", "read"),
    [
        (["--config", "fetchcli.toml"], {}, True),  # the file read: nothing to say
        (["--config", "other.toml"], {}, False),  # a config chosen by name: earlier versions did not read it either
        (["--config", ""], {}, False),
        ([], {"FETCHCLI_CONFIG": "other.toml"}, False),
        ([], {"FETCHCLI_CONFIG": ""}, False),
    ],
)
def test_no_note_when_the_config_was_named(
    cwd: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str],
    env: dict[str, str], read: bool,
) -> None:  # fmt: skip
    (cwd / "fetchcli.toml").write_text("timeout = 4\n")
    (cwd / "other.toml").write_text("timeout = 6\n")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    status, out, err = _dry(capsys, *args, "http://h/")
    assert (status, err) == (0, "")
    assert "note " not in out
    assert ("connect 4 s" in out) is read


def test_no_note_without_a_file_of_that_name(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (cwd / "fetchcli.toml").mkdir()  # a folder of that name is no config file
    assert _dry(capsys, "http://h/")[2] == ""


# Item 2: --dry-run refuses what a run refuses, and shows the outputs.


def _both(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """A real run and a dry run of the same command line, in ``tmp_path``."""
    run = fetchcli_in_clean_env(*args, cwd=tmp_path)
    dry = fetchcli_in_clean_env("--dry-run", *args, cwd=tmp_path)
    return run, dry


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "list.txt", "-o", "list.txt"], "--output 'list.txt' is the same file as --input 'list.txt'"),
        (["-i", "list.txt", "-o", "readonly.csv"], "--output will not replace 'readonly.csv': it is read-only"),
        (["-i", "list.txt", "-o", "x.jsonl", "--summary-json", "x.jsonl"], "--summary-json 'x.jsonl' is the same file"),
        (["-i", "list.txt", "--resume", "list.txt"], "--resume 'list.txt' is the same file as --input"),
        (["--resume", "r.jsonl", "-o", "out.csv", "--fields", "url", "http://127.0.0.1:9/"], "--resume writes whole"),
        (["--resume", "r.jsonl", "-o", "out.jsonl", "http://127.0.0.1:9/"], "--resume appends to its own FILE"),
        (["-i", "list.txt", "-o", "out.txt"], "--output 'out.txt' ends in '.txt', which names no output format"),
        (["-i", "list.txt", "--max-failures", "-1"], "--max-failures must be 0 or more"),
        (["-i", "list.txt", "-f", "table", "--fields", "url"], "--fields applies to json, jsonl, csv and tsv"),
    ],
)
def test_dry_run_refuses_what_a_run_refuses_the_same_way(tmp_path: Path, args: list[str], message: str) -> None:
    """``--dry-run -i list.txt -o list.txt`` said "2 URLs: 2 valid", exit 0, where the run
    refuses with 2: a dry run is there to find that out before cron does."""
    listing = tmp_path / "list.txt"
    listing.write_text("http://127.0.0.1:9/a\nhttp://127.0.0.1:9/b\n")
    readonly = tmp_path / "readonly.csv"
    readonly.write_text("kept\n")
    readonly.chmod(0o444)
    run, dry = _both(tmp_path, *args)
    assert run.returncode == 2 and run.stderr.startswith(f"fetchcli: error: {message}"), run.stderr
    assert (dry.returncode, dry.stderr, dry.stdout) == (2, run.stderr, "")
    assert listing.read_text() == "http://127.0.0.1:9/a\nhttp://127.0.0.1:9/b\n"
    assert readonly.read_text() == "kept\n"


def test_dry_run_shows_where_records_go_and_how(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _dry(
        capsys, "-o", "out.csv", "--fields", "url,error", "--order", "completion", "--summary-json", "s.json",
        "--max-failures", "3", "--ok-status", "2xx", "--no-header", "http://h/",
    )  # fmt: skip
    assert (status, err) == (0, "")
    assert _line(out, "records") == "out.csv (from --output)"
    assert _line(out, "format") == "csv (-o's extension .csv), no header row (from --no-header-row)"
    assert _line(out, "fields") == "url,error.type,error.message (from --fields)"  # as CSV writes them
    assert _line(out, "order") == "completion (from --order)"
    assert _line(out, "summary json") == "s.json (from --summary-json)"
    assert _line(out, "resume") == "none"
    assert _line(out, "max failures") == "3: exit 0 while at most 3 URLs are not ok (from --max-failures)"
    assert _line(out, "ok when") == "status 200-299 (from --ok-status)"
    assert not (cwd / "out.csv").exists() and not (cwd / "s.json").exists()  # nothing written


def test_dry_run_shows_the_defaults_of_the_outputs(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _dry(capsys, "http://h/")
    assert _line(out, "records") == "stdout"
    assert _line(out, "format") == "jsonl (stdout is not a terminal)"
    assert _line(out, "fields") == "all"
    assert _line(out, "order") == "input"
    assert _line(out, "summary json") == "none"
    assert _line(out, "max failures") == "0: any URL that is not ok: exit 1"


def test_dry_run_shows_resume_and_the_format_of_a_terminal(cwd: Path) -> None:
    def shown(options: OutputOptions, *, terminal: bool) -> str:
        out = io.StringIO()
        env = Environment(stdin=io.BytesIO(), stdout=out, stderr=io.StringIO(), stdin_isatty=False,
                          stdout_isatty=terminal, stderr_isatty=False)  # fmt: skip
        assert describe_run(Settings(), ["http://h/"], [], resolve_proxies(None, None, {}), env, options) == 0
        return out.getvalue()

    table = shown(OutputOptions(), terminal=True)
    assert _line(table, "format") == "table (stdout is a terminal)"
    assert _line(table, "fields") == "the table's columns"
    resumed = shown(OutputOptions(resume="r.jsonl", resume_failed=True), terminal=True)
    assert _line(resumed, "records") == "appended to r.jsonl"
    assert _line(resumed, "format") == "jsonl (--resume appends JSON Lines)"
    assert _line(resumed, "resume") == (
        "r.jsonl: the URLs it records are skipped, the others appended; those it records as failed fetched again"
    )
    assert _line(shown(OutputOptions(path="out"), terminal=True), "format") == "jsonl (-o has no extension)"


# Item 3: --dry-run says where each value came from.


def test_dry_run_names_the_source_of_a_proxy_and_of_insecure(cwd: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """A proxy from the config file or FETCHCLI_PROXY was shown as ``(--proxy)``, and
    ``insecure = true`` as ``certificates not verified (-k)``."""
    config = cwd / "c.toml"
    config.write_text('proxy = "http://alice:pw@h:3128"\ninsecure = true\ntimeout = 3\n')
    _, out, _ = _dry(capsys, "--config", str(config), "http://x/")
    assert _line(out, "proxy") == f"http://alice:***@h:3128 for every URL (from {config}: proxy)"
    assert _line(out, "tls") == f"certificates not verified (from {config}: insecure)"
    assert _line(out, "timeouts").endswith(f"(from {config}: timeout)")
    assert _line(out, "input") == "1 URL given (from the command line)"
    assert "pw" not in out

    monkeypatch.setenv("FETCHCLI_PROXY", "http://bob:pw2@h:3128")
    monkeypatch.setenv("FETCHCLI_INSECURE", "yes")
    monkeypatch.setenv("FETCHCLI_DEADLINE", "60")
    _, out, _ = _dry(capsys, "--config", str(config), "-t", "2", "http://x/")
    assert _line(out, "proxy") == "http://bob:***@h:3128 for every URL (from FETCHCLI_PROXY)"
    assert _line(out, "tls") == "certificates not verified (from FETCHCLI_INSECURE)"
    assert _line(out, "timeouts").endswith("whole run 60 s (from --timeout, FETCHCLI_DEADLINE)")

    _, out, _ = _dry(capsys, "--config", str(config), "--proxy", "http://carol:pw3@h:1", "--no-insecure", "http://x/")
    assert _line(out, "proxy") == "http://carol:***@h:1 for every URL (from --proxy)"
    assert _line(out, "tls").endswith("(from --no-insecure)") and "not verified" not in out


def test_dry_run_says_nothing_of_where_defaults_came_from(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _dry(capsys, "http://x/")
    settings = [line for line in out.split("\n\n")[1].splitlines() if not line.startswith("input ")]
    assert [line for line in settings if "(from " in line] == []
    assert _line(out, "input") == "1 URL given (from the command line)"


def test_dry_run_names_where_the_urls_come_from(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (cwd / "sites.txt").write_text("http://h/\n")
    (cwd / "c.toml").write_text('input = ["sites.txt"]\nurls = ["http://a/", "http://b/"]\n')
    _, out, _ = _dry(capsys, "--config", "c.toml")
    assert _line(out, "input") == "2 URLs given (from c.toml: urls); -i sites.txt (from c.toml: input)"
    assert out.endswith("\n3 URLs: 3 valid, 0 invalid\n")


def test_dry_run_names_the_variable_of_no_proxy(cwd: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("https_proxy", "http://p:3128")
    monkeypatch.setenv("NO_PROXY", "internal")
    _, out, _ = _dry(capsys, "http://x/")
    assert _line(out, "no proxy for") == "internal (from NO_PROXY)"
    _, out, _ = _dry(capsys, "--noproxy", "corp", "http://x/")
    assert _line(out, "no proxy for") == "corp (from --noproxy)"


# Item 4: a malformed proxy variable names the variable.


VARIABLES = ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]


@pytest.mark.parametrize("variable", VARIABLES)
@pytest.mark.parametrize("backend_name", [Backend.aiohttp.value, Backend.httpx.value])
def test_a_malformed_proxy_variable_names_the_variable_and_not_its_value(
    server: LoopbackServer, variable: str, backend_name: str
) -> None:
    """``proxy from the environment has an invalid port``: which of six variables? Named now;
    still refused up front (a broken environment is loud), and nothing of the value quoted."""
    before = server.stats.requests
    done = fetchcli_in_clean_env(
        "--backend", backend_name, "-k", server.url("/ok/proxyvar"), env={variable: "http://u:s3cr3t@p:abc"}
    )
    assert done.returncode == 2
    assert done.stderr == f"fetchcli: error: {variable} has an invalid port: it must be a number from 1 to 65535\n"
    assert server.stats.requests == before


def test_a_proxy_variable_that_is_no_url_names_the_variable() -> None:
    done = fetchcli_in_clean_env("http://127.0.0.1:9/", env={"ALL_PROXY": "ftp://user:secret@proxy"})
    assert (done.returncode, done.stderr) == (
        2,
        "fetchcli: error: ALL_PROXY has an unsupported proxy scheme 'ftp': "
        "fetchcli takes http://, https://, socks5:// and socks5h:// proxies\n",
    )
    done = fetchcli_in_clean_env("http://127.0.0.1:9/", env={"ALL_PROXY": "http://user:secret@pro xy:3128"})
    assert (done.returncode, done.stderr) == (2, "fetchcli: error: ALL_PROXY must be a URL such as http://host:port\n")


# Item 5: the README's advice on secrets in the environment holds with the precedence rules.


def test_the_readmes_advice_on_a_secret_header_keeps_the_config_files_headers(tmp_path: Path) -> None:
    """The README said "a secret belongs in the job's environment: FETCHCLI_HEADER" beside a
    config file's ``header = ["Accept: text/html"]``; but the variable replaces the file's list
    whole, so Accept silently went. The README's own example of the variable is run here with
    its config example: every header of both is sent."""
    example = OPTIONS.split("# cron.toml: a cron set-up", 1)[1].split("\n", 1)[1].split("```", 1)[0]
    (tmp_path / "cron.toml").write_text(example)
    (tmp_path / "sites.txt").write_text("https://example.com/\n")
    [advice] = re.findall(r"`(FETCHCLI_HEADER=\$'[^`]*')`", OPTIONS)
    value = subprocess.run(["bash", "-c", f"{advice}; printf %s \"$FETCHCLI_HEADER\""],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    done = fetchcli_in_clean_env("--dry-run", "--config", "cron.toml", env={"FETCHCLI_HEADER": value}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    headers = [line[14:] for line in done.stdout.splitlines() if line.startswith("header ")]
    assert "Accept: text/html (from FETCHCLI_HEADER)" in headers
    assert "Authorization: *** (from FETCHCLI_HEADER)" in headers
    assert all("a secret belongs in the job's environment: FETCHCLI_HEADER" not in text for text in (README, OPTIONS))


# Item 6: CSV and TSV write an object named by --fields as its fields.


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    context: ssl.SSLContext = self_signed_context(tmp_path_factory.mktemp("tls"))
    with running_server(ssl_context=context) as srv:
        yield srv


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_objects_named_by_fields_are_flattened_in_csv_and_tsv(
    server: LoopbackServer, tls_server: LoopbackServer, backend: Backend, fmt: str
) -> None:
    """``--fields error,timing,tls,redirects`` wrote ``{'type': 'ConnectionRefused', ...}``."""
    urls = ["http://127.0.0.1:9/refused", server.url("/redirect/2"), tls_server.url("/ok/tls")]
    done = fetchcli_in_clean_env(
        "-f", fmt, "-k", "-L", "--backend", backend.value, "--fields", "url,error,timing,tls,redirects", *urls
    )
    assert done.returncode == 1, done.stderr  # the refused one
    rows = list(csv.reader(io.StringIO(done.stdout), delimiter="," if fmt == "csv" else "\t"))
    header, *records = rows
    assert header == [
        "url", "error.type", "error.message", "timing.dns_ms", "timing.connect_ms", "timing.tls_ms",
        "timing.ttfb_ms", "tls.version", "tls.cipher", "tls.not_after", "tls.days_left", "tls.issuer",
        "tls.subject", "tls.san", "tls.san_truncated", "tls.verified", "redirects",
    ]  # fmt: skip
    assert all(len(row) == len(header) for row in records) and len(records) == 3
    refused, redirected, secure = (dict(zip(header, row, strict=True)) for row in records)
    assert refused["error.type"] == "ConnectionRefused" and refused["tls.version"] == ""
    assert redirected["redirects"] == f"302 {server.url('/redirect/2')} 302 {server.url('/redirect/1')}"
    assert float(redirected["timing.ttfb_ms"]) >= 0 and redirected["error.type"] == ""
    assert secure["tls.version"].startswith("TLSv1") and secure["tls.san"] == "localhost 127.0.0.1"
    assert secure["tls.verified"] == ""  # -k: not checked
    assert "{" not in done.stdout and "None" not in done.stdout  # no Python repr anywhere


# Item 7: small things.


def test_dry_run_counts_one_url_in_the_singular(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _dry(capsys, "http://h/")[1].endswith("\n1 URL: 1 valid, 0 invalid\n")
    assert _dry(capsys, "http://h/", "http://i/")[1].endswith("\n2 URLs: 2 valid, 0 invalid\n")


def test_the_readme_lists_every_key_of_the_summary_json() -> None:
    start = "- `--summary-json PATH` writes the same summary for monitoring:"
    paragraph = OPTIONS.split(start, 1)[1].split("\n- ", 1)[0]
    listed = set(re.findall(r'"([a-z_0-9]+)"', paragraph))
    keys = set(Summary().to_dict())
    assert keys - listed == set(), "keys of the summary JSON docs/options.md does not list"
    nested = {"p50", "p95", "max", "2xx", "404", "ConnectError", "SIGINT", "SIGTERM", "deadline"}
    nested |= {"new", "changed", "down", "up"}  # "changes" (--state)
    assert listed - keys - nested == set(), "keys docs/options.md lists that the summary JSON does not have"


def test_the_readme_says_python_dash_m_imports_from_the_working_directory() -> None:
    usage = " ".join(OPTIONS.split("\n## Usage\n", 1)[1].split("\n## Options\n", 1)[0].split()).lower()
    assert "python -m fetchcli" in usage
    assert "working directory" in usage and "cron" in usage


@pytest.mark.parametrize(
    ("args", "drop"),
    [
        (["--fields", "url"], "drop --fields"),
        (["-f", "csv"], "drop --format"),
        (["-f", "csv", "--fields", "url"], "drop --format and --fields"),
        (["-o", "out.csv", "--fields", "url"], "drop -o and --fields"),
        (["-o", "out.csv", "-f", "csv", "--fields", "url"], "drop -o, --format and --fields"),
    ],
)
def test_resumes_refusal_names_what_was_given(tmp_path: Path, args: list[str], drop: str) -> None:
    done = fetchcli_in_clean_env("--resume", "r.jsonl", *args, "http://127.0.0.1:9/", cwd=tmp_path)
    expected = f"fetchcli: error: --resume writes whole JSON Lines records to its own FILE: {drop}\n"
    assert (done.returncode, done.stderr) == (2, expected)


def test_dry_run_names_the_ca_bundle_used(cwd: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """Not the rule ("SSL_CERT_FILE / SSL_CERT_DIR when set, else certifi"): the one this run uses."""
    _, out, _ = _dry(capsys, "http://h/")
    assert _line(out, "tls") == f"verified against certifi's bundle {certifi.where()}"
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    _, out, _ = _dry(capsys, "http://h/")
    assert _line(out, "tls") == f"verified against {certifi.where()} (SSL_CERT_FILE)"
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("SSL_CERT_DIR", str(Path(certifi.where()).parent))
    _, out, _ = _dry(capsys, "http://h/")
    assert _line(out, "tls") == f"verified against {Path(certifi.where()).parent} (SSL_CERT_DIR)"
