"""Two sessions made to overlap exactly where a read-then-write rule could lose a race.

The first session is held right after a statement of interest (its count, its read),
inside its transaction, with nothing committed yet. Then the second one runs, and the
test waits for whichever comes first:

- the second reaches the same statement: nothing made them take turns, both counted the
  same rows (on PostgreSQL's READ COMMITTED that is what happens without a lock);
- the second waits for a lock the first holds (PostgreSQL: a row lock or an advisory
  lock, seen in ``pg_locks``; SQLite: its ``BEGIN IMMEDIATE``, which waits for the
  first one's write lock);
- the second finishes.

Then the first goes on and commits, and the test looks at what each one got. Made to
happen every time, not by chance: threads released together, as in ``race()`` of
``tests/abuse/test_codes_abuse.py``, often do not overlap where it matters.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from core.context import Context
from storage.db import make_engine

Attempt = Callable[[], str]


@dataclass
class Overlap:
    first: str = ""
    second: str = ""
    # How the second one met the first: "reached" the same statement, "waited" for a
    # lock, or "finished" while the first was held.
    how: str = ""
    errors: list[BaseException] = field(default_factory=list)


def engine_of(ctx: Context) -> Engine:
    engine = getattr(ctx.repo, "engine", None)
    assert isinstance(engine, Engine), "a session opened at once (not open_later)"
    return engine


def overlap(
    first: tuple[Context, Attempt],
    second: tuple[Context, Attempt],
    marker: str,
    *,
    nth: int = 1,
    url: str,
    stop_when_reached: bool = True,
) -> Overlap:
    """Hold ``first`` after the ``nth`` statement containing ``marker`` its session runs;
    run ``second`` until it reaches the same point, waits for a lock or ends (with
    ``stop_when_reached=False``: only a lock wait or its end); then let ``first`` go."""
    result = Overlap()
    held, release = threading.Event(), threading.Event()
    reached, began = threading.Event(), threading.Event()
    seen = {"first": 0, "second": 0}

    def watch(who: str, engine: Engine) -> None:
        def after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if marker not in statement:
                return
            seen[who] += 1
            if seen[who] != nth:
                return
            if who == "first":
                held.set()
                release.wait(timeout=120)
            else:
                reached.set()

        def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if who == "second" and statement.startswith("BEGIN IMMEDIATE"):
                began.set()  # SQLite: waits now, for as long as the first holds its lock

        event.listen(engine, "after_cursor_execute", after)
        event.listen(engine, "before_cursor_execute", before)

    (first_ctx, first_attempt), (second_ctx, second_attempt) = first, second
    watch("first", engine_of(first_ctx))
    watch("second", engine_of(second_ctx))

    def run(attempt: Attempt, slot: str) -> None:
        try:
            setattr(result, slot, attempt())
        except BaseException as exc:  # handed to the test
            result.errors.append(exc)

    one = threading.Thread(target=run, args=(first_attempt, "first"))
    one.start()
    if not held.wait(timeout=120):
        release.set()
        one.join()
        raise AssertionError(f"the first session never ran {marker!r}: {result.errors}")
    two = threading.Thread(target=run, args=(second_attempt, "second"))
    two.start()
    try:
        result.how = _until_the_second_meets_the_first(
            two, reached if stop_when_reached else None, began, url
        )
    finally:
        release.set()
        one.join()
        two.join()
    return result


def _until_the_second_meets_the_first(
    two: threading.Thread, reached: threading.Event | None, began: threading.Event, url: str
) -> str:
    """Polled: a lock wait is no event anyone can wait on (as in test_migrations.py)."""
    postgres = url.startswith("postgresql")
    watcher = make_engine(url) if postgres else None
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if reached is not None and reached.is_set():
                return "reached"
            if not two.is_alive():
                return "finished"
            if postgres:
                assert watcher is not None
                if _lock_waits(watcher):
                    return "waited"
            elif began.is_set():
                return "waited"
            two.join(timeout=0.01)
    finally:
        if watcher is not None:
            watcher.dispose()
    raise AssertionError("the second session neither waited, nor reached, nor ended")


def _lock_waits(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.exec_driver_sql(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE NOT l.granted AND a.datname = current_database()"
            ).scalar_one()
        )
