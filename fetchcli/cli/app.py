"""The command line: Typer options -> one ``Settings`` -> ``runner.execute`` -> exit status.

The options are the rows of the option table (``options.py``); the command's Typer parameters
are generated from it (``_typer_parameter``: the command's signature). Every option also comes
from ``FETCHCLI_<NAME>`` and from a config file (``config.py``): flag > environment > config
file > default. Values arrive as text and are parsed by the table's parsers
(``options.settings_from_values``), so every bad value is a usage error in fetchcli's own words,
naming where it came from. ``--help`` is fetchcli's own (``help.py``). Usage errors are one
plain line on stderr (``fetchcli: error: --timeout must be 0 or more``), exit 2: they end up in
cron mail and logs.
"""

# No ``from __future__ import annotations`` here: typer reads the command's annotations, which
# are objects built once from the table (evaluating them from strings cost ~20 ms per start-up).
import inspect
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from fetchcli._version import __version__
from fetchcli.cli.options import OPTIONS, Option
from fetchcli.cli.status import ExitStatus
from fetchcli.settings import SettingsError, not_utf8

if TYPE_CHECKING:
    from fetchcli.cli.requestbody import RequestBody

app = typer.Typer(
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": []},  # fetchcli's own --help (help.py)
    help="Fetch many URLs concurrently; report status, timing and the first characters of each body.",
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
    from fetchcli.cli.config import load

    loaded = load(value, os.environ)
    told = [("warning", loaded.warning), ("note", loaded.note), *(("warning", line) for line in loaded.unknown)]
    for kind, line in told:
        if line is not None:
            from fetchcli.text import for_terminal

            sys.stderr.write(f"fetchcli: {kind}: {for_terminal(line)}\n")
            sys.stderr.flush()
    ctx.default_map = {**(ctx.default_map or {}), **loaded.values}
    ctx.meta[_LOADED] = loaded
    return value


_LOADED = "fetchcli.cli.config"


def _origin(ctx: typer.Context, option: Option) -> Optional[str]:
    """Where an option's value came from, None for its default: its flag as given on the
    command line (``--no-insecure`` for a switch turned off; ``the command line`` for URLs), the
    variable (``FETCHCLI_TIMEOUT``) or the config file and key
    (``/home/me/.config/fetchcli/config.toml: timeout``)."""
    source = getattr(ctx.get_parameter_source(option.name), "name", "")
    if source == "COMMANDLINE" and option.is_argument and not ctx.params.get(option.name):
        source = "DEFAULT"  # Click before 8.2 says COMMANDLINE for an argument given nothing
    if source == "COMMANDLINE":
        if option.is_argument:
            return "the command line"
        off = option.no_flag is not None and ctx.params.get(option.name) is False
        return option.no_flag if off else option.long
    if source == "ENVIRONMENT":
        return option.variable if option.variable_read_by_click else None
    loaded = ctx.meta.get(_LOADED)  # DEFAULT_MAP; DEFAULT for URLs from a config file with Click before 8.2
    return loaded.origins.get(option.name) if loaded is not None else None


def _origins(ctx: typer.Context) -> dict[str, str]:
    """``_origin`` of every option not at its default, by name (for ``--dry-run``)."""
    found = ((option.name, _origin(ctx, option)) for option in OPTIONS)
    return {name: origin for name, origin in found if origin is not None}


def _from_where(ctx: typer.Context, exc: SettingsError) -> SettingsError:
    """``exc`` naming where its option's value came from when that was not the command line:
    ``--timeout must be ... (from FETCHCLI_TIMEOUT)``, ``(from /home/me/.config/fetchcli/config.toml:
    timeout)``."""
    option = next((o for o in OPTIONS if exc.option in o.flags), None)
    if option is None:
        return exc
    if getattr(ctx.get_parameter_source(option.name), "name", "") == "COMMANDLINE":
        return exc
    origin = _origin(ctx, option)
    if origin is None:
        return exc
    message = str(exc).removeprefix(exc.option).lstrip()
    return SettingsError(exc.option, f"{message} (from {origin})")


def _check_utf8(values: dict[str, Any]) -> None:
    """Every text value but a path's, from the command line or the environment, is text: a byte
    that is not UTF-8 (``-H $'X: \\xff'``) is a usage error naming the option, not a traceback
    later. Paths may be any bytes (Python hands them on as it decoded them); URLs that are not
    UTF-8 are InvalidURL records, as any bad URL of the input is."""
    for option in OPTIONS:
        if option.any_bytes:
            continue
        value = values.get(option.name)
        for text in value if isinstance(value, list) else (value,):
            if isinstance(text, str) and (problem := not_utf8(text)) is not None:
                raise SettingsError(option.long, problem)


def _body(values: dict[str, Any]) -> "RequestBody | None":
    """The body of -d, --data-binary or --json, read now (files, standard input)."""
    if not (values.get("data") or values.get("data_binary") or values.get("json")):
        return None
    from fetchcli.cli.requestbody import body_of
    from fetchcli.input.readers import reads_stdin

    urls, paths = values.get("urls") or [], values.get("input") or []
    stdin_has_urls = "-" in paths or reads_stdin(urls, paths, sys.stdin.isatty())
    return body_of(
        values.get("data") or [], values.get("data_binary") or [], values.get("json") or [],
        sys.stdin.buffer.read, stdin_has_urls,
    )  # fmt: skip


def _run(ctx: typer.Context, values: dict[str, Any]) -> None:
    """The command: the options' values -> Settings -> a run (or ``--dry-run``) -> exit status."""
    from fetchcli.cli.options import output_options_from_values, proxies_from_values, settings_from_values
    from fetchcli.cli.runner import Environment

    _check_utf8(values)
    if not values.get("urls") and ctx.default_map:  # Click before 8.2 never looks up URL arguments there
        values["urls"] = list(ctx.default_map.get("urls") or [])
    loaded = ctx.meta.get(_LOADED)  # the config file read, if any
    settings = settings_from_values(values, os.environ, _body(values))
    options = output_options_from_values(values, loaded.path if loaded is not None else None)
    urls, paths = values.get("urls") or [], values.get("input") or []
    if values.get("dry_run"):
        from fetchcli.cli.dryrun import describe_run
        from fetchcli.cli.runner import write_failed
        from fetchcli.output.writer import Output, OutputError

        env = Environment()
        config_file = loaded.describe() if loaded is not None else "none"
        note = loaded.note if loaded is not None else None
        proxies = proxies_from_values(values, os.environ)
        try:
            status = describe_run(
                settings, urls, paths, proxies, env, options, config=config_file, note=note, origins=_origins(ctx)
            )
        except OutputError as exc:
            status = write_failed(env, Output(env.stdout, "stdout"), exc)
        raise typer.Exit(status)
    from fetchcli.cli.runner import execute

    raise typer.Exit(execute(settings, urls, paths, options, Environment()))


def _complete(choices: type[Any]) -> Any:
    return lambda incomplete: [str(m.value) for m in choices if str(m.value).startswith(incomplete)]


# What the eager options do; the other options are values for the run.
_CALLBACKS: dict[str, Callable[..., Any]] = {"config": _config, "schema": _schema, "version": _version, "help": _help}


def _typer_parameter(option: Option) -> Any:
    """A row of the option table as Typer's ``Annotated`` type: the annotation says what Click
    hands over (text, a list of text, a bool; Optional where the default is None)."""
    kinds = {"list": list[str], "flag": bool, "value": str}
    annotation: Any = kinds[option.kind]
    if option.default is None:
        annotation = Optional[annotation]
    shown: Any = option.shown_default if option.shown_default is not None else False
    if option.is_argument:
        info = typer.Argument(
            metavar=option.metavar, help=option.help, rich_help_panel=option.section, show_default=shown
        )
    elif option.switch:
        long, short = option.long, [f for f in option.flags if not f.startswith("--")]
        info = typer.Option(
            f"{long}/{option.no_flag}",
            *short,
            *([f" /{option.off}"] if option.off is not None else []),  # Click: a leading space, an off form only
            help=option.help,
            rich_help_panel=option.section,
            show_default=shown,
        )
    else:
        extra: dict[str, Any] = {}
        if option.eager:
            extra.update(is_eager=True, callback=_CALLBACKS[option.name], expose_value=option.name != "help")
        if option.choices is not None:
            extra.update(autocompletion=_complete(option.choices))
        info = typer.Option(
            *option.flags,
            help=option.help,
            metavar=option.metavar,
            rich_help_panel=option.section,
            envvar=option.variable if option.variable_read_by_click else None,
            show_envvar=True,
            show_default=shown,
            **extra,
        )
    return Annotated[annotation, info]


def _command() -> Callable[..., None]:
    """The command, its parameters generated from the option table (Typer reads them from the
    function's signature)."""

    def fetchcli(ctx: typer.Context, **values: Any) -> None:
        """Fetch many URLs concurrently; report status, timing and the first characters of each body."""
        try:
            _run(ctx, values)
        except SettingsError as exc:
            raise _from_where(ctx, exc) from None

    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    parameters = [
        inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default, annotation=_typer_parameter(o))
        for o in OPTIONS
    ]
    fetchcli.__signature__ = inspect.Signature([context, *parameters], return_annotation=None)  # type: ignore[attr-defined]
    fetchcli.__annotations__ = {p.name: p.annotation for p in [context, *parameters]} | {"return": None}
    return fetchcli


app.command(add_help_option=False)(_command())


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


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and return the exit status (no traceback for usage errors).
    ``argv`` None: the process's own command line, whose signal handlers then stay to its end
    (``exitsignals``)."""
    if argv is not None:
        return _main(argv)
    from fetchcli.cli.exitsignals import exit_on_signal, keep_until_exit

    keep_until_exit()
    status = _main(None)
    exit_on_signal(status)
    return status


def _main(argv: list[str] | None) -> int:
    from fetchcli.cli.stdstreams import fill_closed_standard_streams, unencodable_as_escapes

    fill_closed_standard_streams()  # first: before anything opens a file (see stdstreams.py)
    unencodable_as_escapes()
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
