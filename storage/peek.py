"""A look into an SQLite database with the standard library only, before SQLAlchemy.

Importing SQLAlchemy, SQLModel and Alembic (and checking the migrations) takes longer
than Textual takes to draw a screen; the first question of ``veilig start``, ``open``
and ``desk`` needs only the organisation's name. Read-only; anything unexpected (not
SQLite, no file, no table, no row, a lock) answers None and the caller opens the
database the normal way.
"""

from __future__ import annotations

import sqlite3
from urllib.parse import quote


def organisation_name(database_url: str) -> str | None:
    prefix = "sqlite:///"
    if not database_url.startswith(prefix) or "?" in database_url:
        return None
    path = database_url[len(prefix) :]
    if not path or path == ":memory:":
        return None
    try:
        db = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error:
        return None
    try:
        # As require_organisation: an organisation, and a mailbox, or not set up.
        row = db.execute(
            "SELECT name FROM organisation WHERE EXISTS (SELECT 1 FROM mailbox) LIMIT 1"
        ).fetchone()
    except sqlite3.Error:
        return None
    finally:
        db.close()
    return str(row[0]) if row else None
