"""bench/ab.py and bench/paired.py, the A/B tools behind docs/performance.md's current figures,
still run end to end (tiny sizes): they must not rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_ab_compares_sides_and_raw_aiohttp() -> None:
    out = _run("bench/ab.py", "--side", f"one={sys.executable}", "-n", "200", "-c", "10", "--rounds", "1")
    assert "| one |" in out and "| raw aiohttp |" in out


@pytest.mark.slow
def test_ab_startup_compares_with_python() -> None:
    out = _run("bench/ab.py", "--startup", "--side", f"one={sys.executable}", "--rounds", "1")
    assert "| one |" in out and "| python -c pass |" in out
    assert "| one --help |" in out and "| one --version |" in out


@pytest.mark.slow
@pytest.mark.parametrize("compare", ["sendpath", "gc"])
def test_paired_compares_two_ways(compare: str) -> None:
    out = _run("bench/paired.py", "--compare", compare, "-n", "100", "--rounds", "2")
    assert "paired: median" in out
