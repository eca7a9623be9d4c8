"""Review of issue 18, finding 10: Retry-After and stops. A huge Retry-After is reported as
such ("more than 1e+09 s", never "inf s"); --retry-max-wait takes a finite number up to a day;
a wait that would leave no time for the next try before the --deadline is not made (the 503
known is reported, not turned into Cancelled); and a Cancelled record keeps the status and the
redirects already received, as TotalTimeout does."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from fetchcli.engine import retry
from fetchcli.engine.run import Stop, fetch
from fetchcli.models import FetchResult
from fetchcli.settings import (
    Backend,
    RequestSettings,
    RetrySettings,
    Settings,
    SettingsError,
    TimeoutSettings,
    validate,
)
from tests.helpers import fetchcli_in_clean_env, run
from tests.server import LoopbackServer


def _key(name: str, backend: Backend) -> str:
    return f"{name}-{backend.value}-{uuid.uuid4().hex[:8]}"


def test_a_huge_retry_after_is_said_as_such(server: LoopbackServer, backend: Backend) -> None:
    url = server.url(f"/fail/{_key('huge', backend)}/5?status=503&retry_after={'9' * 400}")
    settings = Settings(retry=RetrySettings(retries=1), timeouts=TimeoutSettings(max_time=5))
    [result] = run([url], settings, backend=backend)
    assert result.status == 503 and result.attempts == 1
    assert result.error is not None and result.error.type == "RetryAfterTooLong"
    assert "more than 1e+09 s" in result.error.message and "inf" not in result.error.message


def test_retry_after_and_backoff_stay_finite() -> None:
    cap = getattr(retry, "RETRY_AFTER_CAP", None)
    assert cap is not None and retry.retry_after_seconds("9" * 5000) == cap  # float() gave inf
    assert retry.retry_after_seconds("Fri, 31 Dec 9999 23:59:59 GMT") == cap
    assert retry.retry_after_seconds("0120") == 120.0
    policy = RetrySettings(retries=5000, backoff=0.3, max_wait=2)
    assert 0 <= retry.backoff_seconds(2000, policy) <= 2  # 2 ** 1999 as a float overflowed


@pytest.mark.parametrize("value", [1e308, 86_401.0])
def test_retry_max_wait_is_at_most_a_day(value: float) -> None:
    with pytest.raises(SettingsError, match="--retry-max-wait"):
        validate(Settings(retry=RetrySettings(max_wait=value)))
    validate(Settings(retry=RetrySettings(max_wait=86_400)))


def test_retry_max_wait_on_the_command_line() -> None:
    done = fetchcli_in_clean_env("--retry-max-wait", "1e308", "http://127.0.0.1:9/")
    assert done.returncode == 2 and "--retry-max-wait" in done.stderr and "Traceback" not in done.stderr


def test_a_wait_into_the_deadline_is_not_made(server: LoopbackServer, backend: Backend) -> None:
    """Retry-After 1 with 1.2 s left: sleeping would leave no time for the next try before the
    deadline; the 503 is the record (it was Cancelled, status null, or a second try)."""
    url = server.url(f"/fail/{_key('margin', backend)}/5?status=503&retry_after=1")
    settings = Settings(retry=RetrySettings(retries=1), deadline=1.2)
    before = server.stats.requests
    [result] = run([url], settings, backend=backend)
    assert server.stats.requests - before == 1
    assert result.status == 503 and result.attempts == 1
    assert result.error is not None and result.error.type == "RetryAfterTooLong"
    assert "--deadline" in result.error.message


async def _stopped_once_seen(urls: list[str], settings: Settings, server: LoopbackServer, seen: int) -> FetchResult:
    """The record of the one URL, the run stopped (as by a signal) once the server saw ``seen``
    more requests."""
    stop = Stop()
    before = server.stats.requests
    results: list[FetchResult] = []

    async def collect() -> None:
        async for result in fetch(urls, settings, stop=stop):
            results.append(result)

    task = asyncio.create_task(collect())
    for _ in range(600):
        if server.stats.requests - before >= seen:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # the response read, the wait (or the next hop) begun
    stop.request("a signal")
    await asyncio.wait_for(task, 30)
    [result] = results
    return result


def test_a_cancelled_record_keeps_the_status_received(server: LoopbackServer, backend: Backend) -> None:
    url = server.url(f"/fail/{_key('cancel', backend)}/5?status=503&retry_after=20")
    settings = Settings(
        retry=RetrySettings(retries=1, max_wait=30), timeouts=TimeoutSettings(max_time=60), backend=backend
    )
    result = asyncio.run(_stopped_once_seen([url], settings, server, 1))
    assert result.error is not None and result.error.type == "Cancelled"
    assert (result.status, result.attempts) == (503, 1)
    assert result.elapsed_ms is None  # cut short by the stop: not the URL's time


def test_a_cancelled_record_keeps_the_redirects_followed(server: LoopbackServer, backend: Backend) -> None:
    url = server.url("/location?to=%2Fhang")
    settings = Settings(request=RequestSettings(follow_redirects=True), backend=backend)
    result = asyncio.run(_stopped_once_seen([url], settings, server, 2))
    assert result.error is not None and result.error.type == "Cancelled"
    assert [(hop.url, hop.status) for hop in result.redirects] == [(url, 302)]
    assert result.status is None and result.attempts == 2
