"""The option table: every command-line option of fetchcli declared once, as data.

One row per option (``Option``): its parameter name, flags, help section, value name, default
(as the command line gives it: text), what ``--help`` shows as its default, the parser that
turns the text into a value, where that value lands (``Settings``, ``OutputOptions``, or the
command itself), its ``FETCHCLI_<NAME>`` variable, whether it is a switch (with a ``--no-``
form) and whether a config file may set it. The model is HTTPie's ``httpie/cli/definition.py``
(options declared as data, the parser and the help generated from them).

Generated from the table: the Typer parameters (``app.py``), the environment and config file
handling (``config.py``), the help (``help.py``), where a value came from for ``--dry-run`` and
for a usage error (``app.py``), and the run's ``Settings`` (``settings_from_values``, pure: the
values by parameter name -> ``Settings``; the environment is an argument). No typer here: the
core may import this module.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

from fetchcli._version import __version__
from fetchcli.output.metrics import DEFAULT_MAX_URLS as DEFAULT_METRICS_MAX_URLS
from fetchcli.settings import (
    DEFAULT_KEEPALIVE_EXPIRY,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_REDIRECTS,
    DEFAULT_MAX_SAVE_BYTES,
    DEFAULT_MAX_TIME,
    DEFAULT_METHOD,
    DEFAULT_RETRY_BACKOFF,
    DEFAULT_RETRY_MAX_WAIT,
    DEFAULT_RETRY_ON,
    DEFAULT_SAVE_NAME,
    DEFAULT_SNIPPET_LENGTH,
    DEFAULT_TIMEOUT,
    Backend,
    BodySettings,
    ColorMode,
    InputFormat,
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
    parse_choice,
    parse_float,
    parse_header,
    parse_int,
    parse_status_list,
    parse_status_ranges,
)

if TYPE_CHECKING:
    from fetchcli.cli.plan import OutputOptions
    from fetchcli.cli.requestbody import RequestBody
    from fetchcli.transport.proxies import Proxies

ENV_PREFIX = "FETCHCLI_"

# Help sections, in the order --help shows them.
INPUT, OUTPUT, SUCCESS, REQUEST, TLS = "Input", "Output", "Success and exit status", "Request", "TLS"
PROXY, POOL, TIMEOUTS, RETRY, POLITE, BODY = "Proxy", "Connection pool", "Timeouts", "Retries", "Politeness", "Body"
LARGE, STATE, OTHER = "Large runs", "State between runs", "Other"
SECTIONS = (INPUT, OUTPUT, SUCCESS, REQUEST, TLS, PROXY, POOL, TIMEOUTS, RETRY, POLITE, BODY, LARGE, STATE, OTHER)

Kind = Literal["flag", "list", "value"]
Environ = Mapping[str, str]
# (the option's long flag, the value as given, the environment) -> the value for Settings
Parser = Callable[[str, Any, Environ], Any]


def env_name(long_option: str) -> str:
    """``--max-connections`` (or the parameter's name, ``max_connections``) ->
    ``FETCHCLI_MAX_CONNECTIONS``."""
    return ENV_PREFIX + long_option.lstrip("-").replace("-", "_").upper()


@dataclass(frozen=True)
class Option:
    """One option (or the URL argument) of the command."""

    name: str  # the parameter's name: max_connections
    flags: tuple[str, ...]  # as declared: ("--max-connections",), ("--timeout", "-t"); () for the argument
    section: str
    help: str
    kind: Kind = "value"  # a switch (flag), an option given more than once (list), one value
    metavar: str | None = None
    default: str | bool | None = None  # what the command line gives when nothing is given
    shown_default: str | None = None  # --help's [default: ...]
    parser: Parser | None = None  # None: the value as given
    lands: str | None = None  # "timeouts.connect", "output.quiet"; None: the command uses it
    env: bool = True  # has a FETCHCLI_<NAME> variable
    configurable: bool = True  # a config file may set it
    switch: bool = False  # --NAME/--no-NAME
    off: str | None = None  # another spelling of the switch's off form (--no-header)
    any_bytes: bool = False  # a path, or a body (-d TEXT|@FILE): any bytes, not only UTF-8 text
    choices: type[enum.Enum] | None = None
    eager: bool = False  # acts before the other options are read (--config, --version, ...)

    @property
    def long(self) -> str:
        """``--max-connections``; the metavar for the argument."""
        return next((f for f in self.flags if f.startswith("--")), self.metavar or self.name)

    @property
    def is_argument(self) -> bool:
        return not self.flags

    @property
    def no_flag(self) -> str | None:
        return f"--no-{self.long[2:]}" if self.switch else None

    @property
    def variable(self) -> str | None:
        """``FETCHCLI_<NAME>``, or None for an option without one."""
        return env_name(self.name) if self.env and not self.is_argument else None

    @property
    def variable_read_by_click(self) -> bool:
        """Click reads the variables of options that take one value; fetchcli reads the others
        itself (config.py): switches (only 1/true/yes/on or 0/false/no/off), lists (one value
        per line) and ``FETCHCLI_CONFIG`` (Click takes an empty variable for an unset one)."""
        return self.variable is not None and self.kind == "value" and self.configurable

    def parse(self, value: Any, environ: Environ) -> Any:
        return value if self.parser is None else self.parser(self.long, value, environ)


# Parsers: (flag, value as given, environ) -> the value Settings holds.


def _integer(flag: str, text: str | None, environ: Environ) -> int | None:
    return None if text is None else parse_int(flag, text)


def _count(flag: str, text: str, environ: Environ) -> int:
    """A whole number, 0 or more."""
    number = parse_int(flag, text)
    if number < 0:
        raise SettingsError(flag, "must be 0 or more")
    return number


def _seconds(flag: str, text: str | None, environ: Environ) -> float | None:
    """Seconds, where 0 or inf is no limit."""
    return None if text is None else parse_float(flag, text, unit="a number of seconds", no_limit=True)


def _interval(flag: str, text: str, environ: Environ) -> float:
    """Seconds, finite."""
    return parse_float(flag, text, unit="a number of seconds")


def _per_second(flag: str, text: str | None, environ: Environ) -> float | None:
    return None if text is None else parse_float(flag, text, unit="a number of requests per second")


def _deadline(flag: str, text: str, environ: Environ) -> float | None:
    return _seconds(flag, text, environ) or None


def _choice(choices: type[enum.Enum]) -> Parser:
    return lambda flag, text, environ: None if text is None else parse_choice(flag, text, choices)


def _method(flag: str, text: str | None, environ: Environ) -> str | None:
    return None if text is None else text.upper()  # None: GET, or POST with a body (settings_from_values)


def _headers(flag: str, texts: list[str] | None, environ: Environ) -> tuple[tuple[str, str], ...]:
    return tuple(parse_header(text) for text in texts or ())


def _resolves(flag: str, texts: list[str] | None, environ: Environ) -> tuple[tuple[str, int, tuple[str, ...]], ...]:
    from fetchcli.transport.addressmap import parse_resolve

    return tuple(parse_resolve(flag, text) for text in texts or ())


def _connects_to(
    flag: str, texts: list[str] | None, environ: Environ
) -> tuple[tuple[str | None, int | None, str | None, int | None], ...]:
    from fetchcli.transport.addressmap import parse_connect_to

    return tuple(parse_connect_to(flag, text) for text in texts or ())


def _names(flag: str, texts: list[str] | None, environ: Environ) -> tuple[str, ...]:
    return tuple(text.strip() for text in texts or ())


def _statuses(flag: str, text: str, environ: Environ) -> frozenset[int]:
    return parse_status_list(text)


def _ok_statuses(flag: str, text: str | None, environ: Environ) -> tuple[tuple[int, int], ...]:
    return parse_status_ranges(text) if text is not None else ()


def _jq_expression(flag: str, text: str | None, environ: Environ) -> str | None:
    """A jq expression; that it compiles, with jq installed, is checked once the run's
    --deadline is known (``settings_from_values``: the check is bounded by it)."""
    return text


def _shard(flag: str, text: str | None, environ: Environ) -> tuple[int, int] | None:
    if text is None:
        return None
    from fetchcli.engine.selection import parse_shard

    shard = parse_shard(text, environ)
    return shard.k, shard.n


def _workers(flag: str, text: str, environ: Environ) -> int:
    return (os.cpu_count() or 1) if text.strip().lower() == "auto" else parse_int(flag, text)


def _fields(flag: str, text: str | None, environ: Environ) -> tuple[str, ...] | None:
    from fetchcli.output.render.fields import parse_fields

    return parse_fields(text) if text is not None else None


def _save_name(flag: str, text: str, environ: Environ) -> str:
    from fetchcli.engine.savename import TemplateError, check_template

    try:
        return check_template(text)
    except TemplateError as exc:
        raise SettingsError(flag, str(exc)) from None


def _watch(flag: str, text: str | None, environ: Environ) -> tuple[str, ...] | None:
    from fetchcli.output.change import parse_watch

    return parse_watch(text) if text is not None else None


def _enum_metavar(choices: type[enum.Enum]) -> str:
    return "|".join(str(member.value) for member in choices)


def _value(name: str, *flags: str, section: str, help: str, **kw: Any) -> Option:
    return Option(name, flags, section, help, **kw)


def _switch(name: str, *flags: str, section: str, help: str, **kw: Any) -> Option:
    return Option(name, flags, section, help, kind="flag", switch=True, default=kw.pop("default", False), **kw)


def _pick(name: str, *flags: str, section: str, help: str, choices: type[enum.Enum], **kw: Any) -> Option:
    return Option(
        name, flags, section, help, metavar=_enum_metavar(choices), choices=choices, parser=_choice(choices), **kw
    )


def _action(name: str, *flags: str, help: str) -> Option:
    """An option that acts at once (prints and exits): no variable, no config key."""
    return Option(name, flags, OTHER, help, kind="flag", default=False, env=False, configurable=False, eager=True)


# The table, in --help's order (sections, then rows). Values are parsed in the order of the
# fields of Settings (then OutputOptions), as before, so the first bad value is the one named.
OPTIONS: tuple[Option, ...] = (
    Option("urls", (), INPUT, "URLs to fetch ('https://' is added when no scheme is given).", kind="list",
           metavar="URL...", any_bytes=True),
    _value("input", "--input", "-i", section=INPUT, kind="list", metavar="PATH", any_bytes=True,
           help="File of URLs, one per line ('-' for stdin); repeatable. Blank lines and '#' comments are skipped. "
           "A file named *.jsonl or *.ndjson holds a request a line (--input-format)."),
    _pick("input_format", "--input-format", section=INPUT, choices=InputFormat, default="auto", shown_default="auto",
          lands="input_format",
          help="How -i files and stdin are read: text (a URL a line), jsonl (a JSON object a line: "
          "url, and optional method, headers, data, json, meta), or auto (jsonl for *.jsonl and *.ndjson, else text)."),
    _switch("scheme_fallback", "--scheme-fallback", section=INPUT, lands="request.scheme_fallback",
            help="A URL without a scheme: try https://, then http:// if its own TLS handshake fails or its "
            "connection is refused (after --retries; never after an answer, never with secret headers, URL "
            "credentials or a request body)."),
    _value("config", "--config", section=INPUT, metavar="FILE", configurable=False, any_bytes=True, eager=True,
           shown_default="$XDG_CONFIG_HOME/fetchcli/config.toml (~/.config/...) if only you can write it",
           help="Read option values from this TOML file instead; '' reads none."),
    _switch("dry_run", "--dry-run", section=INPUT,
            help="Make a run's checks, then print the effective settings (each with where it came from), "
            "where the records would go, and each URL with its validity; send nothing."),
    _pick("format", "--format", "-f", section=OUTPUT, choices=OutputFormat, lands="output.format",
          shown_default="from -o's extension (.json .jsonl .ndjson .csv .tsv; another one is an error), else table on a terminal, else jsonl",
          help="Output format."),
    _value("fields", "--fields", section=OUTPUT, metavar="A,B,...", parser=_fields, lands="output.fields",
           help="Fields to write, in this order (json, jsonl, csv, tsv), e.g. url,status,error.type,tls.days_left."),
    _pick("order", "--order", section=OUTPUT, choices=Order, default="input", shown_default="input", lands="order",
          help="Write results in input order or as they complete."),
    _value("output", "--output", "-o", section=OUTPUT, metavar="PATH", shown_default="stdout", lands="output.path",
           any_bytes=True,
           help="Write results to PATH (through a symlink, FIFO or device; atomically for a regular file)."),
    _switch("fsync", "--fsync", section=OUTPUT, lands="output.fsync", help="With -o and jsonl: fsync after every line."),
    _switch("header_row", "--header-row", section=OUTPUT, off="--no-header", default=True, shown_default="on",
            lands="output.header_row", help="csv and tsv: begin with a row of field names; --no-header leaves it out."),
    _switch("progress", "--progress", section=OUTPUT, default=None, shown_default="when stderr is a terminal, unless -q",
            lands="output.progress", help="A live progress line on stderr."),
    _pick("color", "--color", section=OUTPUT, choices=ColorMode, default="auto", shown_default="auto",
          lands="output.color",
          help="Colours in the table and the progress line; auto: on a terminal, unless NO_COLOR is set."),
    _switch("summary", "--summary", section=OUTPUT, lands="output.summary",
            help="Print the summary line on stderr even when it is not a terminal."),
    _value("summary_json", "--summary-json", section=OUTPUT, metavar="PATH", lands="output.summary_json",
           any_bytes=True, help="Write the run's summary as JSON to PATH (same rules as -o)."),
    _value("metrics", "--metrics", section=OUTPUT, metavar="FILE.prom", lands="output.metrics", any_bytes=True,
           help="At the end of the run, write Prometheus metrics for node_exporter's textfile collector to FILE.prom, "
           "named as blackbox_exporter's (same rules as -o; docs/metrics.md)."),
    _value("metrics_max_urls", "--metrics-max-urls", section=OUTPUT, metavar="N", default=str(DEFAULT_METRICS_MAX_URLS),
           shown_default=f"{DEFAULT_METRICS_MAX_URLS:,}", parser=_count, lands="output.metrics_max_urls",
           help="--metrics: per-URL series for at most N URLs; beyond them only the run's totals."),
    _switch("quiet", "--quiet", "-q", section=OUTPUT, lands="output.quiet",
            help="No summary line and no progress line on stderr."),
    _value("ok_status", "--ok-status", section=SUCCESS, metavar="CODES", shown_default="below 400",
           parser=_ok_statuses, lands="success.ok_status",
           help="Statuses that count as success: codes, ranges and classes, e.g. 2xx,301 or 200-299."),
    _value("expect_text", "--expect-text", section=SUCCESS, metavar="TEXT", lands="success.expect_text",
           help="A URL is ok only if the body read (--max-body-bytes) contains TEXT."),
    _value("expect_regex", "--expect-regex", section=SUCCESS, metavar="RE", lands="success.expect_regex",
           help="A URL is ok only if the body read matches the regular expression RE."),
    _value("expect_jq", "--expect-jq", section=SUCCESS, metavar="EXPR", parser=_jq_expression,
           lands="success.expect_jq",
           help="A URL is ok only if the jq expression EXPR, run on the whole body parsed as JSON, yields true "
           "(every output, at least one); needs the jq extra."),
    _value("max_failures", "--max-failures", section=SUCCESS, metavar="N", default="0", shown_default="0",
           parser=_integer, lands="output.max_failures",
           help="Exit 0 while at most N URLs failed (the records still say which)."),
    _value("method", "--method", "-X", section=REQUEST, metavar="METHOD",
           shown_default=f"{DEFAULT_METHOD}, POST with a body", parser=_method, lands="request.method",
           help="HTTP method."),
    _switch("head_fallback", "--head-fallback", section=REQUEST, lands="request.head_fallback",
            help="With -X HEAD: ask again with GET (reading no body) when a server answers HEAD with 405 or 501, "
            "or 403/404 where GET gives a 2xx; the record's method says which answered."),
    _value("data", "--data", "-d", section=REQUEST, kind="list", metavar="TEXT|@FILE", env=False, configurable=False,
           any_bytes=True,
           help="Send this body to every URL (POST unless -X says otherwise), form-encoded as curl's -d: @FILE "
           "without its newlines, @- from stdin; repeatable, joined by '&'."),
    _value("data_binary", "--data-binary", section=REQUEST, kind="list", metavar="TEXT|@FILE", env=False,
           configurable=False, any_bytes=True, help="As --data, the bytes exactly (a file's newlines kept)."),
    _value("json", "--json", section=REQUEST, kind="list", metavar="TEXT|@FILE", env=False, configurable=False,
           any_bytes=True,
           help="Send this JSON body, with Content-Type and Accept: application/json (curl's --json); repeatable, "
           "concatenated."),
    _value("header", "--header", "-H", section=REQUEST, kind="list", metavar="'NAME: VALUE'", parser=_headers,
           lands="request.headers", help="Extra request header; repeatable."),
    _value("secret_header", "--secret-header", section=REQUEST, kind="list", metavar="NAME", parser=_names,
           lands="request.secret_headers",
           help="A header whose value is a secret, like Authorization: masked in every output, dropped on a "
           "redirect to another origin; repeatable (Authorization, Proxy-Authorization, Cookie, X-Api-Key, "
           "Api-Key, X-Auth-Token and PRIVATE-TOKEN always are)."),
    _value("resolve", "--resolve", section=REQUEST, kind="list", metavar="HOST:PORT:ADDR[,ADDR]", parser=_resolves,
           lands="request.resolve",
           help="Connect to HOST on PORT at these addresses, without looking the name up (curl's --resolve); "
           "Host, TLS name and certificate stay the URL's; repeatable."),
    _value("connect_to", "--connect-to", section=REQUEST, kind="list", metavar="HOST1:PORT1:HOST2:PORT2",
           parser=_connects_to, lands="request.connect_to",
           help="Connect to HOST2:PORT2 for HOST1:PORT1 (any may be empty: any, or the same), as curl's "
           "--connect-to; Host, TLS name and certificate stay the URL's; repeatable."),
    _switch("ipv4", "--ipv4", "-4", section=REQUEST, lands="request.ipv4",
            help="Resolve names to IPv4 addresses only, and connect over IPv4 only (proxies too), as curl's -4."),
    _switch("ipv6", "--ipv6", "-6", section=REQUEST, lands="request.ipv6",
            help="Resolve names to IPv6 addresses only, and connect over IPv6 only (proxies too), as curl's -6."),
    _switch("all_ips", "--all-ips", section=REQUEST, lands="request.all_ips",
            help="Probe every address the URL's host resolves to (after -4/-6 and --resolve): one record per "
            "address, each with its remote_ip and the URL's index."),
    _value("user_agent", "--user-agent", "-A", section=REQUEST, metavar="TEXT", shown_default=f"fetchcli/{__version__}",
           lands="request.user_agent", help="User-Agent header."),
    _switch("follow_redirects", "--follow-redirects", "-L", section=REQUEST, lands="request.follow_redirects",
            help="Follow redirects (off by default, like curl)."),
    _value("max_redirects", "--max-redirects", section=REQUEST, metavar="N", default=str(DEFAULT_MAX_REDIRECTS),
           shown_default=str(DEFAULT_MAX_REDIRECTS), parser=_integer, lands="request.max_redirects",
           help="Redirects followed at most with -L."),
    _switch("http2", "--http2", section=REQUEST, lands="request.http2",
            help="Offer HTTP/2 (needs the h2 package: in fetchcli's clone, pip install '.[http2]')."),
    _pick("backend", "--backend", section=REQUEST, choices=Backend, default="auto", shown_default="auto",
          lands="backend", help="Transport: aiohttp (fast, HTTP/1.1), httpx (HTTP/2, SOCKS proxies), or auto."),
    _switch("insecure", "--insecure", "-k", section=TLS, lands="request.insecure",
            help="Do not verify TLS certificates (their facts are still reported in tls)."),
    _value("cacert", "--cacert", section=TLS, metavar="FILE", shown_default="SSL_CERT_FILE, else certifi's bundle",
           lands="request.cacert", any_bytes=True, help="Trust the CA certificates in this PEM file."),
    _value("capath", "--capath", section=TLS, metavar="DIR", shown_default="SSL_CERT_DIR", lands="request.capath",
           any_bytes=True, help="Trust the CA certificates in this directory (hashed, as by openssl rehash)."),
    _value("cert", "--cert", "-E", section=TLS, metavar="FILE", lands="request.client_cert", any_bytes=True,
           help="Client certificate (PEM), with its key unless --key is given."),
    _value("key", "--key", section=TLS, metavar="FILE", lands="request.client_key", any_bytes=True,
           help="Private key (PEM, unencrypted) of --cert."),
    _value("cert_expiry_days", "--cert-expiry-days", section=TLS, metavar="N", parser=_integer,
           lands="success.cert_expiry_days",
           help="An https URL whose certificate has fewer than N whole days left fails (CertificateExpiring)."),
    _value("proxy", "--proxy", "-x", section=PROXY, metavar="URL", shown_default="from the environment",
           help="Send every request through this proxy (http://, https:// or socks5://)."),
    _value("noproxy", "--noproxy", section=PROXY, metavar="HOSTS", shown_default="NO_PROXY",
           help="Hosts, domains or networks reached directly, comma-separated ('*': all)."),
    _switch("env_proxy", "--env-proxy", section=PROXY, default=True, shown_default="on",
            help="Use HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY (either case) from the environment."),
    _value("max_connections", "--max-connections", section=POOL, metavar="N", default=str(DEFAULT_MAX_CONNECTIONS),
           shown_default=str(DEFAULT_MAX_CONNECTIONS), parser=_integer, lands="pool.max_connections",
           help="Open TCP connections at most (all hosts together)."),
    _value("max_keepalive", "--max-keepalive", section=POOL, metavar="N", shown_default="same as --max-connections",
           parser=_integer, lands="pool.max_keepalive", help="Idle connections kept open for reuse at most."),
    _value("keepalive_expiry", "--keepalive-expiry", section=POOL, metavar="SECONDS",
           default=f"{DEFAULT_KEEPALIVE_EXPIRY:g}", shown_default=f"{DEFAULT_KEEPALIVE_EXPIRY:g}", parser=_interval,
           lands="pool.keepalive_expiry", help="Close a connection idle this long."),
    _value("concurrency", "--concurrency", "-c", section=POOL, metavar="N", shown_default="same as --max-connections",
           parser=_integer, lands="concurrency", help="Requests in flight at most."),
    _value("timeout", "--timeout", "-t", section=TIMEOUTS, metavar="SECONDS", default=f"{DEFAULT_TIMEOUT:g}",
           shown_default=f"{DEFAULT_TIMEOUT:g}", parser=_seconds, lands="timeouts.timeout",
           help="Limit for each phase (connect, read, write, pool); 0 or inf: no limit."),
    _value("connect_timeout", "--connect-timeout", section=TIMEOUTS, metavar="SECONDS", shown_default="--timeout",
           parser=_seconds, lands="timeouts.connect", help="Limit for connecting (TCP and TLS)."),
    _value("read_timeout", "--read-timeout", section=TIMEOUTS, metavar="SECONDS", shown_default="--timeout",
           parser=_seconds, lands="timeouts.read", help="Limit for each wait for data."),
    _value("write_timeout", "--write-timeout", section=TIMEOUTS, metavar="SECONDS", shown_default="--timeout",
           parser=_seconds, lands="timeouts.write", help="Limit for each wait to send data."),
    _value("pool_timeout", "--pool-timeout", section=TIMEOUTS, metavar="SECONDS", shown_default="--timeout",
           parser=_seconds, lands="timeouts.pool", help="Limit for waiting for a free connection."),
    _value("max_time", "--max-time", "-m", section=TIMEOUTS, metavar="SECONDS", default=f"{DEFAULT_MAX_TIME:g}",
           shown_default=f"{DEFAULT_MAX_TIME:g}", parser=_seconds, lands="timeouts.max_time",
           help="Total limit for one URL from its first request, redirects, retries and body included; 0 or inf: no limit."),
    _value("deadline", "--deadline", section=TIMEOUTS, metavar="SECONDS", default="0", shown_default="0",
           parser=_deadline, lands="deadline",
           help="Limit for the whole run: then URLs in flight are cancelled and the rest reported as not started; 0 or inf: no limit."),
    _value("retries", "--retries", section=RETRY, metavar="N", default="0", shown_default="0", parser=_integer,
           lands="retry.retries",
           help="Retry a URL up to N times after a connection error, a timeout or a --retry-on status."),
    _value("retry_on", "--retry-on", section=RETRY, metavar="CODES", default=",".join(map(str, DEFAULT_RETRY_ON)),
           shown_default=",".join(map(str, DEFAULT_RETRY_ON)), parser=_statuses, lands="retry.retry_on",
           help="Statuses worth a retry, comma-separated."),
    _value("retry_backoff", "--retry-backoff", section=RETRY, metavar="SECONDS", default=f"{DEFAULT_RETRY_BACKOFF:g}",
           shown_default=f"{DEFAULT_RETRY_BACKOFF:g}", parser=_interval, lands="retry.backoff",
           help="First backoff; doubles each try, with full jitter."),
    _value("retry_max_wait", "--retry-max-wait", section=RETRY, metavar="SECONDS",
           default=f"{DEFAULT_RETRY_MAX_WAIT:g}", shown_default=f"{DEFAULT_RETRY_MAX_WAIT:g}", parser=_interval,
           lands="retry.max_wait", help="Longest wait between tries, Retry-After included; at most 86400 (a day)."),
    _switch("retry_all_methods", "--retry-all-methods", section=RETRY, lands="retry.all_methods",
            help="Also retry methods that are not idempotent (POST, PATCH) once a request was sent."),
    _value("per_host", "--per-host", section=POLITE, metavar="N", shown_default="no limit", parser=_integer,
           lands="politeness.per_host", help="Requests in flight to one host at most."),
    _value("rate", "--rate", section=POLITE, metavar="R", shown_default="no limit", parser=_per_second,
           lands="politeness.rate", help="Requests per second overall at most (may be fractional)."),
    _value("host_rate", "--host-rate", section=POLITE, metavar="R", shown_default="no limit", parser=_per_second,
           lands="politeness.host_rate", help="Requests per second to one host at most."),
    _value("max_body_bytes", "--max-body-bytes", section=BODY, metavar="N", default=str(DEFAULT_MAX_BODY_BYTES),
           shown_default=str(DEFAULT_MAX_BODY_BYTES), parser=_integer, lands="body.max_body_bytes",
           help="Decoded body bytes read at most; the response is closed after that."),
    _value("snippet_length", "--snippet-length", section=BODY, metavar="N", default=str(DEFAULT_SNIPPET_LENGTH),
           shown_default=str(DEFAULT_SNIPPET_LENGTH), parser=_integer, lands="body.snippet_length",
           help="Characters of body text shown."),
    _switch("read_all", "--read-all", section=BODY, lands="body.read_all",
            help="Read each body to its end, keeping only --max-body-bytes: exact bytes_read and sha256."),
    _value("save", "--save", section=BODY, metavar="DIR", lands="body.save_dir", any_bytes=True,
           help="Save each body, whole and decoded, to a file under DIR (made if missing), named by --save-name; "
           "never written outside DIR. The record's saved_path and sha256 say where and what."),
    _value("max_save_bytes", "--max-save-bytes", section=BODY, metavar="N", default=str(DEFAULT_MAX_SAVE_BYTES),
           shown_default=str(DEFAULT_MAX_SAVE_BYTES), parser=_integer, lands="body.max_save_bytes",
           help="With --save: a body larger than N bytes (decoded) is not saved, and its URL fails (BodyTooLarge)."),
    _value("save_name", "--save-name", section=BODY, metavar="TEMPLATE", default=DEFAULT_SAVE_NAME,
           shown_default=DEFAULT_SAVE_NAME, parser=_save_name, lands="body.save_name",
           help="With --save: the file's name under DIR, from {host}, {path}, {index}, {sha256} and text."),
    _value("shard", "--shard", section=LARGE, metavar="K/N|auto", parser=_shard, lands="shard",
           help="Fetch only shard K of N (by a stable hash of each URL; indexes stay those of the whole input). "
           "auto: K from the batch system (Kubernetes, Slurm, AWS Batch); N from auto/N or FETCHCLI_SHARDS."),
    _value("workers", "--workers", section=LARGE, metavar="P|auto", default="1", shown_default="1", parser=_workers,
           lands="workers", help="Fetch in P processes (auto: one per CPU); every limit stays the whole run's."),
    _switch("unique", "--unique", section=LARGE, lands="unique",
            help="Fetch each URL once: later repeats are left out (8-16 bytes per URL)."),
    _value("resume", "--resume", section=LARGE, metavar="FILE.jsonl", lands="output.resume", any_bytes=True,
           help="Carry on from FILE, an earlier run's JSON Lines output (even one killed): skip the URLs it "
           "records, append the others to it."),
    _switch("resume_failed", "--resume-failed", section=LARGE, lands="output.resume_failed",
            help="With --resume: fetch the URLs recorded as failed again; FILE keeps one record per URL."),
    _value("state", "--state", section=STATE, metavar="FILE", lands="output.state", any_bytes=True,
           help="Remember each URL's last answer in FILE (SQLite; created if absent; not on a network filesystem): "
           "records gain change, consecutive_failures and not_modified."),
    _switch("conditional", "--conditional", section=STATE, lands="output.conditional",
            help="With --state: send If-None-Match / If-Modified-Since from the stored ETag and Last-Modified; "
            "a 304 is ok (not_modified: true)."),
    _value("watch", "--watch", section=STATE, metavar="A,B,...", parser=_watch, lands="output.watch",
           shown_default="ok,status,final_url,title,remote_ip,sha256,tls.not_after",
           help="With --state: the fields whose change makes a record's change.kind 'changed' (sha256: with --read-all)."),
    _switch("only_changed", "--only-changed", section=STATE, lands="output.only_changed",
            help="With --state: write only records that are new or changed (the summary counts every URL)."),
    _value("fail_after", "--fail-after", section=STATE, metavar="N", default="1", shown_default="1",
           parser=_integer, lands="output.fail_after",
           help="With --state: a failed URL counts for the exit status (and --max-failures) only once it has "
           "failed N runs in a row."),
    _action("schema", "--schema", help="Print the JSON Schema of a record and exit."),
    _action("version", "--version", "-V", help="Show the version and exit."),
    _action("help", "--help", "-h", help="Show this help and exit."),
)  # fmt: skip

BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}


def section_names(section: str) -> tuple[str, ...]:
    """The parameter names of a section's options, in the table's order."""
    return tuple(option.name for option in OPTIONS if option.section == section)


def defaults() -> dict[str, Any]:
    """Every option's value when nothing is given, by parameter name."""
    return {option.name: option.default for option in OPTIONS}


_BY_TARGET = {option.lands: option for option in OPTIONS if option.lands is not None}


def _landing_in(kind: type[Any], prefix: str = "") -> list[tuple[str, Option]]:
    """(field, the option that sets it) for the fields of the dataclass ``kind`` that an option
    sets (``prefix`` + field name is its ``lands``), in the order of the fields."""
    return [(f.name, _BY_TARGET[prefix + f.name]) for f in fields(kind) if prefix + f.name in _BY_TARGET]


_GROUPS: dict[str, type[Any]] = {
    "pool": PoolSettings,
    "timeouts": TimeoutSettings,
    "request": RequestSettings,
    "body": BodySettings,
    "retry": RetrySettings,
    "politeness": PolitenessSettings,
    "success": SuccessSettings,
}


def proxies_from_values(values: Mapping[str, Any], environ: Environ) -> Proxies:
    """``--proxy``, ``--noproxy`` and ``--env-proxy`` with the environment's proxy variables."""
    from fetchcli.transport.proxies import resolve_proxies

    env_proxy = values.get("env_proxy", BY_NAME["env_proxy"].default)
    return resolve_proxies(values.get("proxy"), values.get("noproxy"), environ if env_proxy else {})


def settings_from_values(
    values: Mapping[str, Any], environ: Environ | None = None, body: RequestBody | None = None
) -> Settings:
    """The run's ``Settings`` from the options' values as the command line gives them (text,
    lists of text, bools), by parameter name; a name left out has its default. A bad value is
    a ``SettingsError`` naming its flag; values are parsed in the order of Settings' fields, so
    the first bad one is named. ``environ``: for the proxy variables and ``--shard auto``.
    ``body``: the body read from -d, --data-binary or --json (``requestbody.body_of``)."""
    environ = os.environ if environ is None else environ
    values = {**defaults(), **values}
    proxies = proxies_from_values(values, environ)
    top: dict[str, Any] = {}
    for field in fields(Settings):
        group = _GROUPS.get(field.name)
        if group is None:
            option = _BY_TARGET.get(field.name)
            if option is not None:
                top[field.name] = option.parse(values[option.name], environ)
            continue
        kwargs = {name: o.parse(values[o.name], environ) for name, o in _landing_in(group, f"{field.name}.")}
        if group is BodySettings:
            kwargs["save_fsync"] = bool(values.get("fsync"))
        if group is RequestSettings:
            kwargs.update(proxy=proxies.proxy, proxy_by_scheme=proxies.by_scheme, no_proxy=proxies.no_proxy)
            _with_body(kwargs, body)
        top[field.name] = group(**kwargs)
    settings = Settings(**top)
    if settings.success.expect_jq is not None:
        if settings.request.method == "HEAD":
            # never true: a HEAD response has no body, nor has --head-fallback's GET (it reads none)
            raise SettingsError("--expect-jq", "needs a body, and -X HEAD asks for none")
        from fetchcli.engine.jqcheck import compile_problem

        problem = compile_problem(settings.success.expect_jq, within=settings.deadline)  # before anything is sent
        if problem is not None:
            raise SettingsError("--expect-jq", problem)
    if settings.body.save_dir is None:  # else silently nothing saved
        for flag, used in (
            ("--max-save-bytes", settings.body.max_save_bytes != DEFAULT_MAX_SAVE_BYTES),
            ("--save-name", settings.body.save_name != DEFAULT_SAVE_NAME),
        ):
            if used:
                raise SettingsError(flag, "goes with --save DIR")
    return settings


def _with_body(kwargs: dict[str, Any], body: RequestBody | None) -> None:
    """The request's method (GET, or POST with a body, unless -X), its body, and the body's
    Content-Type (and Accept, for --json) among the headers unless -H gives them."""
    if kwargs.get("method") is None:
        kwargs["method"] = "POST" if body is not None else DEFAULT_METHOD
    if kwargs.get("head_fallback") and kwargs["method"] != "HEAD":
        raise SettingsError("--head-fallback", "goes with -X HEAD")
    if body is None:
        return
    headers = tuple(kwargs.get("headers", ()))
    given = {name.lower() for name, _ in headers}
    added = [("Content-Type", body.content_type)] if "content-type" not in given else []
    if body.accept is not None and "accept" not in given:
        added.append(("Accept", body.accept))
    kwargs.update(body=body.data, headers=headers + tuple(added))


def output_options_from_values(values: Mapping[str, Any], config_file: str | None = None) -> OutputOptions:
    """The run's ``OutputOptions`` (format, paths, what stderr shows), as ``settings_from_values``."""
    from fetchcli.cli.plan import OutputOptions

    values = {**defaults(), **values}
    kwargs = {name: option.parse(values[option.name], {}) for name, option in _landing_in(OutputOptions, "output.")}
    body_files = tuple(
        (flag, text[1:])
        for flag, name in (("--data", "data"), ("--data-binary", "data_binary"), ("--json", "json"))
        for text in values.get(name) or ()
        if text.startswith("@") and text not in ("@", "@-")
    )
    options = OutputOptions(**kwargs, config_file=config_file, body_files=body_files)
    if options.resume_failed and options.resume is None:
        raise SettingsError("--resume-failed", "goes with --resume FILE")
    if options.metrics is None and options.metrics_max_urls != DEFAULT_METRICS_MAX_URLS:
        raise SettingsError("--metrics-max-urls", "goes with --metrics FILE.prom")
    if options.fail_after < 1:
        raise SettingsError("--fail-after", "must be 1 or more")
    if options.state is None:
        given = [("--conditional", options.conditional), ("--watch", options.watch is not None)]
        given += [("--only-changed", options.only_changed), ("--fail-after", options.fail_after != 1)]
        for flag, used in given:
            if used:
                raise SettingsError(flag, "goes with --state FILE")
    return options


__all__ = [
    "BY_NAME",
    "OPTIONS",
    "SECTIONS",
    "Option",
    "env_name",
    "output_options_from_values",
    "proxies_from_values",
    "section_names",
    "settings_from_values",
]
