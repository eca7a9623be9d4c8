"""The docs document every option and every record field, and the README's test command is CI's.

docs/options.md is the option reference: it holds exactly the options of ``fetchcli --help``,
with the same default wherever the help shows one. docs/records.md's field table is exactly the
fields of ``fetchcli --schema``, each with its type."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import typer

from fetchcli import __version__
from fetchcli.cli.app import app
from fetchcli.models import FetchResult
from tests.helpers import fetchcli_in_clean_env

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
OPTIONS = (ROOT / "docs" / "options.md").read_text()
RECORDS = (ROOT / "docs" / "records.md").read_text()


def test_every_option_is_in_the_option_reference() -> None:
    command = typer.main.get_command(app)
    options = [
        opt
        for param in command.params
        for opt in (*param.opts, *getattr(param, "secondary_opts", ()))  # the --no- forms too
        if opt.startswith("--")
    ]
    assert len(options) > 25
    missing = [opt for opt in options if f"`{opt}" not in OPTIONS]
    assert missing == []


def test_every_record_field_is_in_the_record_reference() -> None:
    fields = FetchResult(index=0, url="u", ok=True).to_dict()
    missing = [name for name in fields if f"| `{name}` |" not in RECORDS]
    assert missing == []


def _group(title: str) -> str:
    """``Timeouts (seconds; ...)`` -> ``Timeouts``."""
    return title.split(" (", 1)[0].strip()


def _help_options() -> dict[str, tuple[str, str | None]]:
    """Each option of ``fetchcli --help`` (short, long and --no- forms) -> its group and the
    default the help shows for it, or None. Read from the text a user sees, with its wrapped
    lines joined again."""
    done = fetchcli_in_clean_env("--help", env={"COLUMNS": "120"})
    assert done.returncode == 0, done.stderr
    options_part = done.stdout.split("\n\nEvery option can also be set", 1)[0]
    entries: list[tuple[str, str]] = []
    group = ""
    for line in options_part.splitlines()[1:]:
        if re.match(r"^\S", line):  # a group's title (or the lines of the usage before them)
            group = _group(line)
        elif re.match(r"^  \S", line):  # an option (or URL...) starts; long flags stand on a line of their own
            entries.append((group, line.strip() if "  " in line.strip() else line.strip() + "  "))
        elif re.match(r"^ {3,}\S", line) and entries:  # its text, continued
            glue = "" if re.search(r"\w-$", entries[-1][1]) else " "  # textwrap breaks after a word's hyphen
            entries[-1] = (entries[-1][0], entries[-1][1] + glue + line.strip())
    found: dict[str, tuple[str, str | None]] = {}
    for group, entry in entries:
        flags, _, details = (part.strip() for part in entry.partition("  "))
        if not flags.startswith("-"):
            continue  # URL...
        default = re.search(r"\[default: (.*?)\](?: \[env: |$)", details)
        for opt in re.findall(r"(?<![\w-])--?[A-Za-z0-9][\w-]*", flags):
            found[opt] = (group, default.group(1) if default else None)
    return found


def _reference_options() -> dict[str, tuple[str, str]]:
    """Each option in the first column of docs/options.md's option tables -> its group (the
    heading above the table) and its default cell, without Markdown's backticks and with
    ``VERSION`` for the version."""
    section = OPTIONS.split("\n## Options\n", 1)[1].split("\n## ", 1)[0]
    found: dict[str, tuple[str, str]] = {}
    for block in section.split("\n### ")[1:]:
        group = _group(block.split("\n", 1)[0].replace("`", ""))
        for line in re.findall(r"^\| `-.*\|$", block, flags=re.MULTILINE):
            flags, _, default = (cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1])  # `a\|b` is no border
            for opt in re.findall(r"`(--?[A-Za-z0-9][\w-]*)", flags):
                if opt not in found or default:  # `--shard K/N` and `--shard auto`: one option, one default
                    found[opt] = (group, default.replace("`", "").replace("VERSION", __version__).strip())
    return found


def test_the_option_reference_is_the_help() -> None:
    """Every option of --help is in docs/options.md's tables and every option there is in
    --help, in the same group, the groups and the options in them in the same order; where --help shows a default,
    the reference's default is the same text."""
    shown, documented = _help_options(), _reference_options()
    assert len(shown) > 60
    assert sorted(set(shown) - set(documented)) == [], "options of --help that docs/options.md does not document"
    assert sorted(set(documented) - set(shown)) == [], "options in docs/options.md that --help does not have"
    elsewhere = {opt: (group, documented[opt][0]) for opt, (group, _) in shown.items() if documented[opt][0] != group}
    assert elsewhere == {}, "(--help's group, docs/options.md's)"
    assert list(dict.fromkeys(g for g, _ in shown.values())) == list(dict.fromkeys(g for g, _ in documented.values()))
    assert [o for o in documented if o in shown] == list(shown), "the options in --help's order within each group"
    differ = {
        opt: (default, documented[opt][1])
        for opt, (_, default) in shown.items()
        if default and documented[opt][1] != default
    }
    assert differ == {}, "(--help's default, docs/options.md's)"


_TYPES = {
    "int": "integer",
    "float": "number",
    "string": "string",
    "bool": "boolean",
    "list": "array",
    "object": "object",
}


def _schema_fields() -> dict[str, set[str]]:
    """Each field of ``fetchcli --schema``, an object's fields as ``object.field`` -> its JSON types."""
    done = fetchcli_in_clean_env("--schema")
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)

    def types(spec: dict[str, Any]) -> set[str]:
        if "const" in spec:
            return {"integer"} if isinstance(spec["const"], int) else {"string"}
        if "enum" in spec:
            return {"string" if isinstance(v, str) else "null" for v in spec["enum"]}
        kind = spec["type"]
        return set(kind) if isinstance(kind, list) else {kind}

    fields: dict[str, set[str]] = {}
    for name, spec in schema["properties"].items():
        fields[name] = types(spec)
        if "object" in fields[name]:
            # an open object (meta: the user's own) has no fields of its own
            fields |= {f"{name}.{sub}": types(inner) for sub, inner in spec.get("properties", {}).items()}
    return fields


def test_the_record_reference_is_the_schema() -> None:
    """docs/records.md's field table lists every field of --schema (the fields of its objects as
    ``tls.days_left``), nothing else, in the schema's order, each with the schema's types."""
    table = RECORDS.split("| field | type | meaning |", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `([\w.]+)` \| ([^|]+) \|", table, flags=re.MULTILINE)
    documented = {name: {_TYPES.get(word, word) for word in kind.strip().split(" or ")} for name, kind in rows}
    schema = _schema_fields()
    assert [name for name, _ in rows] == list(schema)
    assert documented == schema


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[test]' && pytest" in README
    assert "pip install -q -e '.[test]'" in ci
    assert re.search(r"^pytest$", ci, re.MULTILINE)


def test_example_urls_file_exists_and_parses() -> None:
    from fetchcli.urls import iter_binary_lines, iter_items

    with open(ROOT / "urls.example.txt", "rb") as f:
        items = list(iter_items(iter_binary_lines(f)))
    assert len(items) >= 12
    assert all(item.error is None for item in items)


def test_the_error_vocabulary_is_the_record_references_table() -> None:
    from fetchcli.errortype import ErrorType

    section = RECORDS.split("| `error.type` | meaning |", 1)[1].split("\n\n", 1)[0]
    listed = re.findall(r"^\| `(\w+)` \| (.+) \|$", section, flags=re.MULTILINE)
    assert listed == [(member.value, member.description) for member in ErrorType]


def test_links_between_the_docs_lead_somewhere() -> None:
    """Every relative link of README.md and docs/*.md names a file that exists, and an anchor
    (``#large-runs``) names a heading of that file."""

    def anchors(text: str) -> set[str]:
        headings = re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)
        return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}

    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # https://...
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists() or (anchor and anchor not in anchors(linked.read_text())):
                broken.append(f"{page.name}: {target}")
    assert broken == []
