"""The dialogs in a browser session (``veilig serve web``), under Pilot, without a browser.

A browser session's file area is of the BROWSER kind: uploads arrive as FileUploaded
and are attached at the attachments step; saved attachments go to the browser
(App.deliver_binary) without a question about the folder. The reading and writing
flows are shared (tui/reading.py, tui/writing.py), so the desk's conversation does
the same as ``/open``; tests/test_web_browser.py drives the guest's dialogs in
Chromium.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyotp
import pytest

from core.clock import FrozenClock
from core.dialog import ReadStep, WriteStep
from core.policy import Policy
from core.sealing import Draft
from core.starter import Starter, VerifiedGuest
from core.transfer import BROWSER, TransferArea
from tests.conftest import make_settings, said
from tests.test_flows23_tui import log_in
from tests.tui_helpers import screen_text, wait_for_workers, wait_until
from tui.desk.conversation import ConversationScreen
from tui.factory import make_context, make_desk_app
from tui.web.events import FileUploaded


async def test_the_desk_in_a_browser_saves_to_downloads_and_attaches_uploads(
    home: Path,
    policy: Policy,
    totp: pyotp.TOTP,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FrozenClock()
    settings = make_settings(home)
    letter = tmp_path / "verwijzing.pdf"
    letter.write_bytes(b"%PDF-1.7 a referral")
    ctx = make_context(settings, policy=policy, clock=clock)
    guest = VerifiedGuest("Karin Janssen", "karin@example.nl")
    Starter(ctx).send(guest, Draft("Verwijzing", "Zie bijlage.", (ctx.attachment(letter),)))
    clock.advance(minutes=1)

    area = TransferArea(root=tmp_path / "area", login="", port=0, kind=BROWSER)
    area.upload.mkdir(parents=True)
    area.download.mkdir()
    browser = replace(settings, transfer=area)
    app = make_desk_app(browser, ctx=make_context(browser, policy=policy, clock=clock))
    delivered: list[Path] = []
    monkeypatch.setattr(app, "deliver_binary", lambda path, **_kw: delivered.append(path))
    async with app.run_test(size=(120, 40)) as pilot:
        await log_in(pilot, totp, clock)
        await pilot.press("enter")
        await wait_for_workers(pilot)
        screen = app.screen
        assert isinstance(screen, ConversationScreen)

        # Save attachments: no folder asked; the browser gets the file.
        await pilot.press("ctrl+d")
        await wait_for_workers(pilot)
        assert screen.step is ReadStep.READ
        assert delivered == [area.download / "verwijzing.pdf"]
        assert delivered[0].read_bytes() == letter.read_bytes()
        shown = screen_text(app)
        assert said("Your browser saves them in its downloads folder.") in shown
        assert str(area.root) not in shown  # the browser's folder is the browser's

        # A reply: a file uploaded before the attachments step waits; at it, it attaches.
        await pilot.press("ctrl+e")
        (area.upload / "antwoord.pdf").write_bytes(b"%PDF-1.7 an answer")
        app.post_message(FileUploaded("antwoord.pdf"))
        await pilot.pause()
        assert screen.step is WriteStep.BODY and not screen.files.files
        screen.body.insert("Dank u.")
        await pilot.press("ctrl+s")
        hint = said(
            "To attach a file from this computer or phone, use Add a file at the top "
            "of the page (or drop the file onto the page). It is attached here at once."
        )
        assert hint in screen_text(app)  # the browser's way, not scp
        app.post_message(FileUploaded("antwoord.pdf"))
        await wait_until(pilot, lambda: bool(screen.files.files), "the upload attached")
        assert [f.name for f in screen.files.files] == ["antwoord.pdf"]
