"""The query plans behind a call: every SELECT it sends, explained by the database it
ran on (SQLite's ``EXPLAIN QUERY PLAN``, PostgreSQL's ``EXPLAIN (ANALYZE, BUFFERS)``),
with the same parameters. Saved in the benchmark's JSON (``plans``), for
docs/PERFORMANCE.md's comparison of the two databases; never timed.
"""

from __future__ import annotations

from collections.abc import Callable


def explain(engine, call: Callable[[], object]) -> str:
    """Run ``call`` once, recording its statements on ``engine``; their plans, each
    after the statement's first line. The staff member's own row (looked up by its
    primary key in every transaction) is left out."""
    from sqlalchemy import event

    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, params, context, executemany) -> None:
        if statement.startswith("SELECT") and "FROM staff" not in statement:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    postgres = engine.dialect.name == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
    out: list[str] = []
    with engine.connect() as conn:
        for statement, params in seen:
            rows = conn.exec_driver_sql(prefix + statement, params).fetchall()
            # SQLite: (id, parent, notused, detail); PostgreSQL: one line of text per row.
            lines = [r[0] if postgres else f"{'  ' * _depth(rows, r)}{r[3]}" for r in rows]
            lines = [line if len(line) <= 200 else line[:200] + " …" for line in lines]
            first = " ".join(statement.split())[:160]
            out.append(first + " …\n" + "\n".join(f"    {line}" for line in lines))
    return "\n\n".join(out)


def _depth(rows, row) -> int:
    """How deep a row of SQLite's plan lies (its parent chain)."""
    parents = {r[0]: r[1] for r in rows}
    depth, parent = 0, row[1]
    while parent in parents:
        depth, parent = depth + 1, parents[parent]
    return depth
