"""The layers hold: ``lint-imports`` checks the contracts in pyproject.toml.

tui may import storage and core, storage may import core, and core imports neither of
them, nor Textual, Rich or SQL. The check is shown to catch a planted violation of each
contract in a copy of the tree, so that it cannot pass by checking nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, env=env
    )


def test_the_layer_contracts_are_kept() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


# The checker's own self-test (a planted violation fails): in the full suite; the check
# itself, above, stays in the quick loop.
@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        ("core/planted.py", "import textual\n", "core imports neither Textual nor SQL"),
        ("core/planted.py", "import sqlalchemy\n", "core imports neither Textual nor SQL"),
        ("core/planted.py", "import storage.blobs\n", "tui on storage on core"),
        ("storage/planted.py", "import tui.app\n", "tui on storage on core"),
        ("storage/planted.py", "import textual.app\n", "storage imports no Textual"),
    ],
)
def test_a_planted_violation_breaks_its_contract(
    tmp_path: Path, module: str, planted: str, broken: str
) -> None:
    for package in ("core", "storage", "tui"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.mo"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / module).write_text(planted)

    result = lint_imports(tmp_path)

    assert result.returncode != 0
    assert f"{broken} BROKEN" in result.stdout, result.stdout
