"""The import contracts of pyproject.toml name the kernel module by module, so a module added at
the package root is held to nothing until someone adds it there: this test makes that a failure."""

from __future__ import annotations

import sys
from pathlib import Path

import fetchcli

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(fetchcli.__file__).parent
# The public API loads the engine (it is above every stage); ``python -m fetchcli`` runs the CLI.
NOT_KERNEL = {"__init__", "__main__"}


def _contract(name_starts: str) -> set[str]:
    pyproject = ROOT / "pyproject.toml"
    contracts = tomllib.loads(pyproject.read_text())["tool"]["importlinter"]["contracts"]
    (contract,) = [c for c in contracts if c["name"].startswith(name_starts)]
    return set(contract["source_modules"])


def _kernel() -> set[str]:
    return {f"fetchcli.{path.stem}" for path in PACKAGE.glob("*.py") if path.stem not in NOT_KERNEL}


def test_every_module_at_the_root_is_held_to_the_kernels_contract() -> None:
    assert _kernel() == _contract("The kernel imports no stage")


def test_every_module_at_the_root_is_held_to_the_no_typer_contract() -> None:
    assert _kernel() <= _contract("The core never imports typer")
