"""A pytest plugin loaded first (``-p tests.compile_once`` in pyproject.toml): the suite
compiles each module once.

Some shells export PYTHONDONTWRITEBYTECODE=1 (this machine's do). Then every test
worker, and every ``veilig`` a test starts in a subprocess, compiles veilig and pytest's
rewritten test modules from source again: about 4 s of each worker's collection and a
part of each command's start. The suite writes the usual ``__pycache__`` (which git
ignores) instead; nothing in it depends on the setting."""

from __future__ import annotations

import os
import sys

sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # for the processes the tests start
