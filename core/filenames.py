"""Saving files under names that came from strangers.

A received attachment's name is chosen by whoever sent it. Before it touches the
disk it loses directories (``../``, ``/etc/``, ``C:\\``), control and bidi characters,
NUL, leading dots (hidden files), Windows' reserved device names and excess length;
and it never replaces a file that is already there.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

MAX_NAME_BYTES = 200  # below every common filesystem's 255-byte limit, with room for " (99)"
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{n}" for p in ("COM", "LPT") for n in range(1, 10)}


def safe_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(
        ch for ch in base if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")
    )
    kept = kept.strip().lstrip(".").strip()
    stem, dot, suffix = kept.partition(".")
    if stem.upper() in _RESERVED:
        kept = f"_{kept}"
    if not kept:
        kept = "attachment"
    while len(kept.encode("utf-8")) > MAX_NAME_BYTES:
        stem, dot, suffix = kept.rpartition(".")
        if dot and len(suffix) <= 16 and stem:
            kept = stem[:-1] + "." + suffix
        else:
            kept = kept[:-1]
    return kept


def unused_path(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name (1)``, ``name (2)``… whichever does not exist yet."""
    candidate = folder / name
    stem, suffix = os.path.splitext(name)
    n = 1
    while candidate.exists():
        candidate = folder / f"{stem} ({n}){suffix}"
        n += 1
    return candidate
