"""The option table (fetchcli/options.py), unit-tested directly: its defaults are Settings' and
OutputOptions' defaults, every value lands where its row says, every parser's error names its
flag, and the command Typer builds has exactly the table's options."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import typer

from fetchcli.cli.app import app
from fetchcli.cli.config import KINDS, LIST_ENV, NOT_CONFIGURABLE, own_variable
from fetchcli.cli.options import (
    BY_NAME,
    OPTIONS,
    SECTIONS,
    Option,
    output_options_from_values,
    section_names,
    settings_from_values,
)
from fetchcli.cli.runner import OutputOptions
from fetchcli.settings import Settings, SettingsError

SETTINGS_ROWS = [o for o in OPTIONS if o.lands is not None and not o.lands.startswith("output.")]
OUTPUT_ROWS = [o for o in OPTIONS if o.lands is not None and o.lands.startswith("output.")]
# Settings fields that no single option sets: the proxies come from --proxy, --noproxy,
# --env-proxy and the environment together; the reorder window is for Python callers.
DERIVED = {
    "order_window",
    "request.proxy",
    "request.proxy_by_scheme",
    "request.no_proxy",
    "request.body",
    "body.save_fsync",
    "body.save_keep",
}  # body: requestbody.py; save_fsync: --fsync; save_keep: the run's files (plan_run)

# A valid value for every option that lands somewhere, and what it becomes there.
GOOD: dict[str, tuple[Any, Any]] = {
    "scheme_fallback": (True, True),
    "head_fallback": (False, False),  # True goes with -X HEAD (tests/test_head_fallback.py)
    "ipv4": (True, True),
    "ipv6": (True, True),
    "all_ips": (True, True),
    "format": ("CSV", "csv"),
    "fields": ("url, status", ("url", "status")),
    "order": ("completion", "completion"),
    "input_format": ("JSONL", "jsonl"),
    "output": ("out.jsonl", "out.jsonl"),
    "fsync": (True, True),
    "header_row": (False, False),
    "progress": (False, False),
    "color": ("never", "never"),
    "summary": (True, True),
    "summary_json": ("s.json", "s.json"),
    "metrics": ("m.prom", "m.prom"),
    "metrics_max_urls": ("1_000", 1000),
    "quiet": (True, True),
    "ok_status": ("2xx,301", ((200, 299), (301, 301))),
    "expect_text": ("up", "up"),
    "expect_regex": ("u+p", "u+p"),
    "expect_jq": ('.status == "up"', '.status == "up"'),
    "max_failures": ("3", 3),
    "method": ("post", "POST"),
    "header": (["A: 1", "B:2 "], (("A", "1"), ("B", "2"))),
    "resolve": (["Site.test:443:127.0.0.1,[::1]"], (("site.test", 443, ("127.0.0.1", "::1")),)),
    "connect_to": (["a.test:80:[::1]:8080", "::b.test:"], (("a.test", 80, "::1", 8080), (None, None, "b.test", None))),
    "secret_header": ([" X-Token "], ("X-Token",)),
    "user_agent": ("me/1", "me/1"),
    "follow_redirects": (True, True),
    "max_redirects": ("3", 3),
    "http2": (True, True),
    "backend": ("httpx", "httpx"),
    "insecure": (True, True),
    "cacert": ("ca.pem", "ca.pem"),
    "capath": ("certs", "certs"),
    "cert": ("c.pem", "c.pem"),
    "key": ("k.pem", "k.pem"),
    "cert_expiry_days": ("14", 14),
    "max_connections": ("7", 7),
    "max_keepalive": ("3", 3),
    "keepalive_expiry": ("2.5", 2.5),
    "concurrency": ("4", 4),
    "timeout": ("inf", 0.0),
    "connect_timeout": ("1", 1.0),
    "read_timeout": ("2", 2.0),
    "write_timeout": ("3", 3.0),
    "pool_timeout": ("4", 4.0),
    "max_time": ("9", 9.0),
    "deadline": ("60", 60.0),
    "retries": ("2", 2),
    "retry_on": ("500, 503", frozenset({500, 503})),
    "retry_backoff": ("1", 1.0),
    "retry_max_wait": ("10", 10.0),
    "retry_all_methods": (True, True),
    "per_host": ("2", 2),
    "rate": ("0.5", 0.5),
    "host_rate": ("1.5", 1.5),
    "max_body_bytes": ("1_000", 1000),
    "snippet_length": ("20", 20),
    "read_all": (True, True),
    "save": ("saved", "saved"),
    "max_save_bytes": ("2_000", 2000),
    "save_name": ("{index}", "{index}"),
    "shard": ("2/3", (2, 3)),
    "workers": ("2", 2),
    "unique": (True, True),
    "resume": ("r.jsonl", "r.jsonl"),
    "resume_failed": (True, True),
    "state": ("s.db", "s.db"),
    "conditional": (True, True),
    "watch": ("title, ok", ("ok", "title")),
    "only_changed": (True, True),
    "fail_after": ("3", 3),
}

# A bad value for every option whose parser can refuse one.
BAD: dict[str, Any] = {
    "format": "yaml",
    "fields": "no_such_field",
    "order": "random",
    "input_format": "csv",
    "color": "sometimes",
    "ok_status": "2yy",
    "expect_jq": ".a |",
    "max_failures": "many",
    "metrics_max_urls": "-1",
    "header": ["no colon"],
    "resolve": ["a.test:443:not-an-address"],
    "connect_to": ["a.test:443"],
    "max_redirects": "x",
    "backend": "curl",
    "cert_expiry_days": "soon",
    "max_connections": "lots",
    "max_keepalive": "1.5",
    "keepalive_expiry": "inf",
    "concurrency": "-",
    "timeout": "5s",
    "connect_timeout": "nan",
    "read_timeout": "x",
    "write_timeout": "x",
    "pool_timeout": "x",
    "max_time": "x",
    "deadline": "tomorrow",
    "retries": "x",
    "retry_on": "5xx",
    "retry_backoff": "x",
    "retry_max_wait": "x",
    "per_host": "x",
    "rate": "fast",
    "host_rate": "x",
    "max_body_bytes": "1MB",
    "max_save_bytes": "-1",
    "save_name": "{nope}",
    "snippet_length": "x",
    "shard": "1-of-2",
    "workers": "many",
    "watch": "colour",
    "fail_after": "often",
}
STATE = {"state": "s.db"}
NEEDS = {"resume_failed": {"resume": "r.jsonl"}, "key": {"cert": "c.pem"}}
NEEDS |= {"conditional": STATE, "watch": STATE, "only_changed": STATE, "fail_after": STATE}
NEEDS |= {"max_save_bytes": {"save": "d"}, "save_name": {"save": "d"}, "metrics_max_urls": {"metrics": "m.prom"}}
NEVER_REFUSED = {"method", "secret_header"}  # any text: checked later (Settings' validation)


def _landed(row: Option, settings: Settings, options: OutputOptions) -> Any:
    assert row.lands is not None
    target: Any = options if row.lands.startswith("output.") else settings
    for part in row.lands.removeprefix("output.").split("."):
        target = getattr(target, part)
    return target


def _fields_of(kind: type[Any], prefix: str = "") -> set[str]:
    found = set()
    for field in dataclasses.fields(kind):
        nested = field.default_factory if field.default_factory is not dataclasses.MISSING else None
        if isinstance(nested, type) and dataclasses.is_dataclass(nested):
            found |= _fields_of(nested, f"{prefix}{field.name}.")
        else:
            found.add(prefix + field.name)
    return found


def test_nothing_given_is_the_defaults_of_settings_and_output_options() -> None:
    assert settings_from_values({}, {}) == Settings()
    assert output_options_from_values({}) == OutputOptions()


@pytest.mark.parametrize("row", SETTINGS_ROWS + OUTPUT_ROWS, ids=lambda row: row.name)
def test_each_rows_default_is_the_default_where_it_lands(row: Option) -> None:
    settings = settings_from_values({row.name: row.default}, {})
    options = output_options_from_values({row.name: row.default})
    assert _landed(row, settings, options) == _landed(row, Settings(), OutputOptions())


def test_the_table_sets_every_field_of_settings_and_output_options_once() -> None:
    lands = [o.lands for o in OPTIONS if o.lands is not None]
    assert len(lands) == len(set(lands))
    assert {x for x in lands if not x.startswith("output.")} == _fields_of(Settings) - DERIVED
    assert {x for x in lands if x.startswith("output.")} == {f"output.{f}" for f in _fields_of(OutputOptions)} - {
        "output.config_file",
        "output.body_files",  # the @FILEs of -d, --data-binary, --json: inputs no output may be
    }


def test_every_option_that_lands_somewhere_has_a_good_value_here() -> None:
    assert sorted(GOOD) == sorted(o.name for o in SETTINGS_ROWS + OUTPUT_ROWS)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_each_value_lands_where_its_row_says(name: str) -> None:
    given, wanted = GOOD[name]
    values = {name: given, **NEEDS.get(name, {})}
    settings = settings_from_values(values, {})
    options = output_options_from_values(values)
    assert _landed(BY_NAME[name], settings, options) == wanted


def test_every_option_with_a_parser_has_a_bad_value_here() -> None:
    parsed = {o.name for o in OPTIONS if o.parser is not None}
    assert sorted(BAD) == sorted(parsed - NEVER_REFUSED)


@pytest.mark.parametrize("name", sorted(BAD))
def test_each_parsers_error_names_the_flag(name: str) -> None:
    row = BY_NAME[name]
    with pytest.raises(SettingsError) as caught:
        if row.lands is not None and row.lands.startswith("output."):
            output_options_from_values({name: BAD[name]})
        else:
            settings_from_values({name: BAD[name]}, {})
    assert caught.value.option == row.long
    assert str(caught.value).startswith(f"{row.long} ")


def test_the_first_bad_value_in_the_order_of_settings_fields_is_named() -> None:
    """As before the table: the pool before the timeouts, the timeouts before the request."""
    bad = {"timeout": "x", "max_connections": "x", "max_redirects": "x", "workers": "x"}
    with pytest.raises(SettingsError, match=r"^--max-connections "):
        settings_from_values(bad, {})
    del bad["max_connections"]
    with pytest.raises(SettingsError, match=r"^--timeout "):
        settings_from_values(bad, {})


def test_the_environment_is_an_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxy variables and --shard auto come from ``environ``, not the process's environment."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("JOB_COMPLETION_INDEX", raising=False)
    assert settings_from_values({}, {}).request.proxy_by_scheme == ()
    given = settings_from_values({}, {"HTTPS_PROXY": "http://p:3128"}).request.proxy_by_scheme
    assert given == (("https", "http://p:3128"),)
    assert settings_from_values({"env_proxy": False}, {"HTTPS_PROXY": "http://p:3128"}).request.proxies == ()
    assert settings_from_values({"shard": "auto/4"}, {"JOB_COMPLETION_INDEX": "2"}).shard == (3, 4)


def test_resume_failed_goes_with_resume() -> None:
    with pytest.raises(SettingsError, match=r"^--resume-failed goes with --resume FILE$"):
        output_options_from_values({"resume_failed": True})


@pytest.mark.parametrize(
    ("given", "told"),
    [
        ({"max_save_bytes": "2_000"}, "--max-save-bytes goes with --save DIR"),
        ({"save_name": "{index}"}, "--save-name goes with --save DIR"),
    ],
)
def test_save_options_go_with_save(given: dict[str, str], told: str) -> None:
    """Without --save they would be ignored: nothing saved, and nothing said (review r5u)."""
    with pytest.raises(SettingsError, match=f"^{told}$"):
        settings_from_values(given)


def test_metrics_max_urls_goes_with_metrics() -> None:
    with pytest.raises(SettingsError, match=r"^--metrics-max-urls goes with --metrics FILE.prom$"):
        output_options_from_values({"metrics_max_urls": "5"})


def test_the_command_has_exactly_the_tables_options() -> None:
    command = typer.main.get_command(app)
    params = {p.name: p for p in command.params if p.name not in ("install_completion", "show_completion")}
    assert list(params) == [o.name for o in OPTIONS]
    for option in OPTIONS:
        param = params[option.name]
        assert tuple(param.opts) == (option.flags or (option.name,)), option.name
        assert getattr(param, "rich_help_panel", None) == option.section
        if option.switch:
            assert option.no_flag in param.secondary_opts
            assert (option.off in param.secondary_opts) if option.off else len(param.secondary_opts) == 1
        elif not option.is_argument:
            assert param.metavar == option.metavar
            assert param.default == option.default


def test_every_variable_is_read_by_click_or_by_fetchcli_and_shown() -> None:
    from fetchcli.cli.help import render_help

    text = " ".join(render_help(typer.main.get_command(app), width=120).split())
    for option in OPTIONS:
        if option.is_argument or not option.env:
            assert option.variable is None or option.is_argument
            continue
        assert option.variable == "FETCHCLI_" + option.name.upper()
        assert option.variable_read_by_click != (own_variable(option.name) == option.variable)
        suffix = ", one per line" if option.name in LIST_ENV else ""
        assert f"[env: {option.variable}{suffix}]" in text


def test_what_a_config_file_may_set() -> None:
    assert set(KINDS) == {o.name for o in OPTIONS if o.name not in NOT_CONFIGURABLE}
    assert {"config", "help", "version", "schema"} <= NOT_CONFIGURABLE
    assert KINDS["urls"] == KINDS["header"] == "list" and KINDS["insecure"] == "flag" and KINDS["timeout"] == "value"


def test_sections_are_the_helps_and_every_option_is_in_one() -> None:
    assert {o.section for o in OPTIONS} == set(SECTIONS)
    assert sum(len(section_names(s)) for s in SECTIONS) == len(OPTIONS)


def test_dry_run_names_only_the_tables_options() -> None:
    """``--dry-run`` says where a value came from by parameter name: each name it asks about
    is an option of the table (a misspelt one would never say)."""
    import ast
    import inspect

    from fetchcli.cli import dryrun

    asked = {
        arg.value
        for node in ast.walk(ast.parse(inspect.getsource(dryrun)))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_from"
        for arg in node.args[1:]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
    }
    assert len(asked) >= 20
    assert asked <= set(BY_NAME)
