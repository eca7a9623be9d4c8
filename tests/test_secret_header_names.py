"""Which request headers carry a secret by their name (redact.is_secret_header): masked in
--dry-run and in every message, dropped on a redirect to another origin."""

from __future__ import annotations

import pytest

from fetchcli.redact import is_secret_header
from tests.helpers import fetchcli_in_clean_env as fetchcli

SECRET = [
    "Authorization",
    "Proxy-Authorization",
    "Cookie",
    "X-Api-Key",
    "PRIVATE-TOKEN",
    "X-Vault-Token",
    "X-Access-Token",
    "X-Amz-Security-Token",
    "X-Goog-Api-Key",
    "X_API_KEY",
    "X-RapidAPI-Key",
    "X-Api-Secret",
    "Client-Password",
    "X-Session-Id",
    "X-Client-Credentials",
    "apikey",
    "X-Auth-Key",
    "X-Auth",
    "X-Access-Key",
    "Authentication",
    "X-Amz-Signature",
    "X-CSRFToken",
    "X-XSRF-TOKEN",
    "X-Private-Key",
]
NOT_SECRET = [
    "Accept", "User-Agent", "X-Request-Id", "Idempotency-Key", "Sec-WebSocket-Key", "X-Tokenizer", "Sessionid",
    "Accept-Language", "X-Author",
]  # fmt: skip


@pytest.mark.parametrize("name", SECRET)
def test_a_credential_header_is_secret_by_its_name(name: str) -> None:
    assert is_secret_header(name)
    assert is_secret_header(name.upper()) and is_secret_header(name.lower())


@pytest.mark.parametrize("name", NOT_SECRET)
def test_an_ordinary_header_is_not(name: str) -> None:
    assert not is_secret_header(name)
    assert is_secret_header(name, extra=[name.upper()])  # unless --secret-header names it


def test_dry_run_masks_a_vault_token() -> None:
    done = fetchcli("--dry-run", "-H", "X-Vault-Token: hvs.s3cr3tvalue", "http://127.0.0.1:9/")
    assert done.returncode == 0, done.stderr
    assert "hvs.s3cr3tvalue" not in done.stdout + done.stderr
    assert "X-Vault-Token: ***" in done.stdout


def test_each_cookie_of_a_cookie_header_is_a_secret_of_its_own() -> None:
    """A server that repeats one cookie, or its value alone, has it masked (not only the whole
    header's value)."""
    from fetchcli.redact import Redactor
    from fetchcli.settings import RequestSettings

    redact = Redactor.for_request(RequestSettings(headers=(("Cookie", "sid=COOKIEVAL123; theme=dark"),)), None)
    shown = redact("echo: sid=COOKIEVAL123 and COOKIEVAL123")
    assert "COOKIEVAL123" not in shown
