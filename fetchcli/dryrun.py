"""``--dry-run``: what a run would do, and nothing sent. The config file read (if any), the
effective settings (after flags, environment and config file), with secrets masked, where each
proxy came from, and every input URL as fetchcli reads it, valid or not (and why). Exit 0 when
every URL is valid, 1 otherwise, so a URL list can be checked in CI before cron uses it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO, TextIO

from fetchcli.inputs import Inputs
from fetchcli.output import OutputError
from fetchcli.proxies import Proxies
from fetchcli.redact import MASK, is_secret_header, mask_credentials
from fetchcli.runner import Environment
from fetchcli.settings import Settings
from fetchcli.status import ExitStatus
from fetchcli.terminal import for_terminal


def _seconds(value: float | None) -> str:
    return "no limit" if value is None else f"{value:g} s"


def _settings_lines(settings: Settings, proxies: Proxies) -> list[tuple[str, str]]:
    from fetchcli.client import headers_of, uses_aiohttp

    pool, t, req, retry, polite, success = (
        settings.pool,
        settings.timeouts,
        settings.request,
        settings.retry,
        settings.politeness,
        settings.success,
    )
    backend = "aiohttp" if uses_aiohttp(settings) else "httpx"
    rows = [
        ("backend", f"{backend} (--backend {settings.backend.value})"),
        (
            "connections",
            f"at most {pool.max_connections} open, {pool.effective_max_keepalive} kept idle for "
            f"{pool.keepalive_expiry:g} s; {settings.effective_concurrency} requests in flight",
        ),
        (
            "timeouts",
            f"connect {_seconds(t.phase(t.connect))}, read {_seconds(t.phase(t.read))}, "
            f"write {_seconds(t.phase(t.write))}, pool {_seconds(t.phase(t.pool))}; "
            f"per URL {_seconds(t.total)}; whole run {_seconds(settings.deadline)}",
        ),
        (
            "request",
            f"{req.method}, "
            + (f"redirects followed (up to {req.max_redirects})" if req.follow_redirects else "redirects not followed")
            + (", HTTP/2 offered" if req.http2 else ", HTTP/1.1")
            + ("; no scheme: https://, then http:// (--scheme-fallback)" if req.scheme_fallback else ""),
        ),
    ]
    for name, value in headers_of(settings):
        text = value.decode("utf-8", "replace")
        shown = MASK if is_secret_header(name.decode(), req.secret_headers) else text
        rows.append(("header", f"{name.decode()}: {shown}"))
    if any(name.lower() == "proxy-authorization" for name, _ in req.headers):
        where = "to the proxy only; never to a server" if req.proxies else "not sent: no proxy"
        rows.append(("header", f"Proxy-Authorization: {MASK} ({where})"))
    if req.insecure:
        tls = "certificates not verified (-k)"
    elif req.cacert is not None or req.capath is not None:
        tls = "verified against " + " and ".join(x for x in (req.cacert, req.capath) if x is not None)
    else:
        tls = "verified against SSL_CERT_FILE / SSL_CERT_DIR when set, else certifi's bundle"
    if req.client_cert is not None:
        tls += f"; client certificate {req.client_cert}"
    rows.append(("tls", tls))
    origin = dict(proxies.source)
    if req.proxy is not None:
        rows.append(("proxy", f"{mask_credentials(req.proxy)} for every URL (--proxy)"))
    for scheme, url in req.proxy_by_scheme:
        rows.append(("proxy", f"{mask_credentials(url)} for {scheme}:// URLs (from {origin.get(scheme, '?')})"))
    if not req.proxies:
        rows.append(("proxy", "none: every URL is fetched directly"))
    if req.no_proxy and req.proxies:
        rows.append(("no proxy for", ", ".join(req.no_proxy)))
    rows.append(
        ("retries", f"{retry.retries} on {','.join(map(str, sorted(retry.retry_on)))}" if retry.retries else "none")
    )
    limits = [f"{polite.per_host} per host" if polite.per_host else "", f"{polite.rate:g}/s" if polite.rate else ""]
    limits.append(f"{polite.host_rate:g}/s per host" if polite.host_rate else "")
    rows.append(("politeness", ", ".join(x for x in limits if x) or "no limits"))
    ok = ",".join(f"{a}-{b}" if a != b else str(a) for a, b in success.ok_status) or "below 400"
    checks = [f"status {ok}"]
    if success.expect_text is not None:
        checks.append(f"body contains {success.expect_text!r}")
    if success.expect_regex is not None:
        checks.append(f"body matches {success.expect_regex!r}")
    if settings.shard is not None:
        checks_shard = f"shard {settings.shard[0]}/{settings.shard[1]}"
        rows.append(("selection", checks_shard + (", each URL once" if settings.unique else "")))
    elif settings.unique:
        rows.append(("selection", "each URL once"))
    if settings.workers > 1:
        rows.append(("workers", f"{settings.workers} processes"))
    if success.cert_expiry_days is not None:
        checks.append(f"certificate valid for {success.cert_expiry_days}+ days")
    rows.append(("ok when", "; ".join(checks)))
    rows.append(
        (
            "body",
            f"{settings.body.max_body_bytes:,} bytes read at most; {settings.body.snippet_length} characters shown",
        )
    )
    return rows


def _write(out: TextIO, line: str) -> None:
    """One line, flushed at once as a run's records are: a reader sees it as it comes, and one
    that went away (``| head -1``) is noticed at the next line, ending the run with 141 as every
    output does, rather than after the whole list was buffered and the exit status was that of
    the URLs."""
    try:
        out.write(for_terminal(line) + "\n")
        out.flush()
    except OSError as exc:  # a closed or full stdout: the documented write error, not a traceback
        raise OutputError(exc) from None


def describe_run(
    settings: Settings,
    urls: Sequence[str],
    paths: Sequence[str],
    proxies: Proxies,
    env: Environment,
    *,
    config: str = "none",
) -> int:
    """``config``: the config file read and how it was chosen, or why there is none."""
    from fetchcli.client import ssl_context

    ssl_context(settings.request)  # a CA or client certificate that cannot be used is a usage error here too
    out = env.stdout
    _write(out, "fetchcli --dry-run: nothing is sent")
    _write(out, "")
    _write(out, f"{'config':<14}{config}")
    for name, value in _settings_lines(settings, proxies):
        _write(out, f"{name:<14}{value}")
    _write(out, "")
    from fetchcli.selection import Selection

    opened: list[BinaryIO] = []
    valid = invalid = left_out = 0
    selection = Selection(settings.shard, settings.unique)
    inputs = Inputs(urls, paths, env.stdin, bool(env.stdin_isatty), opened)
    if settings.deadline is not None:
        inputs.stop_reading_after(settings.deadline)  # as the run would: a FIFO never written ends
    try:
        for item in inputs.items():
            if selection.active and not selection(item):
                left_out += 1
                continue
            if item.error is None:
                valid += 1
                _write(out, f"{item.index:>6}  {item.display_url}")
            else:
                invalid += 1
                _write(out, f"{item.index:>6}  {item.display_url}  -> {item.error.type}: {item.error.message}")
    finally:
        inputs.close()
        for stream in opened:
            stream.close()
    _write(out, "")
    line = f"{valid + invalid} URLs: {valid} valid, {invalid} invalid"
    if left_out:
        line += f"; {left_out} left out (--shard, --unique)"
    if not inputs.done:
        line += "; the input was not read to its end (--deadline)"
    _write(out, line)
    try:
        out.flush()
    except OSError as exc:
        raise OutputError(exc) from None
    return ExitStatus.OK if invalid == 0 else ExitStatus.FAILURES
