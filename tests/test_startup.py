"""Start-up: the first question is on screen before the database proper is opened."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.policy import Policy
from storage.peek import organisation_name
from tests.conftest import SmtpServer, make_settings
from tests.tui_helpers import screen_text, wait_for_workers
from tui.factory import OpenLater, make_context, make_starter_app


def test_the_organisation_name_is_read_without_sqlalchemy(home: Path, tmp_path: Path) -> None:
    assert organisation_name(make_settings(home).database_url) == "DeclaCare"
    # Anything else: None, and the caller opens the database the normal way.
    assert organisation_name(f"sqlite:///{tmp_path / 'none.db'}") is None
    assert organisation_name("postgresql+psycopg://u@db/veilig") is None
    assert organisation_name("sqlite://") is None


async def test_the_starter_asks_first_and_opens_the_database_in_a_worker(
    home: Path, policy: Policy, smtp_server: SmtpServer
) -> None:
    settings = make_settings(home, smtp_server.url)
    app = make_starter_app(settings)
    assert isinstance(app.ctx.repo, OpenLater)
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.pause()
        assert "What is your name?" in screen_text(app)
        await wait_for_workers(pilot, "warm-up")
        assert app.ctx.repo._repo is not None  # the warm-up opened it
        # and it is the real database: a transaction sees the organisation
        with app.ctx.repo.transaction() as tx:
            org = tx.organisation()
        assert org is not None and org.name == "DeclaCare"


def test_a_transaction_before_the_warm_up_waits_for_the_opening(home: Path) -> None:
    ctx = make_context(make_settings(home), open_later=True)
    assert isinstance(ctx.repo, OpenLater)

    async def both() -> list[str]:
        def name() -> str:
            with ctx.repo.transaction() as tx:
                return tx.organisation().name  # type: ignore[union-attr]

        return await asyncio.gather(asyncio.to_thread(name), asyncio.to_thread(name))

    assert asyncio.run(both()) == ["DeclaCare", "DeclaCare"]


# What the first question must not wait for: the database layer (opened in the warm-up,
# after the first frame), the staff log-in's password and TOTP checks, the inbox's table,
# and the libraries the later answers need (imported in the warm-up too).
NOT_BEFORE_THE_FIRST_QUESTION = (
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "storage.db",
    "storage.repository",
    "argon2",
    "pyotp",
    "phonenumbers",
    "email_validator",
    "aiosmtplib",
    "core.desk",
    "core.login",
    "tui.desk.inbox",
    "textual.widgets._data_table",
)
# The staff log-in form needs no key at all before it is answered.
NOT_BEFORE_THE_LOG_IN_FORM = ("cryptography", "core.sealing", "core.starter", "core.audit")

_FIRST_QUESTION = """
import asyncio, json, sys
from pathlib import Path
from core.config import Settings
from tui import factory

which, home = sys.argv[1], Path(sys.argv[2])
settings = Settings(home=home, database_url=f"sqlite:///{home / 'veilig.db'}")
make = {
    "start": lambda: factory.make_starter_app(settings),
    "open": lambda: factory.make_recipient_app(settings),
    "desk": lambda: factory.make_desk_app(settings),
}[which]
app = make()
app.warm_up = None  # what the first frame needs, without what comes after it


async def first_question() -> list[str]:
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        return sorted(sys.modules)


print(json.dumps(asyncio.run(first_question())))
"""


@pytest.mark.parametrize("which", ["start", "open", "desk"])
def test_the_first_question_imports_no_database_and_no_inbox(home: Path, which: str) -> None:
    """Guards the lazy imports: a module-level import of any of these in a screen or in
    the core services the first screen uses makes every start-up wait for it."""
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_QUESTION, which, str(home)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    ).stdout
    loaded = set(json.loads(out.strip().splitlines()[-1]))
    assert "tui.app" in loaded and "textual.widgets._input" in loaded  # the probe ran
    forbidden = NOT_BEFORE_THE_FIRST_QUESTION
    if which == "desk":
        forbidden += NOT_BEFORE_THE_LOG_IN_FORM
    early = [
        m for m in sorted(loaded) if any(m == bad or m.startswith(bad + ".") for bad in forbidden)
    ]
    assert early == []
