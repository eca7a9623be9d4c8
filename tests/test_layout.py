"""The package's layout by stage: the import contracts hold, subpackages stay light, no module
imports the package root (the public API loads the engine and the transports), and the entry
points name modules that exist."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import fetchcli
from fetchcli._version import __version__

PACKAGE = Path(fetchcli.__file__).parent
STAGES = ("cli", "input", "output", "engine", "transport")


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every ``import X`` / ``from X import ...`` of a module (absolute names), anywhere in it."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            # ``from fetchcli import units`` imports the module fetchcli.units, not the public API
            found += [(_submodule(node.module, alias.name), node.lineno) for alias in node.names]
    return found


def _submodule(module: str, name: str) -> str:
    path = PACKAGE.parent.joinpath(*module.split("."), name)
    return f"{module}.{name}" if path.with_suffix(".py").exists() or path.is_dir() else module


def test_no_module_imports_the_package_root() -> None:
    """``fetchcli/__init__.py`` is the public API and loads the engine and the transports when
    used: a module that imports it (``from fetchcli import __version__``) closes a cycle."""
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line}"
        for path in PACKAGE.rglob("*.py")
        for name, line in _imports(path)
        if name == "fetchcli"
    ]
    assert offenders == []


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_is_a_light_subpackage_that_says_its_job(stage: str) -> None:
    init = PACKAGE / stage / "__init__.py"
    tree = ast.parse(init.read_text(encoding="utf-8"))
    docstring = ast.get_docstring(tree)
    assert docstring and "May import" in docstring, f"{stage}/__init__.py must say its job and what it may import"
    assert len(tree.body) == 1, f"{stage}/__init__.py must import nothing (start-up stays light)"


def test_importing_every_stage_package_loads_no_module_of_it() -> None:
    code = (
        "import sys, fetchcli.cli, fetchcli.input, fetchcli.output, fetchcli.engine, fetchcli.transport;"
        "print(sorted(m for m in sys.modules if m.startswith('fetchcli.') and m.count('.') > 1))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_the_version_is_one_and_the_console_script_names_the_cli() -> None:
    assert fetchcli.__version__ == __version__
    (script,) = entry_points(group="console_scripts", name="fetchcli")
    assert script.value == "fetchcli.cli.app:main"
    from fetchcli.cli.app import main

    assert script.load() is main


def test_the_import_contracts_hold() -> None:
    """The contracts of pyproject.toml (``lint-imports``, also run by .ci/run): stages layered
    cli > input | output > engine > transport > kernel, no cycles, no typer/click/rich in the core."""
    lint = Path(sys.executable).parent / "lint-imports"
    root = Path(__file__).resolve().parent.parent
    if not lint.exists() or not (root / "pyproject.toml").exists():
        pytest.skip("lint-imports is not installed beside this Python")
    done = subprocess.run(
        [str(lint), "--no-cache"], capture_output=True, text=True, timeout=300, cwd=root
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
