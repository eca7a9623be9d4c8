"""What counts as success: --ok-status, --expect-text, --expect-regex, and --max-failures for the
exit status. Live on both backends, and through the CLI as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fetchcli.settings import Backend, Settings, SettingsError, SuccessSettings, parse_status_ranges
from tests.helpers import run
from tests.server import LoopbackServer


def test_status_ranges() -> None:
    assert parse_status_ranges("200-299, 301") == ((200, 299), (301, 301))
    assert parse_status_ranges("2xx") == ((200, 299),)  # a class (issue 18): tests/test_output_rules.py
    for bad in ("", "abc", "200-", "2x"):
        with pytest.raises(SettingsError, match="--ok-status"):
            parse_status_ranges(bad)
    with pytest.raises(SettingsError, match="--ok-status"):
        Settings(success=SuccessSettings(ok_status=((299, 200),)))
    with pytest.raises(SettingsError, match="--expect-regex is not a regular expression"):
        Settings(success=SuccessSettings(expect_regex="("))


def test_ok_status_decides_what_is_ok(server: LoopbackServer, backend: Backend) -> None:
    only_2xx = Settings(success=SuccessSettings(ok_status=((200, 299),)))
    ok, moved = run([server.url("/ok"), server.url("/redirect/1")], only_2xx, backend=backend)
    assert ok.ok and not moved.ok and moved.status == 302 and moved.error is None
    teapots = Settings(success=SuccessSettings(ok_status=((418, 418),)))
    (teapot,) = run([server.url("/status/418")], teapots, backend=backend)
    assert teapot.ok


def test_expectations_on_the_body(server: LoopbackServer, backend: Backend) -> None:
    found, missing = run(
        [server.url("/ok/health-up"), server.url("/ok/health-down")],
        Settings(success=SuccessSettings(expect_text="up")),
        backend=backend,
    )
    assert found.ok and found.error is None
    assert not missing.ok and missing.status == 200
    assert missing.error is not None and missing.error.type == "ExpectFailed" and "'up'" in missing.error.message
    (matched,) = run(
        [server.url("/ok/v42")], Settings(success=SuccessSettings(expect_regex=r"/v\d+$")), backend=backend
    )
    assert matched.ok


def _fetchcli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fetchcli", *args], capture_output=True, text=True, timeout=60)


def test_max_failures_sets_the_exit_status(server: LoopbackServer) -> None:
    urls = [server.url("/ok"), server.url("/status/500"), server.url("/status/404")]
    assert _fetchcli("--max-failures", "2", *urls).returncode == 0
    tolerant_of_one = _fetchcli("--max-failures", "1", *urls)
    assert tolerant_of_one.returncode == 1
    assert [json.loads(line)["ok"] for line in tolerant_of_one.stdout.splitlines()] == [True, False, False]
    health = _fetchcli("--expect-text", "nothing like this", server.url("/ok"))
    assert health.returncode == 1
    assert json.loads(health.stdout)["error"]["type"] == "ExpectFailed"
    usage = _fetchcli("--max-failures", "-1", server.url("/ok"))
    assert usage.returncode == 2 and usage.stderr == "fetchcli: error: --max-failures must be 0 or more\n"
