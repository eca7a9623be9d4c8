"""The map of the package a newcomer reads is the package: docs/how-it-works.md's module map
names every module of ``fetchcli/`` and none that is gone, and each stage's ``__init__``
docstring names every module of its stage."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import fetchcli

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(fetchcli.__file__).parent
STAGES = ("cli", "input", "output", "engine", "transport")


def _modules() -> set[str]:
    """Every module of the package as a path below it (``engine/run.py``); a package's
    ``__init__.py`` is its folder, which the map's first line describes once for all."""
    return {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" or path.parent == PACKAGE
    }


def _mapped() -> set[str]:
    """The modules docs/how-it-works.md's map names: its code block, each ``name.py`` under the
    folders (``cli/``) it is indented below; ``render/``, named as a folder, stands for its files."""
    text = (ROOT / "docs" / "how-it-works.md").read_text()
    block = text.split("```\n", 2)[1]
    folders: list[tuple[int, str]] = []
    named: set[str] = set()
    for line in block.splitlines()[1:]:  # the first line is fetchcli/ itself
        found = re.match(r"^( *)(\S+)", line)
        if found is None:
            continue
        indent, first = len(found.group(1)), found.group(2)
        while folders and folders[-1][0] >= indent:
            folders.pop()
        if first.endswith("/"):
            folders.append((indent, first.rstrip("/")))
            folder = PACKAGE.joinpath(*(name for _, name in folders))
            if len(folders) > 1:  # a folder inside a stage (render/) is named whole: all its files
                named |= {str(path.relative_to(PACKAGE)) for path in folder.glob("*.py") if path.name != "__init__.py"}
            continue
        prefix = [name for _, name in folders]
        named |= {"/".join([*prefix, name]) for name in re.findall(r"(?<![\w/.])(\w+\.py)\b", line)}
    return named


def test_the_module_map_names_every_module() -> None:
    assert sorted(_modules() - _mapped()) == [], "modules docs/how-it-works.md does not name"


def test_the_module_map_names_no_module_that_is_gone() -> None:
    assert sorted(_mapped() - _modules()) == [], "docs/how-it-works.md names modules that do not exist"


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_docstring_names_every_module_of_its_stage(stage: str) -> None:
    docstring = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text(encoding="utf-8"))) or ""
    folder = PACKAGE / stage
    modules = [path.stem for path in folder.glob("*.py") if path.stem != "__init__"]
    modules += [path.name for path in folder.iterdir() if (path / "__init__.py").exists()]
    assert sorted(name for name in modules if f"``{name}``" not in docstring) == []
