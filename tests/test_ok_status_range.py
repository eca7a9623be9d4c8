"""``--ok-status`` refuses codes no response can have (issue 18 review, LOW 11): a status above
599 is a protocol error, so ``6xx`` or ``650`` could never match; before anything is sent."""

from __future__ import annotations

import pytest

from tests.helpers import fetchcli_in_clean_env
from tests.server import running_server


@pytest.mark.live
@pytest.mark.parametrize("codes", ["6xx", "650", "2xx,700-799", "9XX"])
def test_ok_status_above_599_is_a_usage_error(codes: str) -> None:
    with running_server() as server:
        done = fetchcli_in_clean_env("--ok-status", codes, server.url("/ok"))
        assert server.stats.requests == 0
    assert done.returncode == 2, done.stderr
    assert "--ok-status" in done.stderr and "599" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


@pytest.mark.live
@pytest.mark.parametrize("codes", ["2xx", "200-999", "5xx,599"])
def test_ok_status_within_the_statuses_is_taken(codes: str) -> None:
    with running_server() as server:
        done = fetchcli_in_clean_env("--ok-status", codes, "-f", "jsonl", server.url("/ok"))
        assert server.stats.requests == 1, done.stderr


@pytest.mark.parametrize("codes", ["600", "503,999"])
def test_retry_on_a_status_no_response_has_is_a_usage_error(codes: str) -> None:
    """As --ok-status: a code above 599 never comes (it is a protocol error), so --retry-on
    naming one is a slip, said before anything is sent."""
    from fetchcli.settings import RetrySettings, Settings, SettingsError, parse_status_list

    with pytest.raises(SettingsError, match=r"--retry-on.*599"):
        Settings(retry=RetrySettings(retry_on=parse_status_list(codes)))
    Settings(retry=RetrySettings(retry_on=parse_status_list("429,503,599")))
