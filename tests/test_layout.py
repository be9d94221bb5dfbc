"""The suite's own layout rule: fixtures come from conftest files, and test packages never import each other.

A module under tests/ is a test module, a conftest, a package marker or a helper in tests/support; any import of
``tests.*`` names tests.support. Helpers elsewhere or imports across test packages would tie one subject's tests
to another's files.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SUPPORT = TESTS / "support"


def _modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def _imported(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            names.extend(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_helpers_live_only_in_support() -> None:
    stray = [p.relative_to(TESTS).as_posix() for p in _modules()
             if SUPPORT not in p.parents and not p.name.startswith("test_")
             and p.name not in ("conftest.py", "__init__.py")]
    assert stray == []


def test_test_packages_import_only_support() -> None:
    crossing = [f"{p.relative_to(TESTS).as_posix()}: {name}" for p in _modules()
                for name in _imported(ast.parse(p.read_text(), filename=str(p)))
                if name.split(".")[0] == "tests" and name not in ("tests", "tests.support")
                and not name.startswith("tests.support.")]
    assert crossing == []
