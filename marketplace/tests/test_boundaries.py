"""The marketplace reaches the communications module only through marketplace/gateway.py."""

import ast
from pathlib import Path

import pytest

from marketplace.models import Scope

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_gateway_imports_communications():
    offenders = [
        str(path.relative_to(ROOT)) for path in ROOT.rglob("*.py")
        if "tests" not in path.parts and path.name != "gateway.py"
        and any(name == "communications" or name.startswith("communications.") for name in _imported_modules(path))
    ]
    assert offenders == []
    assert any(name.startswith("communications") for name in _imported_modules(ROOT / "gateway.py"))


@pytest.mark.django_db
def test_communications_scope_is_added_by_migration():
    scope = Scope.objects.get(code="communications")
    assert scope.label == "Коммуникации"
