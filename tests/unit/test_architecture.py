"""The domain stays pure: standard library and its own modules only.

import-linter forbids the third-party packages we know of; this catches the ones we do not.
"""

import ast
import sys
from pathlib import Path

import pytest

DOMAIN = Path(__file__).parent.parent.parent / "reconciler" / "domain"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(DOMAIN.glob("*.py")), ids=lambda p: p.name)
def test_domain_module_imports_only_the_standard_library_and_the_domain(path: Path):
    outside = {
        name
        for name in imported_modules(path)
        if name.split(".")[0] not in sys.stdlib_module_names
        and not name.startswith("reconciler.domain")
    }
    assert outside == set()


def test_the_check_sees_imports():
    """Guard against a walker that finds nothing and so passes everything."""
    assert "reconciler.domain.errors" in imported_modules(DOMAIN / "values.py")
