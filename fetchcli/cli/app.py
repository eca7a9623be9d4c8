"""The command line: Typer options -> one ``Settings`` -> ``runner.execute`` -> exit status.

Every option also comes from ``FETCHCLI_<NAME>`` and from a config file (``config.py``):
flag > environment > config file > default. Values arrive as text and are parsed by
``settings.parse_*``, so every bad value is a usage error in fetchcli's own words. ``--help``
is fetchcli's own (``help.py``). Usage errors are one plain line on stderr
(``fetchcli: error: --timeout must be 0 or more``), exit 2: they end up in cron mail and logs.
"""

# No ``from __future__ import annotations`` here: typer reads the command's annotations, and
# evaluating 280 of them from strings at every start-up took 20 ms (objects: 2 ms).
import functools
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from fetchcli._version import __version__
from fetchcli.cli.config import LIST_ENV, env_name
from fetchcli.cli.status import ExitStatus
from fetchcli.settings import (
    DEFAULT_KEEPALIVE_EXPIRY,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_REDIRECTS,
    DEFAULT_MAX_TIME,
    DEFAULT_METHOD,
    DEFAULT_RETRY_BACKOFF,
    DEFAULT_RETRY_MAX_WAIT,
    DEFAULT_RETRY_ON,
    DEFAULT_SNIPPET_LENGTH,
    DEFAULT_TIMEOUT,
    Backend,
    BodySettings,
    ColorMode,
    Order,
    OutputFormat,
    PolitenessSettings,
    PoolSettings,
    RequestSettings,
    RetrySettings,
    Settings,
    SettingsError,
    SuccessSettings,
    TimeoutSettings,
    not_utf8,
    parse_choice,
    parse_float,
    parse_header,
    parse_int,
    parse_status_list,
    parse_status_ranges,
)

INPUT, OUTPUT, SUCCESS, REQUEST, TLS = "Input", "Output", "Success and exit status", "Request", "TLS"
PROXY, POOL, TIMEOUTS, RETRY, POLITE, BODY = "Proxy", "Connection pool", "Timeouts", "Retries", "Politeness", "Body"
LARGE, OTHER = "Large runs", "Other"

app = typer.Typer(
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": []},  # fetchcli's own --help (help.py)
    help="Fetch many URLs concurrently; report status, timing and the first characters of each body.",
)


def _option(
    *decls: str,
    panel: str,
    help: str,
    metavar: str | None = None,
    default: str | None = None,
    env: bool = True,
    **kw: Any,
) -> Any:
    """A Typer option with its ``FETCHCLI_<NAME>`` variable (one value per line for the options
    given more than once, read by config.py; none with ``env=False``, for the options that act
    at once, such as ``--version``) and the default as the help shows it."""
    long = next(d for d in decls if d.startswith("--")).split("/")[0]
    name = long[2:].replace("-", "_")
    return typer.Option(
        *decls,
        help=help,
        metavar=metavar,
        rich_help_panel=panel,
        envvar=env_name(long) if env and name not in LIST_ENV else None,
        show_envvar=True,
        show_default=default if default is not None else False,
        **kw,
    )


def _print_and_exit(text: str) -> None:
    """``--version``, ``--schema``, ``--help``: ``text`` on stdout, exit 0; a stdout that cannot
    take it (closed, full) is the documented write error, not a traceback."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        raise typer.Exit(_stdout_failed(exc)) from None
    raise typer.Exit(0)


def _stdout_failed(exc: OSError) -> int:
    from fetchcli.cli.runner import Environment, write_failed
    from fetchcli.output.writer import Output, OutputError

    env = Environment(stdin_isatty=False, stdout_isatty=False, stderr_isatty=False)
    return write_failed(env, Output(env.stdout, "stdout"), OutputError(exc))


def _switch(long: str, *short: str, panel: str, help: str, default: str | None = None, off: str | None = None) -> Any:
    """A switch: ``--NAME`` (and its short flag) turns it on, ``--no-NAME`` (and ``off``, another
    spelling of it) off, so a flag can override the environment and a config file both ways. Its
    ``FETCHCLI_<NAME>`` is read by config.py (``1/true/yes/on`` or ``0/false/no/off``, nothing
    else), not by Click, whose reading of a flag's variable differs between versions; ``--help``
    still names it."""
    return typer.Option(
        f"{long}/--no-{long[2:]}",
        *short,
        *([f" /{off}"] if off is not None else []),  # Click: a leading space, an off form only
        help=help,
        rich_help_panel=panel,
        show_default=default if default is not None else False,
    )


def _version(value: bool) -> None:
    if value:
        _print_and_exit(f"fetchcli {__version__}\n")


def _schema(value: bool) -> None:
    if value:
        import json

        from fetchcli.output.schema import record_schema

        _print_and_exit(json.dumps(record_schema(), indent=2) + "\n")


def _help(ctx: typer.Context, value: bool) -> None:
    if value:
        from fetchcli.cli.help import render_help

        _print_and_exit(render_help(ctx.command))


def _config(ctx: typer.Context, value: Optional[str]) -> Optional[str]:
    """Eager: read the config file and the variables fetchcli reads itself (switches, lists)
    into Click's default_map before any other option is processed (config.py)."""
    from fetchcli.cli.config import kind_of, load

    kinds = {p.name: kind_of(p) for p in ctx.command.params if p.name}
    loaded = load(value, kinds, os.environ)
    for kind, line in (("warning", loaded.warning), ("note", loaded.note)):
        if line is not None:
            from fetchcli.text import for_terminal

            sys.stderr.write(f"fetchcli: {kind}: {for_terminal(line)}\n")
            sys.stderr.flush()
    ctx.default_map = {**(ctx.default_map or {}), **loaded.values}
    ctx.meta[_LOADED] = loaded
    return value


_LOADED = "fetchcli.cli.config"


def _origin(ctx: typer.Context, param: Any) -> Optional[str]:
    """Where a parameter's value came from, None for its default: its option as given on the
    command line (``--no-insecure`` for a switch turned off; ``the command line`` for URLs), the
    variable (``FETCHCLI_TIMEOUT``) or the config file and key
    (``/home/me/.config/fetchcli/config.toml: timeout``)."""
    source = getattr(ctx.get_parameter_source(param.name), "name", "")
    is_argument = not param.opts[0].startswith("-")
    if source == "COMMANDLINE" and is_argument and not ctx.params.get(param.name):
        source = "DEFAULT"  # Click before 8.2 says COMMANDLINE for an argument given nothing
    if source == "COMMANDLINE":
        if is_argument:
            return "the command line"
        longs = [o for o in param.opts if o.startswith("--")] or param.opts
        off = [o for o in getattr(param, "secondary_opts", ()) if o.startswith("--")]
        return str(off[0] if off and ctx.params.get(param.name) is False else longs[0])
    if source == "ENVIRONMENT":
        return param.envvar if isinstance(param.envvar, str) else None
    loaded = ctx.meta.get(_LOADED)  # DEFAULT_MAP; DEFAULT for URLs from a config file with Click before 8.2
    return loaded.origins.get(param.name) if loaded is not None else None


def _origins(ctx: typer.Context) -> dict[str, str]:
    """``_origin`` of every parameter not at its default, by name (for ``--dry-run``)."""
    found = ((p.name, _origin(ctx, p)) for p in ctx.command.params if p.name)
    return {name: origin for name, origin in found if origin is not None}


def _from_where(ctx: typer.Context, exc: SettingsError) -> SettingsError:
    """``exc`` naming where its option's value came from when that was not the command line:
    ``--timeout must be ... (from FETCHCLI_TIMEOUT)``, ``(from /home/me/.config/fetchcli/config.toml:
    timeout)``."""
    param = next((p for p in ctx.command.params if exc.option in p.opts), None)
    if param is None or param.name is None:
        return exc
    if getattr(ctx.get_parameter_source(param.name), "name", "") == "COMMANDLINE":
        return exc
    origin = _origin(ctx, param)
    if origin is None:
        return exc
    message = str(exc).removeprefix(exc.option).lstrip()
    return SettingsError(exc.option, f"{message} (from {origin})")


def _naming_sources(command: Callable[..., None]) -> Callable[..., None]:
    """The command, whose usage errors name where a value came from (``_from_where``). typer
    reads the command's parameters through ``functools.wraps``."""

    @functools.wraps(command)
    def run(ctx: typer.Context, **values: Any) -> None:
        try:
            _check_utf8(ctx, values)
            command(ctx, **values)
        except SettingsError as exc:
            raise _from_where(ctx, exc) from None

    return run


# Paths may be any bytes (Python hands them on as it decoded them); URLs that are not UTF-8 are
# InvalidURL records, as any bad URL of the input is.
_ANY_BYTES = frozenset(
    {"urls", "input", "output", "summary_json", "resume", "config", "cacert", "capath", "cert", "key"}
)


def _check_utf8(ctx: typer.Context, values: dict[str, Any]) -> None:
    """Every other text value, from the command line or the environment, is text: a byte that
    is not UTF-8 (``-H $'X: \\xff'``) is a usage error naming the option, not a traceback later."""
    for param in ctx.command.params:
        if param.name is None or param.name in _ANY_BYTES:
            continue
        value = values.get(param.name)
        for text in value if isinstance(value, list) else (value,):
            if isinstance(text, str) and (problem := not_utf8(text)) is not None:
                option = next((o for o in param.opts if o.startswith("--")), param.opts[0])
                raise SettingsError(option, problem)


def _enum_metavar(choices: type[Any]) -> str:
    return "|".join(str(member.value) for member in choices)


def _complete(choices: type[Any]) -> Any:
    return lambda incomplete: [str(m.value) for m in choices if str(m.value).startswith(incomplete)]


@app.command(add_help_option=False)
@_naming_sources
def fetchcli(
    ctx: typer.Context,
    urls: Annotated[
        Optional[list[str]],
        typer.Argument(
            metavar="URL...",
            help="URLs to fetch ('https://' is added when no scheme is given).",
            rich_help_panel=INPUT,
            show_default=False,
        ),
    ] = None,
    input: Annotated[
        Optional[list[str]],
        _option("--input", "-i", metavar="PATH", panel=INPUT,
                help="File of URLs, one per line ('-' for stdin); repeatable. Blank lines and '#' comments are skipped."),
    ] = None,
    scheme_fallback: Annotated[
        bool,
        _switch("--scheme-fallback", panel=INPUT,
                help="A URL without a scheme: try https://, then http:// if the TLS handshake fails or the "
                "connection is refused."),
    ] = False,
    config: Annotated[
        Optional[str],
        _option("--config", metavar="FILE", panel=INPUT, is_eager=True, callback=_config, env=False,
                default="$XDG_CONFIG_HOME/fetchcli/config.toml (~/.config/...) if only you can write it",
                help="Read option values from this TOML file instead; '' reads none.")
    ] = None,
    dry_run: Annotated[
        bool,
        _switch("--dry-run", panel=INPUT,
                help="Make a run's checks, then print the effective settings (each with where it came from), "
                "where the records would go, and each URL with its validity; send nothing."),
    ] = False,
    format: Annotated[
        Optional[str],
        _option("--format", "-f", metavar=_enum_metavar(OutputFormat), panel=OUTPUT,
                default="from -o's extension (.json .jsonl .ndjson .csv .tsv; another one is an error), else table on a terminal, else jsonl",
                help="Output format.",
                autocompletion=_complete(OutputFormat)),
    ] = None,
    fields: Annotated[
        Optional[str],
        _option("--fields", metavar="A,B,...", panel=OUTPUT,
                help="Fields to write, in this order (json, jsonl, csv, tsv), e.g. url,status,error.type,tls.days_left."),
    ] = None,
    order: Annotated[
        str,
        _option("--order", metavar=_enum_metavar(Order), panel=OUTPUT, default="input",
                help="Write results in input order or as they complete.", autocompletion=_complete(Order)),
    ] = "input",
    output: Annotated[
        Optional[str],
        _option("--output", "-o", metavar="PATH", panel=OUTPUT, default="stdout",
                help="Write results to PATH (through a symlink, FIFO or device; atomically for a regular file)."),
    ] = None,
    fsync: Annotated[
        bool, _switch("--fsync", panel=OUTPUT, help="With -o and jsonl: fsync after every line.")
    ] = False,
    header_row: Annotated[
        bool,
        _switch("--header-row", panel=OUTPUT, off="--no-header", default="on",
                help="csv and tsv: begin with a row of field names; --no-header leaves it out."),
    ] = True,
    progress: Annotated[
        Optional[bool],
        _switch("--progress", panel=OUTPUT, default="when stderr is a terminal, unless -q",
                help="A live progress line on stderr."),
    ] = None,
    color: Annotated[
        str,
        _option("--color", metavar=_enum_metavar(ColorMode), panel=OUTPUT, default="auto",
                help="Colours in the table and the progress line; auto: on a terminal, unless NO_COLOR is set.",
                autocompletion=_complete(ColorMode)),
    ] = "auto",
    summary: Annotated[
        bool,
        _switch("--summary", panel=OUTPUT, help="Print the summary line on stderr even when it is not a terminal."),
    ] = False,
    summary_json: Annotated[
        Optional[str],
        _option("--summary-json", metavar="PATH", panel=OUTPUT,
                help="Write the run's summary as JSON to PATH (same rules as -o)."),
    ] = None,
    quiet: Annotated[
        bool, _switch("--quiet", "-q", panel=OUTPUT, help="No summary line and no progress line on stderr.")
    ] = False,
    ok_status: Annotated[
        Optional[str],
        _option("--ok-status", metavar="CODES", panel=SUCCESS, default="below 400",
                help="Statuses that count as success: codes, ranges and classes, e.g. 2xx,301 or 200-299."),
    ] = None,
    expect_text: Annotated[
        Optional[str],
        _option("--expect-text", metavar="TEXT", panel=SUCCESS,
                help="A URL is ok only if the body read (--max-body-bytes) contains TEXT."),
    ] = None,
    expect_regex: Annotated[
        Optional[str],
        _option("--expect-regex", metavar="RE", panel=SUCCESS,
                help="A URL is ok only if the body read matches the regular expression RE."),
    ] = None,
    max_failures: Annotated[
        str,
        _option("--max-failures", metavar="N", panel=SUCCESS, default="0",
                help="Exit 0 while at most N URLs failed (the records still say which)."),
    ] = "0",
    method: Annotated[
        str, _option("--method", "-X", metavar="METHOD", panel=REQUEST, default=DEFAULT_METHOD, help="HTTP method.")
    ] = DEFAULT_METHOD,
    header: Annotated[
        Optional[list[str]],
        _option("--header", "-H", metavar="'NAME: VALUE'", panel=REQUEST,
                help="Extra request header; repeatable."),
    ] = None,
    secret_header: Annotated[
        Optional[list[str]],
        _option("--secret-header", metavar="NAME", panel=REQUEST,
                help="A header whose value is a secret, like Authorization: masked in every output, dropped on a "
                "redirect to another origin; repeatable (Authorization, Proxy-Authorization, Cookie, X-Api-Key, "
                "Api-Key, X-Auth-Token and PRIVATE-TOKEN always are)."),
    ] = None,
    user_agent: Annotated[
        Optional[str],
        _option("--user-agent", "-A", metavar="TEXT", panel=REQUEST, default=f"fetchcli/{__version__}",
                help="User-Agent header."),
    ] = None,
    follow_redirects: Annotated[
        bool, _switch("--follow-redirects", "-L", panel=REQUEST, help="Follow redirects (off by default, like curl).")
    ] = False,
    max_redirects: Annotated[
        str,
        _option("--max-redirects", metavar="N", panel=REQUEST, default=str(DEFAULT_MAX_REDIRECTS),
                help="Redirects followed at most with -L."),
    ] = str(DEFAULT_MAX_REDIRECTS),
    http2: Annotated[
        bool,
        _switch("--http2", panel=REQUEST, help="Offer HTTP/2 (needs the h2 package: in fetchcli's clone, pip install '.[http2]')."),
    ] = False,
    backend: Annotated[
        str,
        _option("--backend", metavar=_enum_metavar(Backend), panel=REQUEST, default="auto",
                help="Transport: aiohttp (fast, HTTP/1.1), httpx (HTTP/2, SOCKS proxies), or auto.",
                autocompletion=_complete(Backend)),
    ] = "auto",
    insecure: Annotated[
        bool,
        _switch("--insecure", "-k", panel=TLS,
                help="Do not verify TLS certificates (their facts are still reported in tls)."),
    ] = False,
    cacert: Annotated[
        Optional[str],
        _option("--cacert", metavar="FILE", panel=TLS, default="SSL_CERT_FILE, else certifi's bundle",
                help="Trust the CA certificates in this PEM file."),
    ] = None,
    capath: Annotated[
        Optional[str],
        _option("--capath", metavar="DIR", panel=TLS, default="SSL_CERT_DIR",
                help="Trust the CA certificates in this directory (hashed, as by openssl rehash)."),
    ] = None,
    cert: Annotated[
        Optional[str],
        _option("--cert", "-E", metavar="FILE", panel=TLS,
                help="Client certificate (PEM), with its key unless --key is given."),
    ] = None,
    key: Annotated[
        Optional[str],
        _option("--key", metavar="FILE", panel=TLS, help="Private key (PEM, unencrypted) of --cert."),
    ] = None,
    cert_expiry_days: Annotated[
        Optional[str],
        _option("--cert-expiry-days", metavar="N", panel=TLS,
                help="An https URL whose certificate has fewer than N whole days left fails (CertificateExpiring)."),
    ] = None,
    proxy: Annotated[
        Optional[str],
        _option("--proxy", "-x", metavar="URL", panel=PROXY, default="from the environment",
                help="Send every request through this proxy (http://, https:// or socks5://)."),
    ] = None,
    noproxy: Annotated[
        Optional[str],
        _option("--noproxy", metavar="HOSTS", panel=PROXY, default="NO_PROXY",
                help="Hosts, domains or networks reached directly, comma-separated ('*': all)."),
    ] = None,
    env_proxy: Annotated[
        bool,
        _switch("--env-proxy", panel=PROXY, default="on",
                help="Use HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY (either case) from the environment."),
    ] = True,
    max_connections: Annotated[
        str,
        _option("--max-connections", metavar="N", panel=POOL, default=str(DEFAULT_MAX_CONNECTIONS),
                help="Open TCP connections at most (all hosts together)."),
    ] = str(DEFAULT_MAX_CONNECTIONS),
    max_keepalive: Annotated[
        Optional[str],
        _option("--max-keepalive", metavar="N", panel=POOL, default="same as --max-connections",
                help="Idle connections kept open for reuse at most."),
    ] = None,
    keepalive_expiry: Annotated[
        str,
        _option("--keepalive-expiry", metavar="SECONDS", panel=POOL, default=f"{DEFAULT_KEEPALIVE_EXPIRY:g}",
                help="Close a connection idle this long."),
    ] = f"{DEFAULT_KEEPALIVE_EXPIRY:g}",
    concurrency: Annotated[
        Optional[str],
        _option("--concurrency", "-c", metavar="N", panel=POOL, default="same as --max-connections",
                help="Requests in flight at most."),
    ] = None,
    timeout: Annotated[
        str,
        _option("--timeout", "-t", metavar="SECONDS", panel=TIMEOUTS, default=f"{DEFAULT_TIMEOUT:g}",
                help="Limit for each phase (connect, read, write, pool); 0 or inf: no limit."),
    ] = f"{DEFAULT_TIMEOUT:g}",
    connect_timeout: Annotated[
        Optional[str],
        _option("--connect-timeout", metavar="SECONDS", panel=TIMEOUTS, default="--timeout",
                help="Limit for connecting (TCP and TLS)."),
    ] = None,
    read_timeout: Annotated[
        Optional[str],
        _option("--read-timeout", metavar="SECONDS", panel=TIMEOUTS, default="--timeout",
                help="Limit for each wait for data."),
    ] = None,
    write_timeout: Annotated[
        Optional[str],
        _option("--write-timeout", metavar="SECONDS", panel=TIMEOUTS, default="--timeout",
                help="Limit for each wait to send data."),
    ] = None,
    pool_timeout: Annotated[
        Optional[str],
        _option("--pool-timeout", metavar="SECONDS", panel=TIMEOUTS, default="--timeout",
                help="Limit for waiting for a free connection."),
    ] = None,
    max_time: Annotated[
        str,
        _option("--max-time", "-m", metavar="SECONDS", panel=TIMEOUTS, default=f"{DEFAULT_MAX_TIME:g}",
                help="Total limit for one URL from its first request, redirects, retries and body included; 0 or inf: no limit."),
    ] = f"{DEFAULT_MAX_TIME:g}",
    deadline: Annotated[
        str,
        _option("--deadline", metavar="SECONDS", panel=TIMEOUTS, default="0",
                help="Limit for the whole run: then URLs in flight are cancelled and the rest reported as not started; 0 or inf: no limit."),
    ] = "0",
    retries: Annotated[
        str,
        _option("--retries", metavar="N", panel=RETRY, default="0",
                help="Retry a URL up to N times after a connection error, a timeout or a --retry-on status."),
    ] = "0",
    retry_on: Annotated[
        str,
        _option("--retry-on", metavar="CODES", panel=RETRY, default=",".join(map(str, DEFAULT_RETRY_ON)),
                help="Statuses worth a retry, comma-separated."),
    ] = ",".join(map(str, DEFAULT_RETRY_ON)),
    retry_backoff: Annotated[
        str,
        _option("--retry-backoff", metavar="SECONDS", panel=RETRY, default=f"{DEFAULT_RETRY_BACKOFF:g}",
                help="First backoff; doubles each try, with full jitter."),
    ] = f"{DEFAULT_RETRY_BACKOFF:g}",
    retry_max_wait: Annotated[
        str,
        _option("--retry-max-wait", metavar="SECONDS", panel=RETRY, default=f"{DEFAULT_RETRY_MAX_WAIT:g}",
                help="Longest wait between tries, Retry-After included."),
    ] = f"{DEFAULT_RETRY_MAX_WAIT:g}",
    retry_all_methods: Annotated[
        bool,
        _switch("--retry-all-methods", panel=RETRY,
                help="Also retry methods that are not idempotent (POST, PATCH) once a request was sent."),
    ] = False,
    per_host: Annotated[
        Optional[str],
        _option("--per-host", metavar="N", panel=POLITE, default="no limit", help="Requests in flight to one host at most."),
    ] = None,
    rate: Annotated[
        Optional[str],
        _option("--rate", metavar="R", panel=POLITE, default="no limit",
                help="Requests per second overall at most (may be fractional)."),
    ] = None,
    host_rate: Annotated[
        Optional[str],
        _option("--host-rate", metavar="R", panel=POLITE, default="no limit", help="Requests per second to one host at most."),
    ] = None,
    max_body_bytes: Annotated[
        str,
        _option("--max-body-bytes", metavar="N", panel=BODY, default=str(DEFAULT_MAX_BODY_BYTES),
                help="Decoded body bytes read at most; the response is closed after that."),
    ] = str(DEFAULT_MAX_BODY_BYTES),
    snippet_length: Annotated[
        str,
        _option("--snippet-length", metavar="N", panel=BODY, default=str(DEFAULT_SNIPPET_LENGTH),
                help="Characters of body text shown."),
    ] = str(DEFAULT_SNIPPET_LENGTH),
    read_all: Annotated[
        bool,
        _switch("--read-all", panel=BODY,
                help="Read each body to its end, keeping only --max-body-bytes: exact bytes_read and sha256."),
    ] = False,
    shard: Annotated[
        Optional[str],
        _option("--shard", metavar="K/N|auto", panel=LARGE,
                help="Fetch only shard K of N (by a stable hash of each URL; indexes stay those of the whole input). "
                "auto: K from the batch system (Kubernetes, Slurm, AWS Batch); N from auto/N or FETCHCLI_SHARDS."),
    ] = None,
    workers: Annotated[
        str,
        _option("--workers", metavar="P|auto", panel=LARGE, default="1",
                help="Fetch in P processes (auto: one per CPU); every limit stays the whole run's."),
    ] = "1",
    unique: Annotated[
        bool,
        _switch("--unique", panel=LARGE, help="Fetch each URL once: later repeats are left out (8-16 bytes per URL)."),
    ] = False,
    resume: Annotated[
        Optional[str],
        _option("--resume", metavar="FILE.jsonl", panel=LARGE,
                help="Carry on from FILE, an earlier run's JSON Lines output (even one killed): skip the URLs it "
                "records, append the others to it."),
    ] = None,
    resume_failed: Annotated[
        bool,
        _switch("--resume-failed", panel=LARGE,
                help="With --resume: fetch the URLs recorded as failed again; FILE keeps one record per URL."),
    ] = False,
    schema: Annotated[
        bool,
        _option("--schema", panel=OTHER, env=False, callback=_schema, is_eager=True, help="Print the JSON Schema of a record and exit."),
    ] = False,
    version: Annotated[
        bool,
        _option("--version", "-V", panel=OTHER, env=False, callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
    help: Annotated[
        bool,
        _option("--help", "-h", panel=OTHER, env=False, callback=_help, is_eager=True, expose_value=False, help="Show this help and exit."),
    ] = False,
) -> None:  # fmt: skip
    """Fetch many URLs concurrently; report status, timing and the first characters of each body."""
    from fetchcli.cli.runner import Environment, OutputOptions, execute
    from fetchcli.output.render.fields import parse_fields
    from fetchcli.transport.proxies import resolve_proxies

    def seconds(option: str, text: str | None, *, no_limit: bool = True) -> float | None:
        return None if text is None else parse_float(option, text, unit="a number of seconds", no_limit=no_limit)

    def count(option: str, text: str | None) -> int | None:
        return None if text is None else parse_int(option, text)

    def per_second(option: str, text: str | None) -> float | None:
        return None if text is None else parse_float(option, text, unit="a number of requests per second")

    if not urls and ctx.default_map:  # Click before 8.2 never looks up URL arguments there
        urls = list(ctx.default_map.get("urls") or [])
    proxies = resolve_proxies(proxy, noproxy, os.environ if env_proxy else {})
    settings = Settings(
        pool=PoolSettings(
            max_connections=parse_int("--max-connections", max_connections),
            max_keepalive=count("--max-keepalive", max_keepalive),
            keepalive_expiry=parse_float("--keepalive-expiry", keepalive_expiry, unit="a number of seconds"),
        ),
        timeouts=TimeoutSettings(
            timeout=parse_float("--timeout", timeout, unit="a number of seconds", no_limit=True),
            connect=seconds("--connect-timeout", connect_timeout),
            read=seconds("--read-timeout", read_timeout),
            write=seconds("--write-timeout", write_timeout),
            pool=seconds("--pool-timeout", pool_timeout),
            max_time=parse_float("--max-time", max_time, unit="a number of seconds", no_limit=True),
        ),
        request=RequestSettings(
            method=method.upper(),
            headers=tuple(parse_header(h) for h in header or ()),
            secret_headers=tuple(name.strip() for name in secret_header or ()),
            user_agent=user_agent,
            follow_redirects=follow_redirects,
            max_redirects=parse_int("--max-redirects", max_redirects),
            insecure=insecure,
            http2=http2,
            proxy=proxies.proxy,
            proxy_by_scheme=proxies.by_scheme,
            no_proxy=proxies.no_proxy,
            cacert=cacert,
            capath=capath,
            client_cert=cert,
            client_key=key,
            scheme_fallback=scheme_fallback,
        ),
        body=BodySettings(
            max_body_bytes=parse_int("--max-body-bytes", max_body_bytes),
            snippet_length=parse_int("--snippet-length", snippet_length),
            read_all=read_all,
        ),
        retry=RetrySettings(
            retries=parse_int("--retries", retries),
            retry_on=parse_status_list(retry_on),
            backoff=parse_float("--retry-backoff", retry_backoff, unit="a number of seconds"),
            max_wait=parse_float("--retry-max-wait", retry_max_wait, unit="a number of seconds"),
            all_methods=retry_all_methods,
        ),
        politeness=PolitenessSettings(
            per_host=count("--per-host", per_host),
            rate=per_second("--rate", rate),
            host_rate=per_second("--host-rate", host_rate),
        ),
        success=SuccessSettings(
            ok_status=parse_status_ranges(ok_status) if ok_status is not None else (),
            expect_text=expect_text,
            expect_regex=expect_regex,
            cert_expiry_days=count("--cert-expiry-days", cert_expiry_days),
        ),
        concurrency=count("--concurrency", concurrency),
        order=parse_choice("--order", order, Order),
        backend=parse_choice("--backend", backend, Backend),
        deadline=seconds("--deadline", deadline) or None,
        shard=_shard(shard),
        unique=unique,
        workers=(os.cpu_count() or 1) if workers.strip().lower() == "auto" else parse_int("--workers", workers),
    )
    loaded = ctx.meta.get(_LOADED)  # the config file read, if any
    options = OutputOptions(
        format=parse_choice("--format", format, OutputFormat) if format is not None else None,
        path=output,
        quiet=quiet,
        fsync=fsync,
        max_failures=parse_int("--max-failures", max_failures),
        summary=summary,
        summary_json=summary_json,
        fields=parse_fields(fields) if fields is not None else None,
        header_row=header_row,
        progress=progress,
        color=parse_choice("--color", color, ColorMode),
        resume=resume,
        resume_failed=resume_failed,
        config_file=loaded.path if loaded is not None else None,
    )
    if resume_failed and resume is None:
        raise SettingsError("--resume-failed", "goes with --resume FILE")
    if dry_run:
        from fetchcli.cli.dryrun import describe_run
        from fetchcli.cli.runner import write_failed
        from fetchcli.output.writer import Output, OutputError

        env = Environment()
        config_file = loaded.describe() if loaded is not None else "none"
        note = loaded.note if loaded is not None else None
        try:
            status = describe_run(
                settings, urls or [], input or [], proxies, env, options, config=config_file, note=note,
                origins=_origins(ctx),
            )  # fmt: skip
        except OutputError as exc:
            status = write_failed(env, Output(env.stdout, "stdout"), exc)
        raise typer.Exit(status)
    raise typer.Exit(execute(settings, urls or [], input or [], options, Environment()))


def _shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    from fetchcli.engine.selection import parse_shard

    shard = parse_shard(text, os.environ)
    return shard.k, shard.n


def _usage_error(message: str) -> int:
    from fetchcli.text import for_terminal

    sys.stderr.write(f"fetchcli: error: {for_terminal(message)}\n")
    sys.stderr.flush()
    return ExitStatus.USAGE


def _usage_exception_types() -> tuple[type[Any], ...]:
    """What Typer raises for a bad command line: ``typer.TyperException`` from Typer 0.28, which
    carries its own copy of Click; ``click.ClickException`` before that."""
    base = getattr(typer, "TyperException", None)
    if base is None:
        import click

        base = click.ClickException
    return (base,)


# The annotations whose values Click already hands over as fetchcli wants them: text (parsed by
# settings.parse_*), lists of text, and switches (Click's own bools, or config.py's).
_AS_GIVEN: dict[Any, type] = {
    str: str,
    Optional[str]: str,
    list[str]: list,
    Optional[list[str]]: list,
    bool: bool,
    Optional[bool]: bool,
}


def _values_as_given(command: Any) -> int:
    """Start-up, not behaviour: typer 0.29 and later coerce every value through a pydantic
    ``TypeAdapter`` built on first use; importing pydantic and building them is about 45 ms of
    every run. A value that already has its option's type (text, a list of text, a bool) is
    passed on as it is instead; anything else goes to typer's own coercion, so this shortcut
    can skip work but never change a value (and no switch depends on it: config.py reads their
    variables). Returns the number of options given the shortcut.

    It rests on typer internals (``typer._coercion.RuntimeParam`` and ``build_runtime_param``,
    a parameter's lazily built ``_runtime_param`` and ``type_descriptor``). Where they are
    missing or differ (typer before 0.29 has no coercion of its own to skip; a later one may
    rename them), nothing is replaced and typer coerces as usual: the same values, only slower.
    That fallback is silent at run time by design; tests/test_trust_switches.py fails loudly
    instead, when a typer with this coercion module is installed and the shortcut is not in
    effect for every option (or a run imports pydantic)."""
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
    except ImportError:
        return 0

    class _AsGiven(RuntimeParam):  # type: ignore[misc, unused-ignore]  # Any where typer has no _coercion
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            kind = _AS_GIVEN.get(self.annotation)
            if kind is list and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                return list(value)
            if kind is not None and kind is not list and isinstance(value, kind):
                return value
            return build_runtime_param(param.type_descriptor)._coerce_value(value, param, ctx)

    patched = 0
    for param in command.params:
        descriptor: Any = getattr(param, "type_descriptor", None)
        annotation = getattr(descriptor, "annotation", None)
        # _runtime_param is None until typer builds it on first use; absent: typer has changed.
        if not any(annotation == known for known in _AS_GIVEN) or getattr(param, "_runtime_param", False) is not None:
            continue
        try:
            param._runtime_param = _AsGiven(parameter_info=descriptor.parameter_info, annotation=annotation)
        except TypeError:  # RuntimeParam takes other fields now: typer's own coercion throughout
            return patched
        patched += 1
    return patched


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and return the exit status (no traceback for usage errors)."""
    from fetchcli.cli.stdstreams import fill_closed_standard_streams, unencodable_as_escapes

    fill_closed_standard_streams()  # first: before anything opens a file (see stdstreams.py)
    unencodable_as_escapes()
    command = typer.main.get_command(app)
    _values_as_given(command)
    try:
        result = command.main(args=argv, prog_name="fetchcli", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except SettingsError as exc:
        return _usage_error(str(exc))
    except _usage_exception_types() as exc:
        if exc.exit_code == ExitStatus.USAGE:
            return _usage_error(" ".join(exc.format_message().split()))
        return _usage_error(exc.format_message())
    except (KeyboardInterrupt, typer.Abort):
        return ExitStatus.INTERRUPTED
    return result if isinstance(result, int) else 0
