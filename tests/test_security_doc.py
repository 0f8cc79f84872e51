"""docs/security.md names a test for each claim: every test it names exists."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "security.md"

# `tests/x/test_y.py::test_z`, or `::test_z` for another test of the file named last
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)?::(test_\w+)(?:\[[^\]]*\])?`")


def named_tests(text: str) -> list[tuple[str, str]]:
    """(file, test) for every reference, a bare `::test` taking the file before it."""
    found, current = [], None
    for match in REFERENCE.finditer(text):
        current = match.group(1) or current
        assert current is not None, f"{match.group(0)} names no file before it"
        found.append((current, match.group(2)))
    return found


@functools.cache  # one parse per file, however many claims name its tests
def defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")
    }


def test_every_test_named_in_security_md_exists() -> None:
    references = named_tests(DOC.read_text())
    assert len(references) > 50  # the pattern really finds them
    missing = []
    for file, test in references:
        path = REPO / file
        if not path.is_file() or test not in defined_tests(path):
            missing.append(f"{file}::{test}")
    assert missing == [], f"docs/security.md names tests that do not exist: {missing}"


def test_the_check_notices_a_missing_test() -> None:
    references = named_tests(
        "`tests/test_security_doc.py::test_no_such_test` and `::test_every_test_named_in_security_md_exists`"
    )
    assert references == [
        ("tests/test_security_doc.py", "test_no_such_test"),
        ("tests/test_security_doc.py", "test_every_test_named_in_security_md_exists"),
    ]
    assert "test_no_such_test" not in defined_tests(REPO / "tests/test_security_doc.py")
