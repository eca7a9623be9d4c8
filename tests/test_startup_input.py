"""Start-up work of the input stage, counted rather than timed: a run of a URL list does not import
the JSON Lines reader (``fetchcli.input.jsonl``); a run that reads a JSON Lines input does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.server import LoopbackServer


def _run_and_say_if_jsonl_was_imported(args: list[str]) -> tuple[int, bool, list[int]]:
    """``fetchcli ARGS`` in a fresh interpreter: its exit status, whether ``fetchcli.input.jsonl``
    was imported by the end of the run, and the statuses of its records."""
    code = (
        "import sys, io, contextlib; from fetchcli.cli.app import main;"
        f"out = io.StringIO();\nwith contextlib.redirect_stdout(out): status = main({args!r})\n"
        "print(int(status), 'fetchcli.input.jsonl' in sys.modules);print(out.getvalue(), end='')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    first, *records = done.stdout.splitlines()
    status, imported = first.split()
    return int(status), imported == "True", [json.loads(line)["status"] for line in records]


def test_a_run_of_a_url_list_does_not_import_the_json_lines_reader(server: LoopbackServer, tmp_path: Path) -> None:
    listed = tmp_path / "urls.txt"
    listed.write_text(server.url("/ok/2?startup-list") + "\n")
    args = ["-f", "jsonl", server.url("/ok/1?startup-args"), "-i", str(listed)]
    assert _run_and_say_if_jsonl_was_imported(args) == (0, False, [200, 200])


def test_a_run_of_a_json_lines_input_imports_it(server: LoopbackServer, tmp_path: Path) -> None:
    requests = tmp_path / "urls.jsonl"
    requests.write_text(json.dumps({"url": server.url("/ok/1?startup-jsonl")}) + "\n")
    assert _run_and_say_if_jsonl_was_imported(["-f", "jsonl", "-i", str(requests)]) == (0, True, [200])
