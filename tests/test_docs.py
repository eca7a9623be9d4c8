"""The README documents every option and every record field, and its test command is CI's."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from fetchcli.cli import app
from fetchcli.models import FetchResult

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_option_is_in_the_readme() -> None:
    command = typer.main.get_command(app)
    options = [
        opt
        for param in command.params
        for opt in (*param.opts, *getattr(param, "secondary_opts", ()))  # the --no- forms too
        if opt.startswith("--")
    ]
    assert len(options) > 25
    missing = [opt for opt in options if f"`{opt}" not in README]
    assert missing == []


def test_every_record_field_is_in_the_readme() -> None:
    fields = FetchResult(index=0, url="u", ok=True).to_dict()
    missing = [name for name in fields if f"| `{name}` |" not in README]
    assert missing == []


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[test]' && pytest" in README
    assert "pip install -q -e '.[test]'" in ci
    assert re.search(r"^pytest$", ci, re.MULTILINE)


def test_example_urls_file_exists_and_parses() -> None:
    from fetchcli.sources import iter_binary_lines, iter_items

    with open(ROOT / "urls.example.txt", "rb") as f:
        items = list(iter_items(iter_binary_lines(f)))
    assert len(items) >= 12
    assert all(item.error is None for item in items)


def test_the_error_vocabulary_is_the_readmes_table() -> None:
    from fetchcli.errortype import ErrorType

    section = README.split("| `error.type` | meaning |", 1)[1].split("\n\n", 1)[0]
    listed = re.findall(r"^\| `(\w+)` \| (.+) \|$", section, flags=re.MULTILINE)
    assert listed == [(member.value, member.description) for member in ErrorType]
