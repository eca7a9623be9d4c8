"""--expect-jq loads no jq code from files: a module directive (import, include, module) is a
usage error before anything is sent, and the judging children run in / (found by review r5a:
``import "x" as y`` loaded ./x.jq from the working directory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fetchcli.engine.jqcheck import compile_problem
from tests.helpers import fetchcli_in_clean_env
from tests.server import running_server

pytest.importorskip("jq")

REPO = Path(__file__).resolve().parent.parent
_ENV = {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.mark.parametrize(
    "program",
    [
        'import "x" as y; y::f',
        'include "x"; f',
        '  # a comment\n import "x" as $data; true',
        "module {a: 1}; true",
    ],
)
def test_a_module_directive_is_refused(program: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "x.jq").write_text("def f: true;\n")
    monkeypatch.chdir(tmp_path)
    problem = compile_problem(program)
    assert problem is not None and "import, include or module" in problem


@pytest.mark.parametrize("program", [".import == 1", "def import_x: true; import_x", '.a | test("import")'])
def test_names_that_merely_contain_the_words_compile(program: str) -> None:
    assert compile_problem(program) is None


def test_the_cli_refuses_it_before_anything_is_sent(tmp_path: Path) -> None:
    (tmp_path / "x.jq").write_text("def f: true;\n")
    with running_server() as server:
        done = fetchcli_in_clean_env("--expect-jq", 'include "x"; f', server.url("/ok"), cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("fetchcli: error: --expect-jq takes no import, include or module directive")
        assert server.stats.requests == 0 and server.stats.accepted == 0


def test_the_judging_child_runs_in_the_root_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The Python API does not check up front: the child's own compile must not see the
    working directory either (it would find ./x.jq there)."""
    from fetchcli.engine import jqcheck

    (tmp_path / "x.jq").write_text("def f: true;\n")
    monkeypatch.chdir(tmp_path)
    header = json.dumps({"expression": 'import "x" as y; y::f', "memory": 1 << 30}).encode() + b"\n"
    child = jqcheck._Child(jqcheck.child_command(), header)
    try:
        assert os.readlink(f"/proc/{child.proc.pid}/cwd") == "/"
        why = child.ask(b"1")
        assert why is not None and "takes no import, include or module directive" in why  # ./x.jq not run
    finally:
        child.proc.kill()
        child.proc.wait()


@pytest.mark.parametrize(
    "program",
    [
        "# " + "#" * 40 + "\n.ok == true",
        "#" * 5000 + "\n.ok",
        "#\n" * 5000 + ".ok",
        "# import this\n.ok",
        "# c\n  # d\n.ok",
    ],
)
def test_comments_are_read_in_one_way(program: str) -> None:
    """A banner of '#' is read once, not in exponentially many ways (review r8a: 40 of them hung
    the CLI's check forever), and a comment that mentions import is only a comment. In a child
    process with a generous bound, so that a regression fails instead of hanging the suite."""
    code = "import sys; from fetchcli.engine.jqchild import DIRECTIVE; print(DIRECTIVE.match(sys.argv[1]) is None)"
    done = subprocess.run(
        [sys.executable, "-c", code, program], capture_output=True, text=True, timeout=60, cwd=REPO, env=_ENV
    )
    assert done.stdout.strip() == "True", done.stderr
