"""``plan_run``: every check a run makes before it reads or writes anything, in one step, and
the plan the run carries out (and ``--dry-run`` describes). Unit tests: no network, no run."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from fetchcli.cli.plan import Environment, OutputOptions, RunPlan, plan_run
from fetchcli.settings import Backend, OutputFormat, RequestSettings, Settings, SettingsError
from tests.helpers import memory_environment

URLS = ["http://127.0.0.1:9/"]


def _env(*, terminal: bool = False) -> Environment:
    return memory_environment(stdout_tty=terminal)


def _plan(options: OutputOptions, settings: Settings | None = None, *, terminal: bool = False) -> RunPlan:
    return plan_run(settings or Settings(), URLS, [], options, _env(terminal=terminal))


def test_the_plan_says_the_format_why_and_where(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    plan = _plan(OutputOptions(path=str(out)))
    assert (plan.format, plan.format_reason, plan.to_terminal) == (OutputFormat.csv, "-o's extension .csv", False)
    assert list(plan.targets) == ["--output"] and plan.targets["--output"].path == str(out)
    assert not out.exists()  # planned, not written


def test_a_terminal_gets_a_table_and_a_pipe_json_lines() -> None:
    assert _plan(OutputOptions(), terminal=True).format is OutputFormat.table
    assert _plan(OutputOptions()).format is OutputFormat.jsonl
    assert _plan(OutputOptions(summary_json="-")).targets.keys() == {"--summary-json"}


def test_the_backend_is_chosen_once_and_nothing_else_changes() -> None:
    settings = Settings(concurrency=7)
    plan = _plan(OutputOptions(), settings)
    installed = importlib.util.find_spec("aiohttp") is not None
    assert plan.backend is (Backend.aiohttp if installed else Backend.httpx)
    assert plan.settings == dataclasses.replace(settings, backend=plan.backend)
    assert _plan(OutputOptions(), Settings(backend=Backend.httpx)).backend is Backend.httpx


@pytest.mark.skipif(importlib.util.find_spec("socksio") is None, reason="socksio is not installed")
def test_auto_picks_httpx_for_what_only_httpx_serves() -> None:
    socks = RequestSettings(proxy="socks5://127.0.0.1:9")
    assert _plan(OutputOptions(), Settings(request=socks)).backend is Backend.httpx
    with pytest.raises(SettingsError, match=r"^--backend aiohttp does not support"):
        _plan(OutputOptions(), Settings(request=socks, backend=Backend.aiohttp))


@pytest.mark.parametrize(
    ("options", "settings", "message"),
    [
        (OutputOptions(resume="r.jsonl", path="o.jsonl"), Settings(), "^--resume appends to its own FILE: drop -o$"),
        (OutputOptions(max_failures=-1), Settings(), "^--max-failures must be 0 or more$"),
        (
            OutputOptions(path="out.txt"),
            Settings(),
            r"^--output 'out\.txt' ends in '\.txt', which names no output format",
        ),
        (OutputOptions(fields=("url",)), Settings(), "^--fields applies to json, jsonl, csv and tsv"),
        (OutputOptions(), Settings(request=RequestSettings(cacert="/nonexistent/ca.pem")), "^--cacert cannot be used"),
    ],
    ids=["resume-with-o", "max-failures", "extension", "fields-with-table", "cacert"],
)
def test_each_refusal_is_a_usage_error_before_any_io(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: OutputOptions, settings: Settings, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match=message):
        _plan(options, settings, terminal=options.fields is not None)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_an_output_that_is_an_input_is_refused(tmp_path: Path) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text("http://127.0.0.1:9/\n")
    with pytest.raises(SettingsError, match=r"^--output .*is the same file as --input"):
        plan_run(Settings(), [], [str(urls)], OutputOptions(path=str(urls)), _env())
    assert urls.read_text() == "http://127.0.0.1:9/\n"


def test_the_checks_come_in_their_order(tmp_path: Path) -> None:
    """Several faults at once: the first of the documented order is the one reported."""
    options = OutputOptions(resume=str(tmp_path / "r.jsonl"), format=OutputFormat.csv, max_failures=-1)
    with pytest.raises(SettingsError, match=r"^--resume writes whole JSON Lines records"):
        _plan(options, Settings(backend=Backend.aiohttp, request=RequestSettings(cacert="/nonexistent")))
    with pytest.raises(SettingsError, match=r"^--max-failures"):
        _plan(OutputOptions(max_failures=-1, path="x.txt"))
