"""``--dry-run``: what a run would do, and nothing sent. It first makes every check a run makes
before it reads or writes anything (``plan.plan_run``: an output that is an input or another
output, a read-only output, ``--resume`` with options it cannot take, ``-o`` with an extension
that names no format...), each failure the same usage error (exit 2). Then it prints the config
file read (if any), the effective settings (after flags, environment and config file), with
secrets masked, each value that is not the default followed by where it came from (``(from
--timeout)``, ``(from FETCHCLI_PROXY)``, ``(from /path/config.toml: proxy)``), where the records
would go and how, and every input URL as fetchcli reads it, valid or not (and why). Exit 0 when
every URL is valid, 1 otherwise, so a URL list can be checked in CI before cron uses it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import BinaryIO, TextIO

from fetchcli.cli.options import BODY, POLITE, POOL, RETRY, TIMEOUTS, section_names
from fetchcli.cli.plan import Environment, OutputOptions, RunPlan, plan_run
from fetchcli.cli.status import ExitStatus
from fetchcli.input.readers import Inputs, is_jsonl
from fetchcli.models import UrlItem
from fetchcli.output.writer import OutputError
from fetchcli.redact import MASK, is_secret_header, mask_credentials
from fetchcli.settings import InputFormat, Settings
from fetchcli.text import for_terminal
from fetchcli.transport.proxies import Proxies
from fetchcli.units import count


def _seconds(value: float | None) -> str:
    return "no limit" if value is None else f"{value:g} s"


def _from(origins: Mapping[str, str], *names: str) -> str:
    """`` (from --timeout, FETCHCLI_DEADLINE)``: where the options ``names`` (parameter names)
    that are not at their default came from; empty when all are."""
    found = list(dict.fromkeys(origins[name] for name in names if name in origins))
    return f" (from {', '.join(found)})" if found else ""


def _tls_line(settings: Settings, origins: Mapping[str, str]) -> str:
    from fetchcli.transport.sslcontext import default_trust

    req = settings.request
    if req.insecure:
        tls = "certificates not verified"
    elif req.cacert is not None or req.capath is not None:
        tls = "verified against " + " and ".join(x for x in (req.cacert, req.capath) if x is not None)
    else:  # the bundle this run would load, not the rule that picks it
        source, where = default_trust()
        tls = (
            f"verified against certifi's bundle {where}"
            if source == "certifi"
            else f"verified against {where} ({source})"
        )
    if req.client_cert is not None:
        tls += f"; client certificate {req.client_cert}" + (f", key {req.client_key}" if req.client_key else "")
    return tls + _from(origins, "insecure", "cacert", "capath", "cert", "key")


def _settings_lines(
    settings: Settings, plan: RunPlan, proxies: Proxies, origins: Mapping[str, str]
) -> list[tuple[str, str]]:
    from fetchcli.transport.headers import headers_of

    pool, t, req, retry, polite, success = (
        settings.pool,
        settings.timeouts,
        settings.request,
        settings.retry,
        settings.politeness,
        settings.success,
    )
    rows = [
        ("backend", f"{plan.backend.value} (--backend {settings.backend.value})" + _from(origins, "backend")),
        (
            "connections",
            f"at most {pool.max_connections} open, {pool.effective_max_keepalive} kept idle for "
            f"{pool.keepalive_expiry:g} s; {settings.effective_concurrency} requests in flight"
            + _from(origins, *section_names(POOL)),
        ),
        (
            "timeouts",
            f"connect {_seconds(t.phase(t.connect))}, read {_seconds(t.phase(t.read))}, "
            f"write {_seconds(t.phase(t.write))}, pool {_seconds(t.phase(t.pool))}; "
            f"per URL {_seconds(t.total)}; whole run {_seconds(settings.deadline)}"
            + _from(origins, *section_names(TIMEOUTS)),
        ),
        (
            "request",
            f"{req.method}, "
            + (f"redirects followed (up to {req.max_redirects})" if req.follow_redirects else "redirects not followed")
            + (", HTTP/2 offered" if req.http2 else ", HTTP/1.1")
            + ("; no scheme: https://, then http:// (--scheme-fallback)" if req.scheme_fallback else "")
            + _from(origins, "method", "follow_redirects", "max_redirects", "http2", "scheme_fallback"),
        ),
    ]
    given = {name.lower() for name, _ in req.headers}
    for name, value in headers_of(settings):
        text, lower = value.decode("utf-8", "replace"), name.decode().lower()
        shown = MASK if is_secret_header(name.decode(), req.secret_headers) else text
        where = (
            _from(origins, "header")
            if lower in given
            else _from(origins, "user_agent")
            if lower == "user-agent"
            else ""
        )
        rows.append(("header", f"{name.decode()}: {shown}{where}"))
    if "proxy-authorization" in given:
        where = "to the proxy only; never to a server" if req.proxies else "not sent: no proxy"
        rows.append(("header", f"Proxy-Authorization: {MASK} ({where})" + _from(origins, "header")))
    if req.body is not None:  # its length only: a body may hold secrets, and be binary
        size = len(req.body)
        rows.append(("request body", f"{count(size)} byte{'' if size == 1 else 's'}, sent to every URL"))
    if req.secret_headers:
        rows.append(("secret header", ", ".join(req.secret_headers) + _from(origins, "secret_header")))
    for host, port, addresses in req.resolve:
        rows.append(("resolve", f"{host}:{port} at {', '.join(addresses)}, not looked up" + _from(origins, "resolve")))
    for host1, port1, host2, port2 in req.connect_to:
        frm = f"{host1 or '(any host)'}:{port1 or '(any port)'}"
        to = f"{host2 or '(the same host)'}:{port2 or '(the same port)'}"
        rows.append(("connect to", f"{for_terminal(to)} for {for_terminal(frm)}" + _from(origins, "connect_to")))
    if req.family:
        rows.append(("addresses", f"IPv{req.family} only" + _from(origins, f"ipv{req.family}")))
    if req.all_ips:
        rows.append(
            ("addresses", "every address of each URL's host probed, one record each" + _from(origins, "all_ips"))
        )
    rows.append(("tls", _tls_line(settings, origins)))
    origin = dict(proxies.source)
    if req.proxy is not None:
        rows.append(
            ("proxy", f"{mask_credentials(req.proxy)} for every URL" + (_from(origins, "proxy") or " (--proxy)"))
        )
    for scheme, url in req.proxy_by_scheme:
        rows.append(("proxy", f"{mask_credentials(url)} for {scheme}:// URLs (from {origin.get(scheme, '?')})"))
    if not req.proxies:
        rows.append(("proxy", "none: every URL is fetched directly" + _from(origins, "env_proxy")))
    if req.no_proxy and req.proxies:
        where = _from(origins, "noproxy") or (f" (from {proxies.no_proxy_source})" if proxies.no_proxy_source else "")
        rows.append(("no proxy for", ", ".join(req.no_proxy) + where))
    rows.append(
        (
            "retries",
            (f"{retry.retries} on {','.join(map(str, sorted(retry.retry_on)))}" if retry.retries else "none")
            + _from(origins, *section_names(RETRY)),
        )
    )
    limits = [f"{polite.per_host} per host" if polite.per_host else "", f"{polite.rate:g}/s" if polite.rate else ""]
    limits.append(f"{polite.host_rate:g}/s per host" if polite.host_rate else "")
    rows.append(
        (
            "politeness",
            (", ".join(x for x in limits if x) or "no limits") + _from(origins, *section_names(POLITE)),
        )
    )
    ok = ",".join(f"{a}-{b}" if a != b else str(a) for a, b in success.ok_status) or "below 400"
    checks = [f"status {ok}"]
    if success.expect_text is not None:
        checks.append(f"body contains {success.expect_text!r}")
    if success.expect_regex is not None:
        checks.append(f"body matches {success.expect_regex!r}")
    if success.expect_jq is not None:
        checks.append(f"jq {success.expect_jq!r} yields true on the whole body as JSON")
    if settings.shard is not None:
        checks_shard = f"shard {settings.shard[0]}/{settings.shard[1]}"
        rows.append(
            (
                "selection",
                checks_shard + (", each URL once" if settings.unique else "") + _from(origins, "shard", "unique"),
            )
        )
    elif settings.unique:
        rows.append(("selection", "each URL once" + _from(origins, "unique")))
    if settings.workers > 1:
        rows.append(("workers", f"{settings.workers} processes" + _from(origins, "workers")))
    if success.cert_expiry_days is not None:
        checks.append(f"certificate valid for {success.cert_expiry_days}+ days")
    rows.append(
        (
            "ok when",
            "; ".join(checks)
            + _from(origins, "ok_status", "expect_text", "expect_regex", "expect_jq", "cert_expiry_days"),
        )
    )
    rows.append(
        (
            "body",
            f"{settings.body.max_body_bytes:,} bytes read at most; {settings.body.snippet_length} characters shown"
            + ("; each body read to its end" if settings.body.read_all else "")
            + _saving(settings)
            + _from(origins, *section_names(BODY)),
        )
    )
    return rows


def _saving(settings: Settings) -> str:
    """``--save``: where, under which names, up to what size (nothing is made by --dry-run)."""
    body = settings.body
    if body.save_dir is None:
        return ""
    return (
        f"; saved under {for_terminal(body.save_dir)!r} as {for_terminal(body.save_name)!r},"
        f" {body.max_save_bytes:,} bytes at most"
    )


def _input_line(
    urls: Sequence[str], paths: Sequence[str], origins: Mapping[str, str], fmt: InputFormat = InputFormat.auto
) -> str:
    parts = [f"{count(len(urls))} URL{'s' if len(urls) != 1 else ''} given" + _from(origins, "urls")] if urls else []
    if paths:
        shown = [path + (" (JSON Lines)" if is_jsonl(path, fmt) else "") for path in paths]
        parts.append("-i " + ", ".join(shown) + _from(origins, "input", "input_format"))
    return "; ".join(parts) or ("stdin (JSON Lines)" if fmt is InputFormat.jsonl else "stdin")


def _output_lines(
    settings: Settings, plan: RunPlan, options: OutputOptions, origins: Mapping[str, str]
) -> list[tuple[str, str]]:
    """Where the records would go and how, and what decides the exit status."""
    fmt, why = plan.format, plan.format_reason
    if options.resume is not None:
        records = f"appended to {options.resume}" + _from(origins, "resume")
    else:
        records = ("stdout" if options.to_stdout else f"{options.path}") + _from(origins, "output")
    shape = fmt.value + (_from(origins, "format") if why == "--format" else f" ({why})")
    if fmt.value in ("csv", "tsv") and not options.header_row:
        shape += ", no header row" + _from(origins, "header_row")
    if options.fsync:
        shape += ", fsync after every line" + _from(origins, "fsync")
    fields = "all" if fmt.value != "table" else "the table's columns"
    if options.fields is not None and fmt.value != "table":  # as written: CSV splits an object into its fields
        from fetchcli.output.render.fields import flat_fields

        names = flat_fields(options.fields) if fmt.value in ("csv", "tsv") else options.fields
        fields = ",".join(names) + _from(origins, "fields")
    resume = "none"
    if options.resume is not None:
        resume = f"{options.resume}: the URLs it records are skipped, the others appended"
        resume += "; those it records as failed fetched again" if options.resume_failed else ""
        resume += _from(origins, "resume", "resume_failed")
    n = options.max_failures
    counted = ("is", "are", "not ok")
    if options.state is not None and options.fail_after > 1:  # --fail-after: only those weigh
        counted = ("has", "have", f"failed {options.fail_after} runs in a row")
    tolerated = (
        f"any URL that {counted[0]} {counted[2]}: exit 1"
        if n == 0
        else f"exit 0 while at most {count(n)} URLs {counted[1]} {counted[2]}"
    )
    state = "none"
    if options.state is not None:
        state = options.state + (", conditional requests" if options.conditional else "")
        state += f", watching {','.join(options.watch)}" if options.watch else ""
        state += ", only new or changed records written" if options.only_changed else ""
        state += (
            f", a URL fails the run once it has failed {options.fail_after} runs in a row"
            if options.fail_after > 1
            else ""
        )
        state += _from(origins, "state", "conditional", "watch", "only_changed", "fail_after")
    return [
        ("records", records),
        ("format", shape),
        ("fields", fields),
        ("order", f"{settings.order.value}" + _from(origins, "order")),
        ("summary json", (options.summary_json or "none") + _from(origins, "summary_json")),
        ("metrics", _metrics(options, origins)),
        ("resume", resume),
        ("state", state),
        ("max failures", f"{n}: {tolerated}" + _from(origins, "max_failures")),
    ]


def _metrics(options: OutputOptions, origins: Mapping[str, str]) -> str:
    if options.metrics is None:
        return "none"
    n = options.metrics_max_urls
    return f"{options.metrics}, at the end of the run: per-URL series for at most {count(n)} URLs" + _from(
        origins, "metrics", "metrics_max_urls"
    )


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


def _own_request(item: UrlItem, settings: Settings) -> str:
    """A JSON Lines line's own request: ``  (PUT, 2 headers, a 10-byte body)``; empty for none.
    Its body's length only, as for the run's body."""
    own = item.request
    if own is None:
        return ""
    parts = [own.method_with(settings.request.method)]
    if own.headers:
        parts.append(f"{len(own.headers)} header{'' if len(own.headers) == 1 else 's'} of its own")
    if own.body is not None:
        parts.append(f"a {count(len(own.body))}-byte body")
    return f"  ({', '.join(parts)})"


def describe_run(
    settings: Settings,
    urls: Sequence[str],
    paths: Sequence[str],
    proxies: Proxies,
    env: Environment,
    options: OutputOptions | None = None,
    *,
    config: str = "none",
    note: str | None = None,
    origins: Mapping[str, str] | None = None,
) -> int:
    """``config``: the config file read and how it was chosen, or why there is none; ``note``:
    about a config file not read (``config.local_config_note``); ``origins``: where each option
    not at its default came from, by parameter name (the CLI knows)."""
    from fetchcli.transport.sslcontext import ssl_context

    options = options if options is not None else OutputOptions()
    origins = origins if origins is not None else {}
    plan = plan_run(settings, urls, paths, options, env)  # what a run would refuse, refused the same way
    ssl_context(settings.request)  # a CA or client certificate that cannot be used is a usage error here too
    out = env.stdout
    dry = origins.get("dry_run", "--dry-run")
    _write(out, "fetchcli --dry-run: nothing is sent" + (f" (from {dry})" if dry != "--dry-run" else ""))
    _write(out, "")
    _write(out, f"{'config':<14}{config}")
    if note is not None:
        _write(out, f"{'note':<14}{note}")
    for name, value in _settings_lines(settings, plan, proxies, origins):
        _write(out, f"{name:<14}{value}")
    _write(out, f"{'input':<14}{_input_line(urls, paths, origins, settings.input_format)}")
    for name, value in _output_lines(settings, plan, options, origins):
        _write(out, f"{name:<14}{value}")
    _write(out, "")
    from fetchcli.engine.selection import Selection

    opened: list[BinaryIO] = []
    valid = invalid = left_out = 0
    selection = Selection(settings.shard, settings.unique)
    inputs = Inputs(urls, paths, env.stdin, bool(env.stdin_isatty), opened, settings.input_format)
    if settings.deadline is not None:
        inputs.stop_reading_after(settings.deadline)  # as the run would: a FIFO never written ends
    try:
        for item in inputs.items():
            if selection.active and not selection(item):
                left_out += 1
                continue
            if item.error is None:
                valid += 1
                _write(out, f"{item.index:>6}  {item.display_url}{_own_request(item, settings)}")
            else:
                invalid += 1
                _write(out, f"{item.index:>6}  {item.display_url}  -> {item.error.type}: {item.error.message}")
    finally:
        inputs.close()
        for stream in opened:
            stream.close()
    _write(out, "")
    seen = valid + invalid
    line = f"{count(seen)} URL{'s' if seen != 1 else ''}: {count(valid)} valid, {count(invalid)} invalid"
    if left_out:
        line += f"; {count(left_out)} left out (--shard, --unique)"
    if not inputs.done:
        line += "; the input was not read to its end (--deadline)"
    _write(out, line)
    try:
        out.flush()
    except OSError as exc:
        raise OutputError(exc) from None
    return ExitStatus.OK if invalid == 0 else ExitStatus.FAILURES
