"""The collector is tuned for a run (``engine/eventloop.tuned_gc``): start-up's objects frozen out
of collections and a higher young-object threshold while the loop runs, put back afterwards;
``FETCHCLI_GC=default`` leaves it alone. Run in a child process: the test process's collector
is not touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fetchcli.engine.eventloop import GEN0_THRESHOLD

CODE = """
import gc, json, sys
from fetchcli.engine.eventloop import run_loop
seen = {"before": [gc.get_threshold()[0], gc.get_freeze_count()]}
async def run():
    seen["during"] = [gc.get_threshold()[0], gc.get_freeze_count()]
run_loop(run(), 4)
seen["after"] = [gc.get_threshold()[0], gc.get_freeze_count()]
print(json.dumps(seen))
"""


def _seen(setting: str | None) -> dict[str, list[int]]:
    env = {k: v for k, v in os.environ.items() if k != "FETCHCLI_GC"}
    if setting is not None:
        env["FETCHCLI_GC"] = setting
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    seen: dict[str, list[int]] = json.loads(done.stdout)
    return seen


@pytest.mark.parametrize("loop", ["auto", "asyncio"])
def test_a_run_tunes_the_collector_and_puts_it_back(loop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FETCHCLI_LOOP", loop)
    seen = _seen(None)
    threshold, frozen = seen["before"]
    assert frozen == 0 and threshold < GEN0_THRESHOLD
    assert seen["during"][0] == GEN0_THRESHOLD
    assert seen["during"][1] > 10_000  # start-up's objects (modules, classes, functions) frozen
    assert seen["after"] == seen["before"]


def test_fetchcli_gc_default_leaves_the_collector_alone() -> None:
    seen = _seen("default")
    assert seen["before"] == seen["during"] == seen["after"]
