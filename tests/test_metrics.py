"""``--metrics FILE.prom``: the file node_exporter's textfile collector reads, parsed back with
``prometheus_client``'s text parser and checked by ``promtool check metrics`` (Debian's
``prometheus`` package; ``.ci/run`` installs it when missing), written as ``-o`` writes
(atomically, through a symlink, never over an input), bounded by ``--metrics-max-urls``, and
written by a run that ``--deadline`` or SIGTERM stopped, never by one refused as a usage error."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from fetchcli.cli.app import app, main
from fetchcli.cli.status import ExitStatus
from fetchcli.models import FetchResult, Timing, TlsInfo
from fetchcli.output.metrics import MetricsCollector, escape_label
from fetchcli.settings import Backend
from fetchcli.summary import Summary
from tests.certs import issue, server_context
from tests.server import LoopbackServer, running_server

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg, unused-ignore]
    except TypeError:  # Click 8.2 and later
        return CliRunner()


runner = _runner()


def promtool() -> str:
    """The path of ``promtool``; skipped when it is missing, except in CI (which installs it)."""
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is needed: .ci/run installs it (Debian's prometheus package)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def check_with_promtool(path: Path) -> None:
    done = subprocess.run(
        [promtool(), "check", "metrics"], stdin=path.open("rb"), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "" and done.stderr.strip() == "", done.stdout + done.stderr  # not even a lint


def parse(text: str) -> Samples:
    """Every sample of the file by (name, sorted labels); each family's HELP and TYPE once."""
    samples: Samples = {}
    names = [family.name for family in text_string_to_metric_families(text)]
    assert len(names) == len(set(names)), names
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge"
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in samples, key
            samples[key] = sample.value
    assert text.count("# HELP ") == text.count("# TYPE ") == len(names)
    return samples


def per_url(samples: Samples, name: str, **labels: str) -> dict[str, float]:
    """The samples of ``name`` (with ``labels``), by their ``url``."""
    found = {}
    for (metric, pairs), value in samples.items():
        given = dict(pairs)
        if metric == name and all(given.get(k) == v for k, v in labels.items()):
            found[given["url"]] = value
    return found


def test_the_file_names_what_blackbox_exporter_names(backend: Backend, tmp_path: Path) -> None:
    with running_server() as server:
        ok, missing, hops = server.url("/ok/a"), server.url("/status/404"), server.url("/redirect/2")
        odd = server.url('/ok/q"uote\\back')  # a quote and a backslash in a label value
        secret = f"http://user:hunter22@127.0.0.1:{server.port}/ok/secret"
        refused = "http://127.0.0.1:1/"
        out = tmp_path / "fetchcli.prom"
        args = ["-L", "--backend", backend.value, "--metrics", str(out), "-o", str(tmp_path / "r.jsonl")]
        result = runner.invoke(app, [*args, ok, missing, hops, odd, secret, refused, "ftp://files.example/x"])
    assert result.exit_code == ExitStatus.FAILURES, result.output
    text = out.read_text()
    assert "hunter22" not in text
    check_with_promtool(out)
    samples = parse(text)
    masked = f"http://user:***@127.0.0.1:{server.port}/ok/secret"
    urls = [ok, missing, hops, odd, masked, refused, "ftp://files.example/x"]
    assert per_url(samples, "probe_success") == dict(zip(urls, [1, 0, 1, 1, 1, 0, 0], strict=True))
    # No response, no status (nor version, nor ssl): never an invented 0.
    assert per_url(samples, "probe_http_status_code") == dict(zip(urls[:5], [200, 404, 200, 200, 200], strict=True))
    assert per_url(samples, "probe_http_version") == dict.fromkeys(urls[:5], 1.1)
    assert per_url(samples, "probe_http_ssl") == dict.fromkeys(urls[:5], 0)
    assert per_url(samples, "probe_ip_protocol") == dict.fromkeys(urls[:5], 4)
    assert per_url(samples, "probe_http_redirects") == dict(zip(urls, [0, 0, 2, 0, 0, 0, 0], strict=True))
    assert per_url(samples, "probe_http_content_length")[ok] > 0
    durations = per_url(samples, "probe_duration_seconds")
    assert set(durations) == set(urls[:6]) and all(0 < s < 30 for s in durations.values())  # InvalidURL: none
    # 127.0.0.1 is not looked up: no resolve phase, no DNS sample; a new connection was timed.
    assert per_url(samples, "probe_dns_lookup_time_seconds") == {}
    assert per_url(samples, "probe_http_duration_seconds", phase="resolve") == {}
    assert per_url(samples, "probe_http_duration_seconds", phase="tls") == {}
    assert set(per_url(samples, "probe_http_duration_seconds", phase="processing")) == set(urls[:5])
    assert per_url(samples, "probe_ssl_earliest_cert_expiry") == {}
    results = {dict(labels)["result"]: value for (name, labels), value in samples.items() if name == "fetchcli_urls"}
    assert results == {"ok": 4, "failed": 3, "cancelled": 0, "not_started": 0}
    assert samples[("fetchcli_run_complete", ())] == 1
    assert samples[("fetchcli_metrics_urls_dropped", ())] == 0
    assert 0 < samples[("fetchcli_run_duration_seconds", ())] < 60
    assert abs(samples[("fetchcli_last_run_timestamp_seconds", ())] - time.time()) < 600


def test_a_label_with_quotes_backslashes_and_newlines_round_trips() -> None:
    nasty = 'http://h.test/a"b\\c\nd\\n"\n\\'
    collector = MetricsCollector()
    collector.add(FetchResult(index=0, url=nasty, ok=False))
    collector.add(FetchResult(index=1, url="http://h.test/\x1b[31mred", ok=True, status=200))
    text = collector.render(Summary(total=2, ok=1, failed=1), now=time.time())
    assert "\x1b" not in text  # shown escaped, as in CSV: the file is safe to cat
    assert per_url(parse(text), "probe_success") == {nasty: 0, "http://h.test/\\x1b[31mred": 1}


def test_the_certificate_expiry_is_the_leafs(backend: Backend, tmp_path: Path) -> None:
    """blackbox_exporter reports the earliest expiry of the chain (its issue #340); fetchcli the
    leaf's, which is what a user renewing a certificate means."""
    ca = issue(tmp_path, "ca", days=10, is_ca=True)
    leaf = issue(tmp_path, "leaf", days=90, ca=ca)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(leaf.cert.read_bytes() + ca.cert.read_bytes())
    context = server_context(leaf)
    context.load_cert_chain(chain, leaf.key)  # the server sends the CA too: the chain's earliest
    out = tmp_path / "tls.prom"
    with running_server(ssl_context=context) as server:
        args = ["--backend", backend.value, "--cacert", str(ca.cert), "--metrics", str(out), "-o", "-"]
        result = runner.invoke(app, [*args, server.url("/ok")])
    assert result.exit_code == ExitStatus.OK, result.output
    samples = parse(out.read_text())
    [expiry] = per_url(samples, "probe_ssl_earliest_cert_expiry").values()
    assert expiry == leaf.certificate.not_valid_after_utc.replace(microsecond=0).timestamp()
    assert expiry > ca.certificate.not_valid_after_utc.timestamp() + 50 * 86400
    assert per_url(samples, "probe_http_ssl") == {server.url("/ok"): 1}
    assert len(per_url(samples, "probe_http_duration_seconds", phase="tls")) == 1


def test_per_url_series_are_bounded_and_the_run_says_how_many_were_left_out(
    server: LoopbackServer, tmp_path: Path
) -> None:
    urls = [server.url(f"/ok/{n}") for n in range(25)] + [server.url("/ok/0")]  # one URL twice: one series
    out = tmp_path / "few.prom"
    result = runner.invoke(app, ["--metrics", str(out), "--metrics-max-urls", "10", "-o", "-", *urls])
    assert result.exit_code == ExitStatus.OK, result.output
    samples = parse(out.read_text())
    assert sorted(per_url(samples, "probe_success")) == sorted(urls[:10])
    assert samples[("fetchcli_metrics_urls_dropped", ())] == 15
    assert samples[("fetchcli_urls", (("result", "ok"),))] == 26  # the totals count every URL
    check_with_promtool(out)
    totals_only = tmp_path / "none.prom"
    runner.invoke(app, ["--metrics", str(totals_only), "--metrics-max-urls", "0", "-o", "-", *urls])
    assert not per_url(parse(totals_only.read_text()), "probe_success")


def test_the_collector_keeps_at_most_max_urls_entries() -> None:
    """Memory: a long run keeps the numbers of N URLs, however many records pass."""
    collector = MetricsCollector(max_urls=100)
    for n in range(200_000):
        collector.add(FetchResult(index=n, url=f"http://h.test/{n}", ok=True, status=200))
    assert len(collector._probes) == 100 and collector.dropped == 199_900


def test_a_phase_that_was_not_timed_has_no_sample() -> None:
    collector = MetricsCollector()
    reused = Timing(dns_ms=None, connect_ms=None, tls_ms=None, ttfb_ms=12.5)  # a kept-alive connection
    fresh = Timing(dns_ms=2.0, connect_ms=3.0, tls_ms=5.0, ttfb_ms=20.0)
    failed = Timing(dns_ms=1.0, connect_ms=None, tls_ms=None, ttfb_ms=None)
    tls = TlsInfo("TLSv1.3", None, "2030-01-02T03:04:05Z", 1000, None, None, (), False, True)
    for n, timing in enumerate((reused, fresh, failed)):
        collector.add(FetchResult(index=n, url=f"http://h.test/{n}", ok=True, timing=timing, tls=tls))
    samples = parse(collector.render(Summary(), now=0.0))
    phases = {
        phase: per_url(samples, "probe_http_duration_seconds", phase=phase)
        for phase in ("resolve", "connect", "tls", "processing", "transfer")
    }
    assert phases == {
        "resolve": {"http://h.test/1": 0.002, "http://h.test/2": 0.001},
        "connect": {"http://h.test/1": 0.003},
        "tls": {"http://h.test/1": 0.005},
        "processing": {"http://h.test/0": 0.0125, "http://h.test/1": 0.01},
        "transfer": {},
    }
    assert per_url(samples, "probe_dns_lookup_time_seconds") == phases["resolve"]
    expiry = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc).timestamp()
    assert set(per_url(samples, "probe_ssl_earliest_cert_expiry").values()) == {expiry}


def test_a_run_stopped_by_the_deadline_still_writes_its_metrics(server: LoopbackServer, tmp_path: Path) -> None:
    out = tmp_path / "cron.prom"
    urls = [server.url("/ok/first"), *(server.url(f"/hang?{n}") for n in range(3))]
    result = runner.invoke(app, ["--deadline", "2", "-c", "1", "--metrics", str(out), "-o", "-", *urls])
    assert result.exit_code == ExitStatus.FAILURES, result.output
    samples = parse(out.read_text())
    assert samples[("fetchcli_run_complete", ())] == 0
    counts = {dict(labels)["result"]: v for (name, labels), v in samples.items() if name == "fetchcli_urls"}
    assert counts == {"ok": 1, "failed": 0, "cancelled": 1, "not_started": 2}
    assert per_url(samples, "probe_success") == dict(zip(urls, [1, 0, 0, 0], strict=True))


def test_workers_gather_the_same_metrics(server: LoopbackServer, tmp_path: Path) -> None:
    out = tmp_path / "w.prom"
    urls = [server.url(f"/ok/{n}") for n in range(6)] + [server.url("/status/500")]
    result = runner.invoke(app, ["--workers", "2", "--metrics", str(out), "-o", "-", *urls])
    assert result.exit_code == ExitStatus.FAILURES, result.output
    samples = parse(out.read_text())
    assert per_url(samples, "probe_success") == {url: (0 if "500" in url else 1) for url in urls}
    assert per_url(samples, "probe_http_status_code")[urls[-1]] == 500


def test_written_as_o_writes_a_file(server: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Through a symlink (the link stays, its target is replaced, its mode kept); an input, the
    -o file, or a bad option is a usage error and nothing is written."""
    real = tmp_path / "real.prom"
    real.write_text("old\n")
    real.chmod(0o640)
    link = tmp_path / "link.prom"
    link.symlink_to(real)
    result = runner.invoke(app, ["--metrics", str(link), "-o", "-", server.url("/ok")])
    assert result.exit_code == ExitStatus.OK, result.output
    assert link.is_symlink() and "probe_success" in real.read_text()
    assert real.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    urls = tmp_path / "urls.txt"
    urls.write_text(server.url("/ok") + "\n")
    for clash in (
        ["-i", str(urls), "--metrics", str(urls)],
        ["-i", str(urls), "-o", str(real), "--metrics", str(real)],
    ):
        before = real.read_text(), urls.read_text()
        assert main(clash) == ExitStatus.USAGE
        assert capsys.readouterr().err.startswith("fetchcli: error: --metrics ")
        assert (real.read_text(), urls.read_text()) == before
    new = tmp_path / "new.prom"
    assert main(["--metrics", str(new), "--metrics-max-urls", "-1", server.url("/ok")]) == ExitStatus.USAGE
    assert "--metrics-max-urls must be 0 or more" in capsys.readouterr().err
    assert not new.exists()


@pytest.fixture
def hanging_server() -> Iterator[LoopbackServer]:
    with running_server() as srv:
        yield srv


def test_a_run_ended_by_sigterm_writes_what_it_gathered(hanging_server: LoopbackServer, tmp_path: Path) -> None:
    out = tmp_path / "term.prom"
    urls = [hanging_server.url("/ok/done"), hanging_server.url("/hang")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FETCHCLI_") and "proxy" not in k.lower()}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fetchcli", "-c", "1", "--metrics", str(out), "-o", str(tmp_path / "r.jsonl"), *urls],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        records = tmp_path / "r.jsonl"
        for _ in range(600):  # the first record written: the second URL hangs
            if records.exists() and records.read_text().count("\n") >= 1:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, stderr
    samples = parse(out.read_text())
    assert samples[("fetchcli_run_complete", ())] == 0
    assert per_url(samples, "probe_success") == dict(zip(urls, [1, 0], strict=True))


# --- the README's "Monitoring from cron", run as written -------------------------------------

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
CRON_SECTION = README.split("\n## Monitoring from cron\n", 1)[1].split("\n## ", 1)[0]


def _block(language: str) -> str:
    [code] = re.findall(rf"```{language}\n(.*?)```", CRON_SECTION, re.DOTALL)
    return str(code)


def test_the_readme_crontab_line_writes_metrics_the_readme_alert_rules_fire_on(tmp_path: Path) -> None:
    """The crontab line of the README (its five time fields cut, its paths moved into tmp) run
    by a shell as cron runs it, against a loopback server; the file it writes passes ``promtool
    check metrics``; the README's rules pass ``promtool check rules``, and ``promtool test rules``
    fires UrlDown for the failing URL, and only for it, from the samples that file holds."""
    command = _block("cron").strip().split(None, 5)[5]
    for where in ("/etc/fetchcli", "/var/log/fetchcli", "/var/lib/node_exporter/textfile_collector"):
        assert where in command
        command = command.replace(where, str(tmp_path))
    with running_server() as server:
        up, down = server.url("/ok/up"), server.url("/status/503")
        (tmp_path / "urls.txt").write_text(f"{up}\n{down}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FETCHCLI_") and "proxy" not in k.lower()}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == ExitStatus.FAILURES and done.stdout == "" and done.stderr == "", done
    prom = tmp_path / "fetchcli.prom"
    check_with_promtool(prom)
    samples = parse(prom.read_text())
    assert per_url(samples, "probe_success") == {up: 1, down: 0}
    [logged] = (tmp_path / "summary.log").read_text().splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 2 URLs: 1 ok, 1 failed \(1 503\) in .*", logged), logged

    rules = tmp_path / "rules.yml"
    rules.write_text(_block("yaml"))
    checked = subprocess.run([promtool(), "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and "SUCCESS: 3 rules found" in checked.stdout, checked.stdout + checked.stderr
    # The file's samples, as a scrape every five minutes would see them for 20 minutes.
    series = [
        {"series": f'probe_success{{url="{escape_label(url)}",instance="box"}}', "values": f"{int(value)}x4"}
        for url, value in per_url(samples, "probe_success").items()
    ]
    cases = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "5m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "10m", "alertname": "UrlDown", "exp_alerts": []},  # not for 15m yet
                    {
                        "eval_time": "16m",
                        "alertname": "UrlDown",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "page", "url": down, "instance": "box"},
                                "exp_annotations": {"summary": f"{down} has failed every check for 15 minutes"},
                            }
                        ],
                    },
                ],
            }
        ],
    }
    tests = tmp_path / "rules_test.yml"
    tests.write_text(json.dumps(cases))  # JSON is YAML
    fired = subprocess.run([promtool(), "test", "rules", str(tests)], capture_output=True, text=True, timeout=60)
    assert fired.returncode == 0 and "SUCCESS" in fired.stdout, fired.stdout + fired.stderr


def test_a_metrics_file_that_cannot_be_written_is_refused_before_any_request(
    server: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = server.stats.requests
    status = main(["--metrics", str(tmp_path / "no" / "such" / "folder.prom"), server.url("/ok/never")])
    assert status == ExitStatus.USAGE
    assert capsys.readouterr().err.startswith("fetchcli: error: --metrics ")
    assert server.stats.requests == before


@pytest.mark.live
def test_all_ips_gives_each_address_its_own_series(tmp_path: Path) -> None:
    """--all-ips: a URL's series is per address (label ip); a good address never hides a dead
    one (one series per URL kept only the last record's probe_success)."""
    from tests.test_all_ips import servers_on

    with servers_on("127.0.0.2") as (two,):
        url = f"http://site.test:{two.port}/ok"
        prom = tmp_path / "f.prom"
        result = runner.invoke(
            app,
            ["-q", "-c", "1", "--all-ips", "--resolve", f"site.test:{two.port}:127.0.0.3,127.0.0.2", "--metrics", str(prom), url],
        )  # fmt: skip
        assert result.exit_code == 1, result.output
    samples = parse(prom.read_text())
    assert samples[("probe_success", (("ip", "127.0.0.3"), ("url", url)))] == 0
    assert samples[("probe_success", (("ip", "127.0.0.2"), ("url", url)))] == 1
    check_with_promtool(prom)


def test_consecutive_failures_is_a_metric_with_state(server: LoopbackServer, tmp_path: Path) -> None:
    """``fetchcli_consecutive_failures``: the record's ``consecutive_failures`` (with --state), so
    an alert can fire on the third failed run in a row whatever the crontab's interval (it was
    not a metric: only ``for:`` over ``probe_success`` could say it)."""
    up, down = server.url("/ok/up"), server.url("/status/503")
    state, out = tmp_path / "state.db", tmp_path / "s.prom"
    for _ in range(3):
        result = runner.invoke(app, ["--state", str(state), "--metrics", str(out), "-o", "-", up, down])
        assert result.exit_code == ExitStatus.FAILURES, result.output
    check_with_promtool(out)
    assert per_url(parse(out.read_text()), "fetchcli_consecutive_failures") == {up: 0, down: 3}
    result = runner.invoke(app, ["--metrics", str(out), "-o", "-", up, down])
    assert per_url(parse(out.read_text()), "fetchcli_consecutive_failures") == {}  # no --state: no sample
