"""docs/python.md says how ``fetch`` is called: the signature it gives is fetch's own, and its
first example runs as written (the second is run by tests/test_large_runs.py)."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from fetchcli import fetch
from tests.server import LoopbackServer

PAGE = (Path(__file__).resolve().parent.parent / "docs" / "python.md").read_text()


def test_the_documented_signature_of_fetch_is_its_own() -> None:
    (documented,) = re.findall(r"`fetch\(([^`]*)\)`", PAGE)
    parameters = [part.strip().split("=")[0] for part in documented.split(",") if part.strip() != "*"]
    assert parameters == list(inspect.signature(fetch).parameters)


def test_the_first_example_runs_as_written(server: LoopbackServer, capsys: pytest.CaptureFixture[str]) -> None:
    """The page's first example, with its two public URLs standing for two of a loopback server."""
    code = PAGE.split("```python\n", 1)[1].split("```", 1)[0]
    assert '["https://example.com", "example.org"]' in code
    code = code.replace('["https://example.com", "example.org"]', repr([server.url("/ok"), server.url("/status/404")]))
    exec(compile(code, "docs/python.md", "exec"), {"__name__": "__main__"})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "0 200 None hello from /ok"
    assert lines[2] == "1 404 None status 404"
    assert [ast.literal_eval(line)["status"] for line in lines[1::2]] == [200, 404]  # to_dict(), printed
