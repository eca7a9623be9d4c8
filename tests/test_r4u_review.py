"""Review r4u (a new user of issues 21 and 22): ``--all-ips`` with ``--metrics`` and the table."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from fetchcli.cli.app import app
from fetchcli.cli.status import ExitStatus
from fetchcli.settings import Backend
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
