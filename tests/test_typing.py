"""mypy, strict on core/ and storage/ (``[tool.mypy]`` in pyproject.toml), is part of the
one test command. The same configuration is shown to fail on planted violations, so
that it cannot pass by checking nothing or by checking leniently."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def mypy(cwd: Path, *paths: str, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(cache or cwd / ".mypy_cache"),
            *paths,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
    )


def test_core_and_storage_type_check_strictly() -> None:
    result = mypy(ROOT)  # the files to check come from the configuration

    assert result.returncode == 0, result.stdout + result.stderr
    checked = len(list((ROOT / "core").rglob("*.py")) + list((ROOT / "storage").rglob("*.py")))
    assert f"no issues found in {checked} source files" in result.stdout, result.stdout


@pytest.fixture(scope="module")
def planted_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for the planted trees: the standard library's stubs are read once,
    not once per tree (mypy checks each tree's own planted.py again: its hash differs)."""
    return tmp_path_factory.mktemp("mypy-cache")


# The checker's own self-test (a planted violation fails): in the full suite; the check
# itself, above, stays in the quick loop.
@pytest.mark.slow
@pytest.mark.parametrize(
    ("planted", "error"),
    [
        ("def tidy(text):\n    return text.strip()\n", "[no-untyped-def]"),
        ("def size(data: bytes) -> str:\n    return len(data)\n", "[return-value]"),
        ("import os\n\nROOT: str = os.getcwd()  # type: ignore[assignment]\n", "[unused-ignore]"),
        (
            "from typing import Any\n\n\ndef load(raw: Any) -> int:\n    return raw['n']\n",
            "[no-any-return]",
        ),
    ],
    ids=["unannotated", "wrong-return", "unused-ignore", "any-return"],
)
def test_a_planted_violation_in_core_fails(
    tmp_path: Path, planted: str, error: str, planted_cache: Path
) -> None:
    """A module of a package named ``core`` in an empty tree: checked with the real
    configuration, each planted mistake fails with its own error code."""
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("")
    module = tmp_path / "core" / "planted.py"
    module.write_text("from __future__ import annotations\n\n" + planted)

    result = mypy(tmp_path, "core/planted.py", cache=planted_cache)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "core/planted.py" in result.stdout and error in result.stdout, result.stdout
