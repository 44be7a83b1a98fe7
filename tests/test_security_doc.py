"""docs/SECURITY.md names the test for each case: each named test must exist, so the
table cannot quietly point at a test that was renamed or removed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_named_in_the_security_model_exists() -> None:
    text = (ROOT / "docs" / "SECURITY.md").read_text("utf-8")
    named: list[tuple[str, str]] = []
    for row in text.splitlines():
        current = None  # "::name" alone continues the file named before it in the row
        for match in re.finditer(r"`((?:A|tests)/[\w/]+\.py)?(?:::(\w+))?`", row):
            path, name = match.groups()
            if path:
                current = path.replace("A/", "tests/abuse/", 1)
            if name and current:
                named.append((current, name))
    assert len(named) > 60, named
    functions_in: dict[str, set[str]] = {}  # each file parsed once, not once per name
    for path, name in named:
        file = ROOT / path
        assert file.exists(), f"{path} is named in SECURITY.md but does not exist"
        if path not in functions_in:
            functions_in[path] = {
                node.name
                for node in ast.walk(ast.parse(file.read_text("utf-8")))
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            }
        functions = functions_in[path]
        assert name in functions, f"{path}::{name} is named in SECURITY.md but does not exist"


def test_the_readmes_list_of_audit_actions_is_the_log_s_own() -> None:
    """README's *What is logged* names every action the log can hold, and none it cannot
    (it once named `staff.added` and `staff.role-changed`, which never existed)."""
    from core.audit import Action

    text = (ROOT / "README.md").read_text("utf-8")
    paragraph = text[text.index("Actions: ") : text.index("No entry holds a subject")]
    named = set(re.findall(r"`([a-z]+(?:[.-][a-z]+)*)`", paragraph))
    assert named == {action.value for action in Action}
