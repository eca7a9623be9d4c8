"""Credentials: URL user:password becomes Basic auth on both backends and is masked in every
output; secret headers never reach another origin, nor any output."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from fetchcli.redact import Redactor, mask_credentials, url_secrets
from fetchcli.settings import Backend, RequestSettings, Settings
from tests.helpers import run
from tests.server import LoopbackServer, running_server


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def two_origins() -> Iterator[LoopbackServer]:
    """One server on 127.0.0.1 and 127.0.0.2: the same port, two origins, no DNS."""
    with running_server(extra_hosts=("127.0.0.2",)) as srv:
        yield srv


def test_masking() -> None:
    assert mask_credentials("http://user:secret@host/p@th") == "http://user:***@host/p@th"
    assert mask_credentials("https://TOKEN@host/") == "https://***@host/"
    assert mask_credentials("http://host/a@b") == "http://host/a@b"
    assert mask_credentials("host/?q=a@b") == "host/?q=a@b"
    basic = _basic("u", "p@ss")
    assert set(url_secrets("http://u:p%40ss@h/")) == {"p%40ss", "p@ss", basic, basic.split()[1]}
    assert set(url_secrets("http://TOKEN@h/")) == {"TOKEN", _basic("TOKEN", ""), _basic("TOKEN", "").split()[1]}
    assert url_secrets("http://h/a@b") == ()
    redact = Redactor.for_headers([("Authorization", "Bearer tok123"), ("X-Other", "visible")])
    assert redact("got Bearer tok123 and tok123, visible") == "got *** and ***, visible"


def test_url_credentials_are_basic_auth_on_both_backends(server: LoopbackServer, backend: Backend) -> None:
    path = f"/headers?auth={backend.value}"
    (result,) = run([f"http://user:s%3Acret@127.0.0.1:{server.port}{path}"], backend=backend)
    assert result.ok, result.error
    assert server.stats.headers_seen[path]["authorization"] == _basic("user", "s:cret")
    assert result.url == f"http://user:***@127.0.0.1:{server.port}{path}"
    assert result.final_url == result.url


def test_credentials_in_a_redirect_location(two_origins: LoopbackServer, backend: Backend) -> None:
    path = f"/headers?location={backend.value}"
    target = f"http://bob:hunter2@127.0.0.2:{two_origins.port}{path}"
    (result,) = run(
        [two_origins.url(f"/location?to={target}")],
        Settings(request=RequestSettings(follow_redirects=True)),
        backend=backend,
    )
    assert result.ok, result.error
    assert two_origins.stats.headers_seen[path]["authorization"] == _basic("bob", "hunter2")
    assert result.final_url == f"http://bob:***@127.0.0.2:{two_origins.port}{path}"


def test_secret_headers_do_not_follow_a_redirect_to_another_origin(
    two_origins: LoopbackServer, backend: Backend
) -> None:
    headers = (("Authorization", "Bearer tok"), ("Cookie", "c=1"), ("Proxy-Authorization", "Basic cHJveHk="))
    settings = Settings(request=RequestSettings(follow_redirects=True, headers=headers))
    port, tag = two_origins.port, backend.value
    paths = [f"/headers?{case}={tag}" for case in ("cross", "same", "creds-same", "creds-cross")]
    results = run(
        [
            two_origins.url(f"/location?to=http://127.0.0.2:{port}{paths[0]}"),  # another origin
            two_origins.url(f"/location?to={paths[1]}"),  # the same origin
            f"http://user:pw@127.0.0.1:{port}/location?to={paths[2]}",  # URL credentials, same origin
            f"http://user:pw@127.0.0.1:{port}/location?to=http://127.0.0.2:{port}{paths[3]}",
        ],
        settings,
        backend=backend,
    )
    assert all(r.ok for r in results), [r.error for r in results]
    cross, same_origin, creds_same, creds_cross = (two_origins.stats.headers_seen[p] for p in paths)
    for seen in (cross, creds_cross):
        assert "authorization" not in seen and "cookie" not in seen
    assert same_origin["authorization"] == "Bearer tok"
    assert creds_same["authorization"] == _basic("user", "pw")
    for seen in (cross, same_origin, creds_same, creds_cross):  # never forwarded, whatever the target
        assert "proxy-authorization" not in seen


@pytest.mark.parametrize("fmt", ["jsonl", "json", "table"])
def test_secrets_appear_in_no_output(server: LoopbackServer, fmt: str) -> None:
    """Masked in records, table and stderr, in every format; including in error messages."""
    urls = [
        f"http://user:secret@127.0.0.1:{server.port}/ok",
        f"http://user:secret@127.0.0.1:{server.port}/status/500",
        "http://user:secret@127.0.0.1:9/",  # an error
        "http://user:secret@bad host/",  # invalid input
        f"http://user:secret@127.0.0.1:{server.port}/location?to=/ok",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "fetchcli", "-f", fmt, "-L", "-H", "Authorization: Bearer secret", *urls],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 1
    assert "secret" not in done.stdout and "secret" not in done.stderr
    assert "user:***@" in done.stdout


def test_a_bad_header_is_not_echoed() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fetchcli", "-H", "Authorization Bearer secret", "http://127.0.0.1:9/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "secret" not in done.stderr and "--header" in done.stderr
