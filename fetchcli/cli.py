"""The command line: Typer options -> one ``Settings`` -> ``runner.execute`` -> exit status.

Usage errors are one plain line on stderr (``fetchcli: error: --timeout must be 0 or more``),
exit 2: they end up in cron mail and logs, where a box of Unicode helps nobody.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from fetchcli import __version__
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
    parse_header,
    parse_status_list,
    parse_status_ranges,
)
from fetchcli.status import ExitStatus

INPUT, POOL, TIMEOUTS, REQUEST, BODY, OUTPUT = "Input", "Connection pool", "Timeouts", "Request", "Body", "Output"
RETRY, POLITE, SUCCESS, TLS = "Retries", "Politeness", "Success and exit status", "TLS"

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Fetch many URLs concurrently; report status, timing and the first characters of each body.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fetchcli {__version__}")
        raise typer.Exit(0)


def _schema(value: bool) -> None:
    if value:
        import json

        from fetchcli.schema import record_schema

        typer.echo(json.dumps(record_schema(), indent=2))
        raise typer.Exit(0)


@app.command(
    epilog=(
        "[bold]Examples[/bold]\n\n"
        "  fetchcli -i urls.txt                                   a table on a terminal, JSON Lines in a pipe\n\n"
        "  fetchcli -i urls.txt | jq 'select(.ok | not)'          only what failed\n\n"
        "  fetchcli -i urls.txt -o results.csv                    CSV, chosen by the extension\n\n"
        "  fetchcli --expect-text up --max-failures 1 -q URL...   a health check for cron\n\n"
        "[bold]Exit status[/bold]\n\n"
        "  0 every URL ok (or at most --max-failures failed) · 1 more URLs failed · 2 usage error ·"
        " 74 the output could not be written · 130 SIGINT · 141 the output's reader went away · 143 SIGTERM"
    ),
)
def fetchcli(
    urls: Annotated[
        Optional[list[str]],
        typer.Argument(
            metavar="[URL]...",
            help="URLs to fetch ('https://' is added when no scheme is given).",
            rich_help_panel=INPUT,
            show_default=False,
        ),
    ] = None,
    input: Annotated[
        Optional[list[str]],
        typer.Option(
            "--input",
            "-i",
            metavar="PATH",
            help="File of URLs, one per line ('-' for stdin); repeatable. Blank lines and '#' comments are skipped.",
            rich_help_panel=INPUT,
            show_default=False,
        ),
    ] = None,
    max_connections: Annotated[
        int,
        typer.Option(
            "--max-connections",
            metavar="N",
            help="Open TCP connections at most (all hosts together).",
            rich_help_panel=POOL,
        ),
    ] = DEFAULT_MAX_CONNECTIONS,
    max_keepalive: Annotated[
        Optional[int],
        typer.Option(
            "--max-keepalive",
            metavar="N",
            help="Idle connections kept open for reuse at most. (default: same as --max-connections)",
            rich_help_panel=POOL,
            show_default=False,
        ),
    ] = None,
    keepalive_expiry: Annotated[
        float,
        typer.Option(
            "--keepalive-expiry", metavar="SECONDS", help="Close a connection idle this long.", rich_help_panel=POOL
        ),
    ] = DEFAULT_KEEPALIVE_EXPIRY,
    concurrency: Annotated[
        Optional[int],
        typer.Option(
            "--concurrency",
            "-c",
            metavar="N",
            help="Requests in flight at most. (default: same as --max-connections)",
            rich_help_panel=POOL,
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            "-t",
            metavar="SECONDS",
            help="Limit for each phase (connect, read, write, pool); 0 means no limit.",
            rich_help_panel=TIMEOUTS,
        ),
    ] = DEFAULT_TIMEOUT,
    connect_timeout: Annotated[
        Optional[float],
        typer.Option(
            "--connect-timeout",
            metavar="SECONDS",
            help="Limit for connecting. (default: --timeout)",
            rich_help_panel=TIMEOUTS,
            show_default=False,
        ),
    ] = None,
    read_timeout: Annotated[
        Optional[float],
        typer.Option(
            "--read-timeout",
            metavar="SECONDS",
            help="Limit for each wait for data. (default: --timeout)",
            rich_help_panel=TIMEOUTS,
            show_default=False,
        ),
    ] = None,
    write_timeout: Annotated[
        Optional[float],
        typer.Option(
            "--write-timeout",
            metavar="SECONDS",
            help="Limit for each wait to send data. (default: --timeout)",
            rich_help_panel=TIMEOUTS,
            show_default=False,
        ),
    ] = None,
    pool_timeout: Annotated[
        Optional[float],
        typer.Option(
            "--pool-timeout",
            metavar="SECONDS",
            help="Limit for waiting for a free connection. (default: --timeout)",
            rich_help_panel=TIMEOUTS,
            show_default=False,
        ),
    ] = None,
    max_time: Annotated[
        float,
        typer.Option(
            "--max-time",
            "-m",
            metavar="SECONDS",
            help="Total limit for one URL, redirects and body included; 0 means no limit.",
            rich_help_panel=TIMEOUTS,
        ),
    ] = DEFAULT_MAX_TIME,
    deadline: Annotated[
        float,
        typer.Option(
            "--deadline",
            metavar="SECONDS",
            help="Limit for the whole run: then URLs in flight are cancelled and the rest reported as not started; 0 means no limit.",
            rich_help_panel=TIMEOUTS,
        ),
    ] = 0,
    method: Annotated[
        str, typer.Option("--method", "-X", metavar="METHOD", help="HTTP method.", rich_help_panel=REQUEST)
    ] = DEFAULT_METHOD,
    header: Annotated[
        Optional[list[str]],
        typer.Option(
            "--header",
            "-H",
            metavar="'NAME: VALUE'",
            help="Extra request header; repeatable.",
            rich_help_panel=REQUEST,
            show_default=False,
        ),
    ] = None,
    user_agent: Annotated[
        Optional[str],
        typer.Option(
            "--user-agent",
            "-A",
            metavar="TEXT",
            help=f"User-Agent header. (default: fetchcli/{__version__})",
            rich_help_panel=REQUEST,
            show_default=False,
        ),
    ] = None,
    follow_redirects: Annotated[
        bool,
        typer.Option(
            "--follow-redirects", "-L", help="Follow redirects (off by default, like curl).", rich_help_panel=REQUEST
        ),
    ] = False,
    max_redirects: Annotated[
        int,
        typer.Option(
            "--max-redirects", metavar="N", help="Redirects followed at most with -L.", rich_help_panel=REQUEST
        ),
    ] = DEFAULT_MAX_REDIRECTS,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            "-k",
            help="Do not verify TLS certificates (their facts are still reported in tls).",
            rich_help_panel=TLS,
        ),
    ] = False,
    cacert: Annotated[
        Optional[str],
        typer.Option(
            "--cacert",
            metavar="FILE",
            help="Trust the CA certificates in this PEM file instead of the default bundle (also: SSL_CERT_FILE).",
            rich_help_panel=TLS,
            show_default=False,
        ),
    ] = None,
    capath: Annotated[
        Optional[str],
        typer.Option(
            "--capath",
            metavar="DIR",
            help="Trust the CA certificates in this directory, hashed as by c_rehash (also: SSL_CERT_DIR).",
            rich_help_panel=TLS,
            show_default=False,
        ),
    ] = None,
    cert: Annotated[
        Optional[str],
        typer.Option(
            "--cert",
            "-E",
            metavar="FILE",
            help="Client certificate (PEM), with its key unless --key is given.",
            rich_help_panel=TLS,
            show_default=False,
        ),
    ] = None,
    key: Annotated[
        Optional[str],
        typer.Option(
            "--key",
            metavar="FILE",
            help="Private key (PEM, unencrypted) of --cert.",
            rich_help_panel=TLS,
            show_default=False,
        ),
    ] = None,
    http2: Annotated[
        bool,
        typer.Option(
            "--http2",
            help="Offer HTTP/2 (needs the http2 extra: pip install 'fetchcli\\[http2]').",
            rich_help_panel=REQUEST,
        ),
    ] = False,
    proxy: Annotated[
        Optional[str],
        typer.Option(
            "--proxy",
            metavar="URL",
            help="Send every request through this proxy (http://, https:// or socks5://).",
            rich_help_panel=REQUEST,
            show_default=False,
        ),
    ] = None,
    backend: Annotated[
        Backend,
        typer.Option(
            "--backend",
            help="Transport: aiohttp (fast, HTTP/1.1), httpx (HTTP/2, SOCKS proxies), or auto.",
            rich_help_panel=REQUEST,
            case_sensitive=False,
        ),
    ] = Backend.auto,
    retries: Annotated[
        int,
        typer.Option(
            "--retries",
            metavar="N",
            help="Retry a URL up to N times after a connection error, a timeout or a --retry-on status.",
            rich_help_panel=RETRY,
        ),
    ] = 0,
    retry_on: Annotated[
        str,
        typer.Option(
            "--retry-on", metavar="CODES", help="Statuses worth a retry, comma-separated.", rich_help_panel=RETRY
        ),
    ] = ",".join(map(str, DEFAULT_RETRY_ON)),
    retry_backoff: Annotated[
        float,
        typer.Option(
            "--retry-backoff",
            metavar="SECONDS",
            help="First backoff; doubles each try, with full jitter.",
            rich_help_panel=RETRY,
        ),
    ] = DEFAULT_RETRY_BACKOFF,
    retry_max_wait: Annotated[
        float,
        typer.Option(
            "--retry-max-wait",
            metavar="SECONDS",
            help="Longest wait between tries, Retry-After included.",
            rich_help_panel=RETRY,
        ),
    ] = DEFAULT_RETRY_MAX_WAIT,
    retry_all_methods: Annotated[
        bool,
        typer.Option(
            "--retry-all-methods",
            help="Also retry methods that are not idempotent (POST, PATCH) once a request was sent.",
            rich_help_panel=RETRY,
        ),
    ] = False,
    per_host: Annotated[
        Optional[int],
        typer.Option(
            "--per-host",
            metavar="N",
            help="Requests in flight to one host at most. (default: no limit)",
            rich_help_panel=POLITE,
            show_default=False,
        ),
    ] = None,
    rate: Annotated[
        Optional[float],
        typer.Option(
            "--rate",
            metavar="R",
            help="Requests per second overall at most (may be fractional). (default: no limit)",
            rich_help_panel=POLITE,
            show_default=False,
        ),
    ] = None,
    host_rate: Annotated[
        Optional[float],
        typer.Option(
            "--host-rate",
            metavar="R",
            help="Requests per second to one host at most. (default: no limit)",
            rich_help_panel=POLITE,
            show_default=False,
        ),
    ] = None,
    ok_status: Annotated[
        Optional[str],
        typer.Option(
            "--ok-status",
            metavar="CODES",
            help="Statuses that count as success: codes and ranges, e.g. 200-299,301. (default: below 400)",
            rich_help_panel=SUCCESS,
            show_default=False,
        ),
    ] = None,
    expect_text: Annotated[
        Optional[str],
        typer.Option(
            "--expect-text",
            metavar="TEXT",
            help="A URL is ok only if the body read (--max-body-bytes) contains TEXT.",
            rich_help_panel=SUCCESS,
            show_default=False,
        ),
    ] = None,
    expect_regex: Annotated[
        Optional[str],
        typer.Option(
            "--expect-regex",
            metavar="RE",
            help="A URL is ok only if the body read matches the regular expression RE.",
            rich_help_panel=SUCCESS,
            show_default=False,
        ),
    ] = None,
    cert_expiry_days: Annotated[
        Optional[int],
        typer.Option(
            "--cert-expiry-days",
            metavar="N",
            help="An https URL whose certificate has fewer than N whole days left fails (CertificateExpiring).",
            rich_help_panel=TLS,
            show_default=False,
        ),
    ] = None,
    max_failures: Annotated[
        int,
        typer.Option(
            "--max-failures",
            metavar="N",
            help="Exit 0 while at most N URLs failed (the records still say which).",
            rich_help_panel=SUCCESS,
        ),
    ] = 0,
    max_body_bytes: Annotated[
        int,
        typer.Option(
            "--max-body-bytes",
            metavar="N",
            help="Decoded body bytes read at most; the response is closed after that.",
            rich_help_panel=BODY,
        ),
    ] = DEFAULT_MAX_BODY_BYTES,
    snippet_length: Annotated[
        int, typer.Option("--snippet-length", metavar="N", help="Characters of body text shown.", rich_help_panel=BODY)
    ] = DEFAULT_SNIPPET_LENGTH,
    format: Annotated[
        Optional[OutputFormat],
        typer.Option(
            "--format",
            "-f",
            help="Output format. (default: from -o's extension, else table on a terminal, else jsonl)",
            rich_help_panel=OUTPUT,
            show_default=False,
            case_sensitive=False,
        ),
    ] = None,
    fields: Annotated[
        Optional[str],
        typer.Option(
            "--fields",
            metavar="A,B,...",
            help="Fields to write, in this order (json, jsonl, csv, tsv), e.g. url,status,error.type.",
            rich_help_panel=OUTPUT,
            show_default=False,
        ),
    ] = None,
    order: Annotated[
        Order,
        typer.Option(
            "--order",
            help="Write results in input order or as they complete.",
            rich_help_panel=OUTPUT,
            case_sensitive=False,
        ),
    ] = Order.input,
    output: Annotated[
        Optional[str],
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Write results to PATH instead of stdout (through a symlink, FIFO or device; atomically for a regular file).",
            rich_help_panel=OUTPUT,
            show_default=False,
        ),
    ] = None,
    fsync: Annotated[
        bool, typer.Option("--fsync", help="With -o and jsonl: fsync after every line.", rich_help_panel=OUTPUT)
    ] = False,
    summary: Annotated[
        bool,
        typer.Option(
            "--summary", help="Print the summary line on stderr even when it is not a terminal.", rich_help_panel=OUTPUT
        ),
    ] = False,
    summary_json: Annotated[
        Optional[str],
        typer.Option(
            "--summary-json",
            metavar="PATH",
            help="Write the run's summary as JSON to PATH (same rules as -o).",
            rich_help_panel=OUTPUT,
            show_default=False,
        ),
    ] = None,
    progress: Annotated[
        Optional[bool],
        typer.Option(
            "--progress/--no-progress",
            help="A live progress line on stderr. (default: when stderr is a terminal, unless -q)",
            rich_help_panel=OUTPUT,
            show_default=False,
        ),
    ] = None,
    color: Annotated[
        ColorMode,
        typer.Option(
            "--color",
            help="Colours in the table and the progress line; auto: on a terminal, unless NO_COLOR is set.",
            rich_help_panel=OUTPUT,
            case_sensitive=False,
        ),
    ] = ColorMode.auto,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="No summary line (and no progress) on stderr.", rich_help_panel=OUTPUT),
    ] = False,
    schema: Annotated[
        bool,
        typer.Option(
            "--schema",
            callback=_schema,
            is_eager=True,
            help="Print the JSON Schema of a record and exit.",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Fetch many URLs concurrently; report status, timing and the first characters of each body."""
    from fetchcli.render.fields import parse_fields
    from fetchcli.runner import Environment, OutputOptions, execute

    settings = Settings(
        pool=PoolSettings(
            max_connections=max_connections, max_keepalive=max_keepalive, keepalive_expiry=keepalive_expiry
        ),
        timeouts=TimeoutSettings(
            timeout=timeout,
            connect=connect_timeout,
            read=read_timeout,
            write=write_timeout,
            pool=pool_timeout,
            max_time=max_time,
        ),
        request=RequestSettings(
            method=method.upper(),
            headers=tuple(parse_header(h) for h in header or ()),
            user_agent=user_agent,
            follow_redirects=follow_redirects,
            max_redirects=max_redirects,
            insecure=insecure,
            http2=http2,
            proxy=proxy,
            cacert=cacert,
            capath=capath,
            client_cert=cert,
            client_key=key,
        ),
        body=BodySettings(max_body_bytes=max_body_bytes, snippet_length=snippet_length),
        retry=RetrySettings(
            retries=retries,
            retry_on=parse_status_list(retry_on),
            backoff=retry_backoff,
            max_wait=retry_max_wait,
            all_methods=retry_all_methods,
        ),
        politeness=PolitenessSettings(per_host=per_host, rate=rate, host_rate=host_rate),
        success=SuccessSettings(
            ok_status=parse_status_ranges(ok_status) if ok_status is not None else (),
            expect_text=expect_text,
            expect_regex=expect_regex,
            cert_expiry_days=cert_expiry_days,
        ),
        concurrency=concurrency,
        order=order,
        backend=backend,
        deadline=deadline or None,
    )
    status = execute(
        settings,
        urls or [],
        input or [],
        OutputOptions(
            format=format,
            path=output,
            quiet=quiet,
            fsync=fsync,
            max_failures=max_failures,
            summary=summary,
            summary_json=summary_json,
            fields=parse_fields(fields) if fields is not None else None,
            progress=progress,
            color=color,
        ),
        Environment(),
    )
    raise typer.Exit(status)


def _usage_error(message: str) -> int:
    from fetchcli.terminal import for_terminal

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


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and return the exit status (no traceback for usage errors)."""
    command = typer.main.get_command(app)
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
