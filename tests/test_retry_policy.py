"""The retry policy on its own (fetchcli/engine/retry.py): pure functions, no network."""

from __future__ import annotations

import pytest

from fetchcli.engine.retry import AFTER_SENDING, BEFORE_SENDING, backoff_seconds, may_retry, retry_after_seconds
from fetchcli.errors import ERROR_TYPES
from fetchcli.errortype import ErrorType
from fetchcli.settings import RetrySettings

POLICY = RetrySettings(retries=3, backoff=0.5, max_wait=4)


def test_the_retryable_sets_are_in_the_vocabulary() -> None:
    assert set(ERROR_TYPES) >= BEFORE_SENDING | AFTER_SENDING
    assert not BEFORE_SENDING & AFTER_SENDING


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "delete"])
def test_a_failure_before_sending_is_retried_for_any_method(method: str) -> None:
    for error_type in BEFORE_SENDING:
        assert may_retry(method, error_type, None, POLICY)


@pytest.mark.parametrize(("method", "expected"), [("GET", True), ("PUT", True), ("POST", False), ("PATCH", False)])
def test_after_sending_only_idempotent_methods(method: str, expected: bool) -> None:
    for error_type in AFTER_SENDING:
        assert may_retry(method, error_type, None, POLICY) is expected
    assert may_retry(method, None, 503, POLICY) is expected
    everything = RetrySettings(retries=3, all_methods=True)
    assert may_retry(method, ErrorType.ReadError, None, everything) and may_retry(method, None, 503, everything)


def test_what_a_retry_cannot_fix() -> None:
    for error_type in (
        ErrorType.CertificateError,
        ErrorType.TooManyRedirects,
        ErrorType.DecodingError,
        ErrorType.InvalidURL,
        ErrorType.Unexpected,
    ):
        assert not may_retry("GET", error_type, None, POLICY)
    assert not may_retry("GET", None, 404, POLICY) and not may_retry("GET", None, 200, POLICY)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), (" 12 ", 12.0), ("0", 0.0), ("²", None), ("1.5", None), ("-3", None), ("soon", None), ("", None)],
)
def test_retry_after_odd_values(value: str, expected: float | None) -> None:
    assert retry_after_seconds(value) == expected


def test_backoff_bounds() -> None:
    for attempt in range(1, 12):
        for _ in range(50):
            wait = backoff_seconds(attempt, POLICY)
            assert 0 <= wait <= min(POLICY.max_wait, POLICY.backoff * 2 ** (attempt - 1))
    assert backoff_seconds(1, POLICY, "2", 429) == 2  # Retry-After on 429 and 503 replaces the backoff...
    assert backoff_seconds(1, POLICY, "120", 503) == 4  # ...capped by --retry-max-wait
    assert backoff_seconds(1, POLICY, "120", 500) <= 0.5  # other statuses: the backoff
