"""What the browser tells a running dialog, besides keys: small, so every app can import it."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class FileUploaded(Message):
    """The page put a file into this session's upload folder, under ``name``."""

    name: str
