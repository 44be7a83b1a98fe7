"""Start-up: the first question is on screen before the database proper is opened."""

from __future__ import annotations

import asyncio
from pathlib import Path

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
