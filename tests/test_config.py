"""Options from the environment (FETCHCLI_*) and a config file, their precedence, proxies from the
environment (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY), --dry-run and shell completion."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fetchcli.settings import Backend
from fetchcli.transport.proxies import bypasses, proxy_for, resolve_proxies
from tests.helpers import fetchcli_in_clean_env as fetchcli
from tests.server import LoopbackServer


def _snippet(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["snippet"])


def test_flag_beats_environment_beats_config_file_beats_default(server: LoopbackServer, tmp_path: Path) -> None:
    url = server.url("/ok/precedence")  # body: "hello from /ok/precedence"
    config = tmp_path / "cron.toml"
    config.write_text("snippet-length = 3\nmax_connections = 7\n")
    assert _snippet(fetchcli(url)) == "hello from /ok/precedence"  # the default, 80
    assert _snippet(fetchcli("--config", str(config), url)) == "hel"
    assert _snippet(fetchcli("--config", str(config), url, env={"FETCHCLI_SNIPPET_LENGTH": "5"})) == "hello"
    with_flag = fetchcli("--config", str(config), "--snippet-length", "9", url, env={"FETCHCLI_SNIPPET_LENGTH": "5"})
    assert _snippet(with_flag) == "hello fro"
    assert _snippet(fetchcli(url, env={"FETCHCLI_CONFIG": str(config)})) == "hel"


def test_the_users_own_config_file_is_read(server: LoopbackServer, tmp_path: Path) -> None:
    (tmp_path / "fetchcli").mkdir(mode=0o700)
    (tmp_path / "fetchcli" / "config.toml").write_text(
        f'urls = ["{server.url("/headers?toml")}"]\nheader = ["X-From: config"]\nfields = "url,status"\n'
    )
    (tmp_path / "fetchcli" / "config.toml").chmod(0o600)
    done = fetchcli(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"url": server.url("/headers?toml"), "status": 200}
    assert server.stats.headers_seen["/headers?toml"]["x-from"] == "config"


def test_list_options_from_the_environment_hold_one_value_per_line(server: LoopbackServer, tmp_path: Path) -> None:
    listing = tmp_path / "my urls.txt"  # a space in the name: one value per line, not per word
    listing.write_text(server.url("/headers?env") + "\n")
    env = {"FETCHCLI_HEADER": "X-One: a b\nX-Two: c", "FETCHCLI_INPUT": str(listing), "FETCHCLI_FOLLOW_REDIRECTS": "1"}
    done = fetchcli(env=env)
    assert done.returncode == 0, done.stderr
    seen = server.stats.headers_seen["/headers?env"]
    assert (seen["x-one"], seen["x-two"]) == ("a b", "c")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("bogus = 1\n", "--config {path}: unknown option 'bogus'"),
        ("timeout = \n", "--config {path}: not valid TOML"),
        ('follow-redirects = "yes"\n', "--config {path}: follow-redirects must be true or false, not text"),
        ("timeout = [1, 2]\n", "--config {path}: timeout must be text or a number"),
        ('timeout = "soon"\n', "--timeout must be a number of seconds (0 or inf for no limit), not 'soon'"),
        ("version = true\n", "--config {path}: unknown option 'version'"),
    ],
)
def test_a_bad_config_file_is_a_usage_error(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content)
    done = fetchcli("--config", str(config), "http://127.0.0.1:9/")
    assert done.returncode == 2
    assert done.stderr.startswith("fetchcli: error: " + message.format(path=config)), done.stderr
    assert done.stderr.count("\n") == 1 and done.stdout == ""


def test_a_missing_config_file_is_a_usage_error(tmp_path: Path) -> None:
    done = fetchcli("--config", str(tmp_path / "none.toml"), "http://127.0.0.1:9/")
    assert done.returncode == 2 and "--config cannot read" in done.stderr


def test_environment_proxies_resolve_as_curl_reads_them() -> None:
    env = {"HTTP_PROXY": "http://upper:1", "http_proxy": "http://lower:1", "ALL_PROXY": "proxy.corp:3128"}
    proxies = resolve_proxies(None, None, env)
    assert dict(proxies.by_scheme) == {"http": "http://lower:1", "https": "http://proxy.corp:3128"}
    assert dict(proxies.source) == {"http": "http_proxy", "https": "ALL_PROXY"}
    assert resolve_proxies(None, None, {}).by_scheme == ()
    flag = resolve_proxies("http://flag:1", None, {"NO_PROXY": "internal, .corp", "HTTPS_PROXY": "http://x:1"})
    assert flag.proxy == "http://flag:1" and flag.by_scheme == () and flag.no_proxy == ("internal", ".corp")
    assert resolve_proxies("http://flag:1", "only.this", {"NO_PROXY": "internal"}).no_proxy == ("only.this",)


@pytest.mark.parametrize(
    ("host", "no_proxy", "direct"),
    [
        ("example.com", ("example.com",), True),
        ("www.example.com", ("example.com",), True),
        ("www.example.com", (".example.com",), True),
        ("badexample.com", ("example.com",), False),
        ("EXAMPLE.com", ("example.com",), True),
        ("10.1.2.3", ("10.0.0.0/8",), True),
        ("11.1.2.3", ("10.0.0.0/8",), False),
        ("127.0.0.1", ("127.0.0.1",), True),
        ("::1", ("::1",), True),
        ("[::1]", ("::1/128",), True),
        ("anything", ("*",), True),
        ("example.com", (), False),
    ],
)
def test_no_proxy_matching(host: str, no_proxy: tuple[str, ...], direct: bool) -> None:
    assert bypasses(host, no_proxy) is direct
    assert (proxy_for("https", host, "http://p:1", (), no_proxy) is None) is direct


@pytest.mark.parametrize("backend", [Backend.aiohttp, Backend.httpx])
def test_proxy_from_the_environment_and_its_exceptions(server: LoopbackServer, backend: Backend) -> None:
    """The loopback server answers proxied requests with 'proxied <target>'."""
    env = {"http_proxy": server.url("").rstrip("/"), "NO_PROXY": "localhost"}
    far = "http://far-away.invalid/page"
    through = fetchcli("--backend", backend.value, far, env=env)
    assert _snippet(through) == f"proxied {far}"
    direct = fetchcli("--backend", backend.value, server.url("/ok/np").replace("127.0.0.1", "localhost"), env=env)
    assert _snippet(direct) == "hello from /ok/np"  # NO_PROXY: straight to the server
    ignored = fetchcli("--backend", backend.value, "--no-env-proxy", far, env=env)
    assert json.loads(ignored.stdout)["error"]["type"] == "DNSError"
    flag = fetchcli("--backend", backend.value, "--proxy", server.url(""), "--noproxy", "*", server.url("/ok/flag"))
    assert _snippet(flag) == "hello from /ok/flag"  # --noproxy '*': --proxy is bypassed too


def test_a_bad_proxy_in_the_environment_is_a_usage_error_without_its_credentials() -> None:
    done = fetchcli("http://127.0.0.1:9/", env={"https_proxy": "ftp://user:secret@proxy"})
    assert done.returncode == 2
    assert done.stderr.startswith("fetchcli: error: https_proxy ") and len(done.stderr.splitlines()) == 1
    assert "unsupported proxy scheme 'ftp'" in done.stderr  # named (it said "must be a URL")
    assert "secret" not in done.stderr


def test_dry_run_sends_nothing_and_says_what_would_be_done(server: LoopbackServer) -> None:
    before = server.stats.requests
    done = fetchcli(
        "--dry-run", "-H", "Authorization: Bearer s3cret", "-t", "inf", "-c", "7", "-L",
        server.url("/ok/dry"), "ftp://nope", "http://user:pw@example.com/",
        env={"https_proxy": "http://user:pw@proxy.corp:3128", "no_proxy": "internal"},
    )  # fmt: skip
    assert done.returncode == 1  # an invalid URL: a URL list can be checked before cron uses it
    assert server.stats.requests == before
    out = done.stdout
    assert "s3cret" not in out and "pw@" not in out
    assert "Authorization: ***" in out
    assert "connect no limit, read no limit" in out  # -t inf
    assert "7 requests in flight" in out and "redirects followed (up to 20)" in out
    assert "http://user:***@proxy.corp:3128 for https:// URLs (from https_proxy)" in out
    assert "no proxy for  internal" in out
    assert f"     0  {server.url('/ok/dry')}\n" in out
    assert "     1  ftp://nope  -> InvalidURL:" in out
    assert "     2  http://user:***@example.com/\n" in out
    assert out.endswith("3 URLs: 2 valid, 1 invalid\n")
    assert fetchcli("--dry-run", server.url("/ok/dry")).returncode == 0


def test_shell_completion_completes_options_and_choices() -> None:
    # The shell is found among fetchcli's parents (as for a user typing it in bash), so run it
    # from bash, not as its last command (which bash would exec, leaving no bash behind).
    script = subprocess.run(
        ["bash", "-c", '"$0" -m fetchcli --show-completion; exit $?', sys.executable],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert script.returncode == 0 and "_FETCHCLI_COMPLETE" in script.stdout, script.stderr
    names = fetchcli(env={"_FETCHCLI_COMPLETE": "complete_bash", "COMP_WORDS": "fetchcli --max-con", "COMP_CWORD": "1"})
    assert names.stdout.split() == ["--max-connections"]
    formats = fetchcli(env={"_FETCHCLI_COMPLETE": "complete_bash", "COMP_WORDS": "fetchcli -f j", "COMP_CWORD": "2"})
    assert formats.stdout.split() == ["json", "jsonl"]


def test_the_option_references_config_example_is_accepted(tmp_path: Path) -> None:
    options = (Path(__file__).resolve().parent.parent / "docs" / "options.md").read_text()
    example = options.split("# cron.toml: a cron set-up", 1)[1].split("\n", 1)[1].split("```", 1)[0]
    (tmp_path / "cron.toml").write_text(example)
    (tmp_path / "sites.txt").write_text("https://example.com/\n")
    done = fetchcli("--dry-run", "--config", "cron.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "at most 50 open" in done.stdout and "per URL 30 s; whole run 600 s" in done.stdout
    assert "header        Accept: text/html" in done.stdout and "certificate valid for 14+ days" in done.stdout


def test_dry_run_shows_the_shard_it_would_fetch(server: LoopbackServer) -> None:
    urls = [server.url(f"/ok/{n}") for n in range(40)]
    shown = []
    for k in (1, 2):
        done = fetchcli("--dry-run", "--shard", f"{k}/2", *urls, urls[0])
        assert done.returncode == 0, done.stderr
        assert f"selection     shard {k}/2" in done.stdout
        shown += [m.group(1) for m in re.finditer(r"^ +\d+  (\S+)$", done.stdout, flags=re.MULTILINE)]
        assert "left out (--shard, --unique)" in done.stdout.splitlines()[-1]
    assert sorted(shown) == sorted([*urls, urls[0]])  # each URL in one shard (the repeat with its twin)
