"""Switches (options without a value) from the command line, the environment and a config file:
on and off from each, precedence flag > environment > config > default, only 1/true/yes/on and
0/false/no/off from the environment; and a run that never imports pydantic (typer 0.29 would
coerce every value through it: pyproject.toml keeps typer below 0.29).

The table covers every switch the command has: a new one fails
``test_every_switch_is_in_the_table`` until it is added."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from fetchcli.cli import dryrun, runner
from fetchcli.cli.app import app, main
from fetchcli.cli.config import NOT_CONFIGURABLE, env_name
from fetchcli.cli.runner import OutputOptions
from fetchcli.settings import Backend, Settings
from tests.certs import issue, server_context
from tests.helpers import fetchcli_in_clean_env
from tests.server import LoopbackServer, running_server

COMMAND = typer.main.get_command(app)
SWITCHES = sorted(
    p.name for p in COMMAND.params if p.name and getattr(p, "is_flag", False) and p.name not in NOT_CONFIGURABLE
)


@dataclass(frozen=True)
class Run:
    """What the command handed on: to ``runner.execute``, or to ``dryrun.describe_run``."""

    settings: Settings
    options: OutputOptions | None
    dry_run: bool


def _output(name: str) -> Callable[[Run], Any]:
    return lambda run: getattr(run.options, name)


# Each switch -> where its value ends up.
RESOLVED: dict[str, Callable[[Run], Any]] = {
    "dry_run": lambda run: run.dry_run,
    "fsync": _output("fsync"),
    "header_row": _output("header_row"),  # --no-header too: tests/test_output_rules.py
    "progress": _output("progress"),
    "summary": _output("summary"),
    "quiet": _output("quiet"),
    "resume_failed": _output("resume_failed"),
    "follow_redirects": lambda run: run.settings.request.follow_redirects,
    "http2": lambda run: run.settings.request.http2,
    "insecure": lambda run: run.settings.request.insecure,
    "env_proxy": lambda run: bool(run.settings.request.proxy_by_scheme),  # HTTPS_PROXY is set below
    "retry_all_methods": lambda run: run.settings.retry.all_methods,
    "read_all": lambda run: run.settings.body.read_all,
    "unique": lambda run: run.settings.unique,
    "scheme_fallback": lambda run: run.settings.request.scheme_fallback,
    "head_fallback": lambda run: run.settings.request.head_fallback,
    "ipv4": lambda run: run.settings.request.ipv4,
    "ipv6": lambda run: run.settings.request.ipv6,
    "all_ips": lambda run: run.settings.request.all_ips,
    "conditional": _output("conditional"),
    "only_changed": _output("only_changed"),
}
NEEDS = {"resume_failed": ["--resume", "resume.jsonl"], "head_fallback": ["-X", "HEAD"], "all_ips": ["--noproxy", "*"]}
NEEDS |= {"conditional": ["--state", "s.db"], "only_changed": ["--state", "s.db"]}
ON = ("1", "true", "YES", " On ", "on\n")
OFF = ("0", "false", "No", " OFF ", "no\n")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No FETCHCLI_* of the caller's; a proxy in the environment (for --env-proxy); run in tmp_path."""
    for name in list(os.environ):
        if name.startswith("FETCHCLI_") or "proxy" in name.lower():
            monkeypatch.delenv(name)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def _resolve(monkeypatch: pytest.MonkeyPatch, argv: list[str], capsys: pytest.CaptureFixture[str]) -> Run:
    """Run the command in-process up to the point where the run would start."""
    seen: list[Run] = []

    def execute(settings: Settings, urls: Any, paths: Any, options: OutputOptions, env: Any) -> int:
        seen.append(Run(settings, options, dry_run=False))
        return 0

    def describe_run(settings: Settings, *args: Any, **kwargs: Any) -> int:
        seen.append(Run(settings, None, dry_run=True))
        return 0

    monkeypatch.setattr(runner, "execute", execute)
    monkeypatch.setattr(dryrun, "describe_run", describe_run)
    status = main(argv)
    assert status == 0, capsys.readouterr().err
    [run] = seen
    return run


def test_every_switch_is_in_the_table() -> None:
    assert len(SWITCHES) >= 14
    assert sorted(RESOLVED) == SWITCHES


def _config(folder: Path, name: str, value: bool | None) -> str:
    path = folder / "switches.toml"
    path.write_text("" if value is None else f"{name.replace('_', '-')} = {str(value).lower()}\n")
    return str(path)


@pytest.mark.parametrize("value", [True, False], ids=["on", "off"])
@pytest.mark.parametrize("source", ["flag", "env", "config"])
@pytest.mark.parametrize("name", SWITCHES)
def test_every_switch_from_every_source_on_and_off(
    name: str,
    source: str,
    value: bool,
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each source sets the switch against the opposite value in every source below it: a flag
    beats the environment and the config file, the environment beats the config file."""
    variable = env_name(name)
    spelling = (ON if value else OFF)[SWITCHES.index(name) % len(ON)]
    opposite = (OFF if value else ON)[SWITCHES.index(name) % len(ON)]
    flag = "--" + name.replace("_", "-")
    argv = [*NEEDS.get(name, []), "http://127.0.0.1:9/"]
    if source == "flag":
        argv.append(flag if value else flag.replace("--", "--no-", 1))
        monkeypatch.setenv(variable, opposite)
        argv += ["--config", _config(clean_env, name, not value)]
    elif source == "env":
        monkeypatch.setenv(variable, spelling)
        argv += ["--config", _config(clean_env, name, not value)]
    else:
        argv += ["--config", _config(clean_env, name, value)]
    assert RESOLVED[name](_resolve(monkeypatch, argv, capsys)) is value


def test_no_flag_beats_the_environment_and_a_config_file(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FETCHCLI_INSECURE", "1")
    argv = ["--config", _config(clean_env, "insecure", True), "http://127.0.0.1:9/"]
    assert _resolve(monkeypatch, argv, capsys).settings.request.insecure is True
    assert _resolve(monkeypatch, [*argv, "--no-insecure"], capsys).settings.request.insecure is False


def test_short_flags_still_turn_switches_on(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FETCHCLI_INSECURE", "0")
    monkeypatch.setenv("FETCHCLI_FOLLOW_REDIRECTS", "off")
    run = _resolve(monkeypatch, ["-k", "-L", "-q", "http://127.0.0.1:9/"], capsys)
    assert run.settings.request.insecure and run.settings.request.follow_redirects
    assert run.options is not None and run.options.quiet


@pytest.mark.parametrize("name", SWITCHES)
@pytest.mark.parametrize("text", ["maybe", "", "2", "y", "enabled"])
def test_a_switch_variable_takes_only_switch_values(
    name: str, text: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    variable = env_name(name)
    monkeypatch.setenv(variable, text)
    assert main(["http://127.0.0.1:9/"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"fetchcli: error: {variable} must be one of 1/true/yes/on or 0/false/no/off, not {text!r}\n"


def test_help_shows_every_switch_with_its_no_form_and_variable() -> None:
    from fetchcli.cli.help import render_help

    text = " ".join(render_help(COMMAND, width=120).split())
    for name in SWITCHES:
        flag = "--" + name.replace("_", "-")
        assert f"{flag}, --no-{flag[2:]}" in text
        assert f"[env: {env_name(name)}]" in text


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    cert = issue(tmp_path_factory.mktemp("self-signed"), "127.0.0.1", days=30)
    with running_server(ssl_context=server_context(cert)) as srv:
        yield srv


@pytest.mark.parametrize("off", ["0", "false", "no", "OFF"])
def test_fetchcli_insecure_0_leaves_verification_on(self_signed: LoopbackServer, backend: Backend, off: str) -> None:
    """A real run: FETCHCLI_INSECURE=0 against a self-signed certificate fails verification."""
    url = self_signed.url(f"/ok/insecure-{off}")
    done = fetchcli_in_clean_env("--backend", backend.value, url, env={"FETCHCLI_INSECURE": off})
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["error"]["type"] == "CertificateError"
    on = fetchcli_in_clean_env("--backend", backend.value, url, env={"FETCHCLI_INSECURE": "1"})
    assert on.returncode == 0 and json.loads(on.stdout)["ok"] is True


# Start-up (item 15 of issue 17): no run pays for pydantic, and a switch's value is Click's bool.


def test_a_run_with_every_kind_of_value_imports_no_pydantic(server: LoopbackServer, tmp_path: Path) -> None:
    """Text, lists, switches and the tri-state --progress, from flags, the environment and a
    config file: none of them costs the pydantic import, and each value arrives."""
    config = tmp_path / "c.toml"
    config.write_text('snippet-length = "4"\nread-all = true\nheader = ["X-From-Config: 1"]\n')
    code = (
        "import sys, json, io, contextlib; from fetchcli.cli.app import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    status = main(['-H', 'X-A: 1', '-H', 'X-B: 2', '-t', '5', '--no-progress', '-k', '--summary',"
        f" '--config', {str(config)!r}, {server.url('/headers?every-kind')!r}])\n"
        "print(json.dumps([int(status), 'pydantic' in sys.modules, json.loads(out.getvalue())['snippet']]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FETCHCLI_") and "proxy" not in k.lower()}
    env.update(FETCHCLI_FOLLOW_REDIRECTS="yes", FETCHCLI_MAX_TIME="20", FETCHCLI_UNIQUE="off")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    status, pydantic, snippet = json.loads(done.stdout)
    assert (status, pydantic, snippet) == (0, False, "GET")  # the body is the request: "GET " at 4 characters
    seen = server.stats.headers_seen["/headers?every-kind"]
    assert seen.get("x-a") == "1" and seen.get("x-b") == "2" and "x-from-config" not in seen


@pytest.mark.parametrize(("name", "given", "wanted"), [
    ("insecure", "0", False), ("insecure", "1", True), ("insecure", "false", False),
    ("progress", "0", False), ("progress", "true", True),
    ("header", ("X-A: 1", "X-B: 2"), ["X-A: 1", "X-B: 2"]), ("timeout", "7", "7"),
])  # fmt: skip
def test_a_value_of_another_type_is_coerced_as_typer_or_click_would(name: str, given: Any, wanted: Any) -> None:
    """Whatever reaches an option: text for a switch becomes its bool, never a truthy string."""
    command = typer.main.get_command(app)
    [param] = [p for p in command.params if p.name == name]
    value = param.process_value(command.context_class(command), given)
    if isinstance(wanted, list):  # a tuple with Click before 8.2 (typer makes it a list later)
        value = list(value)
    assert value == wanted and type(value) is type(wanted)
