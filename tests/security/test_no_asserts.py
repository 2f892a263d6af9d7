"""microasgi never relies on ``assert`` for control flow: ``python -O`` strips them, and this
directory runs a second time under ``PYTHONOPTIMIZE=1`` (scripts/check.sh) to prove it."""

import ast
from pathlib import Path

import microasgi

PACKAGE = Path(microasgi.__file__).parent


def test_no_assert_statement_in_the_package() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Assert)
    ]
    assert found == []
