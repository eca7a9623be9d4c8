"""Review r4u (a new user of issues 21 and 22): --all-ips with --metrics and the table, JSON Lines input."""

from __future__ import annotations

import io
import json
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fetchcli.cli.app import app
from fetchcli.cli.status import ExitStatus
from fetchcli.errortype import ErrorType
from fetchcli.models import ErrorInfo, FetchResult
from fetchcli.output.render.table import TableSink
from fetchcli.settings import Backend
from fetchcli.summary import Summary
from tests.server import LoopbackServer
from tests.test_metrics import check_with_promtool, parse

runner = CliRunner()


def test_all_ips_metrics_have_a_series_per_address(backend: Backend, server: LoopbackServer, tmp_path: Path) -> None:
    # 127.0.0.3 refuses (the server listens on 127.0.0.1 only); it is probed first, so a
    # series per URL would show the last probe's success and hide the refused address.
    url = f"http://site.test:{server.port}/ok"
    out = tmp_path / "fetchcli.prom"
    args = ["--backend", backend.value, "--all-ips", "--resolve", f"site.test:{server.port}:127.0.0.3,127.0.0.1"]
    result = runner.invoke(app, [*args, "--metrics", str(out), "-o", str(tmp_path / "r.jsonl"), url])
    assert result.exit_code == ExitStatus.FAILURES, result.output
    check_with_promtool(out)
    samples = parse(out.read_text())
    success = {
        dict(labels).get("ip"): value
        for (name, labels), value in samples.items()
        if name == "probe_success" and dict(labels)["url"] == url
    }
    assert success == {"127.0.0.3": 0, "127.0.0.1": 1}
    assert samples[("probe_http_status_code", (("ip", "127.0.0.1"), ("url", url)))] == 200


def test_all_ips_table_rows_say_which_address(server: LoopbackServer) -> None:
    # A URL's rows share its index and URL: without the address they cannot be told apart.
    url = f"http://site.test:{server.port}/ok"
    args = ["-f", "table", "--all-ips", "--resolve", f"site.test:{server.port}:127.0.0.3,127.0.0.1", url]
    result = runner.invoke(app, args, env={"COLUMNS": "140"})
    assert result.exit_code == ExitStatus.FAILURES, result.output
    rows = [line for line in result.stdout.splitlines() if "site.test" in line]
    assert len(rows) == 2, result.stdout
    assert f"{url} [127.0.0.3]" in rows[0] and "ConnectionRefused" in rows[0]
    assert f"{url} [127.0.0.1]" in rows[1] and " 200 " in rows[1]


def test_without_all_ips_the_table_shows_no_address(server: LoopbackServer) -> None:
    result = runner.invoke(app, ["-f", "table", server.url("/ok")], env={"COLUMNS": "140"})
    assert result.exit_code == ExitStatus.OK, result.output
    assert "[127.0.0.1]" not in result.stdout


def test_a_json_lines_file_read_as_a_url_list_says_so_and_shows_no_secret(tmp_path: Path) -> None:
    # requests.json is not *.jsonl: its lines are read as URLs. Each says what to do, and its
    # record shows the object's url, not the line (whose headers may carry a token).
    requests = tmp_path / "requests.json"
    requests.write_text(
        '{"url": "http://127.0.0.1:1/a", "headers": {"Authorization": "Bearer s3cret-token"}}\n'
        '{"headers": {"Authorization": "Bearer s3cret-token"}}\n'
    )
    result = runner.invoke(app, ["-i", str(requests), "-f", "jsonl"])
    assert result.exit_code == ExitStatus.FAILURES, result.output
    assert "s3cret" not in result.stdout
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["url"] for r in records] == ["http://127.0.0.1:1/a", "{...}"]
    for record in records:
        assert record["error"]["type"] == "InvalidURL"
        assert "--input-format jsonl" in record["error"]["message"]


def test_the_vegeta_conversion_in_the_docs_makes_requests_fetchcli_sends(
    server: LoopbackServer, tmp_path: Path
) -> None:
    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("jq is not installed")
    docs = (Path(__file__).resolve().parent.parent / "docs" / "options.md").read_text()
    command = re.search(r"\*\*Coming from vegeta\.\*\*.*?```sh\n(.*?)\n```", docs, re.DOTALL)
    assert command is not None
    targets = [
        {"method": "POST", "url": server.url("/headers?v=1"), "body": "aGVsbG8=", "header": {"X-A": ["1", "2"]}},
        {"method": "GET", "url": server.url("/headers?v=2")},
        {"url": server.url("/headers?v=3"), "header": {}},
    ]
    (tmp_path / "targets.json").write_text("".join(json.dumps(t) + "\n" for t in targets))
    done = subprocess.run(["bash", "-c", command.group(1)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = runner.invoke(app, ["-i", str(tmp_path / "requests.jsonl"), "-f", "jsonl", "--snippet-length", "400"])
    assert result.exit_code == ExitStatus.OK, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["method"] for r in records] == ["POST", "GET", "GET"]
    assert "X-A: 1, 2" in records[0]["snippet"] and "Content-Length: 5" in records[0]["snippet"]


def _has_no_ipv6(name: str) -> bool:
    try:
        socket.getaddrinfo(name, 80, socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return True
    return False


@pytest.mark.parametrize("all_ips", [False, True])
def test_a_lookup_failed_under_6_says_only_ipv6_was_asked_for(
    backend: Backend, server: LoopbackServer, all_ips: bool
) -> None:
    # The system's "Name or service not known" for localhost, which has an IPv4 address, reads
    # as if the name did not exist: the record says that -6 asked for IPv6 addresses only.
    urls = ["http://nx.test:1/"]
    if _has_no_ipv6("localhost"):
        urls.append(f"http://localhost:{server.port}/ok")
    args = ["--backend", backend.value, "-6", "-f", "jsonl", *(["--all-ips"] if all_ips else []), *urls]
    result = runner.invoke(app, args)
    assert result.exit_code == ExitStatus.FAILURES, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == len(urls)
    for record in records:
        assert record["error"]["type"] == "DNSError"
        assert record["error"]["message"].endswith("(IPv6 addresses only: -6)"), record["error"]


def test_a_lookup_failed_without_4_or_6_is_said_as_before(backend: Backend) -> None:
    result = runner.invoke(app, ["--backend", backend.value, "-f", "jsonl", "http://nx.test:1/"])
    record = json.loads(result.stdout)
    assert record["error"]["type"] == "DNSError" and "addresses only" not in record["error"]["message"]


def test_the_not_started_line_names_an_all_ips_index_once() -> None:
    # --all-ips: a URL's probes share its index; #1 three times read "#0 to #1, #1, #1".
    out = io.StringIO()
    sink = TableSink(out, width=200, held=10, color=False, addresses=True)
    error = ErrorInfo(ErrorType.NotStarted, "not started: stopped by --deadline 1.5 s")
    sink.write(
        FetchResult(index=0, url="http://site.test/", ok=True, status=200, elapsed_ms=1.0, remote_ip="127.0.0.1")
    )
    for index, address in ((0, "::1"), (1, "127.0.0.1"), (1, "::1"), (1, "127.0.0.2"), (3, "127.0.0.1")):
        sink.write(FetchResult(index=index, url="http://site.test/", ok=False, error=error, remote_ip=address))
    sink.close(Summary())
    assert out.getvalue().splitlines()[-1].strip() == "5 not started: stopped by --deadline 1.5 s (#0 to #1, #3)"


def test_a_json_object_given_as_an_argument_gets_no_input_format_hint() -> None:
    # Arguments are always URLs, whatever --input-format says: the hint would mislead.
    result = runner.invoke(app, ["-f", "jsonl", '{"url": "http://127.0.0.1:1/"}'])
    record = json.loads(result.stdout)
    assert record["error"]["type"] == "InvalidURL" and "--input-format" not in record["error"]["message"]


def test_a_json_object_on_stdin_read_as_urls_gets_the_hint() -> None:
    result = runner.invoke(app, ["-f", "jsonl"], input='{"url": "http://127.0.0.1:1/"}\n')
    record = json.loads(result.stdout)
    assert record["url"] == "http://127.0.0.1:1/" and "--input-format jsonl" in record["error"]["message"]
