"""The evidence on screen (issue 18): the guest sees their receipt code, staff write a
signed proof from *Sent* (Ctrl+P) and keep a conversation from the purge (Ctrl+K), and
closing the desk is a log-out in the audit log."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pyotp
import pytest

from core.audit import Action
from core.clock import FrozenClock
from core.contact import Contact
from core.desk import Desk
from core.i18n import _
from core.models import Method
from core.policy import Policy
from core.receipt import commitment
from core.sealing import Draft
from core.signing import SigningKey
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD, SmtpServer, body_of, make_settings, said
from tests.evidence_helpers import receipt_values
from tests.test_flow1_tui import GUEST, walk_flow_one
from tests.test_flows23_tui import log_in
from tests.tui_helpers import paste, screen_text, wait_for_workers, wait_until
from tui.desk.conversation import ConversationScreen
from tui.desk.sent import SentScreen
from tui.factory import make_context, make_desk_app, make_starter_app


async def test_the_guest_sees_the_receipt_code_that_checks_the_confirmation(
    tmp_path: Path, home: Path, policy: Policy, smtp_server: SmtpServer
) -> None:
    letter = tmp_path / "brief.pdf"
    letter.write_bytes(b"%PDF brief " + bytes(range(256)) * 100)
    settings = make_settings(home, smtp_server.url)
    app = make_starter_app(settings, ctx=make_context(settings, policy=policy))
    async with app.run_test(size=(110, 40)) as pilot:
        await walk_flow_one(pilot, smtp_server, [letter])
        text = " ".join(screen_text(app).split())
        arrived = _("Your secure message to {org} arrived").format(org="DeclaCare")
        mail = await asyncio.to_thread(smtp_server.bag.next_to, GUEST, arrived)
    assert said("Your receipt code: {code}", code="") in text
    match = re.search(r"([A-Z2-7]{4}(?:-[A-Z2-7]{4}){7})", text)
    assert match, text
    code = match.group(1)
    values = receipt_values(body_of(mail).replace("\r\n", "\n"))
    assert values["attachment 1"] == commitment(code, letter.read_bytes())
    assert code not in body_of(mail)


@pytest.fixture
def sent_one(home: Path, policy: Policy, smtp_server: SmtpServer, sms_gateway) -> tuple:
    clock = FrozenClock()
    settings = make_settings(home, smtp_server.url, sms_gateway.url)
    ctx = make_context(settings, policy=policy, clock=clock)
    return settings, ctx, clock


async def test_staff_write_a_proof_from_sent_and_keep_a_conversation_from_the_purge(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sent_one: tuple,
    totp: pyotp.TOTP,
) -> None:
    settings, ctx, clock = sent_one
    desk = Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
    message = desk.send_new(
        Contact("praktijk@fysio-jansen.nl", "06 12345127", "Fysio Jansen"),
        Method.SMS,
        Draft("Uitslag", "Zie de uitslag."),
    )
    clock.advance(seconds=30)  # the next log-in: the next TOTP step
    monkeypatch.chdir(tmp_path)  # the desk was started here: proofs are written here
    reason = "klacht van 3 maart"
    app = make_desk_app(settings, ctx=ctx)
    async with app.run_test(size=(120, 45)) as pilot:
        await log_in(pilot, totp, clock)
        await pilot.press("ctrl+t")
        await wait_for_workers(pilot)
        assert isinstance(app.screen, SentScreen)
        await pilot.press("ctrl+p")
        await wait_for_workers(pilot)
        await wait_until(pilot, lambda: list(tmp_path.glob("proof-*.json")), "the proof")
        await pilot.press("escape")

        # Keep the conversation from the purge, with a reason; then release it.
        await pilot.press("enter")
        await wait_for_workers(pilot)
        assert isinstance(app.screen, ConversationScreen)
        await pilot.press("ctrl+k")
        await pilot.pause()
        await paste(pilot, reason)
        await pilot.press("enter")
        await wait_for_workers(pilot)
        await wait_until(pilot, lambda: desk.hold_of(message.conversation_id), "the hold")
        await wait_until(
            pilot,
            lambda: (
                said(
                    "Kept from the purge since {when} by {who}: {reason}",
                    when="",
                    who="",
                    reason="",
                )
                in screen_text(app)
            ),
            "the hold said",
        )
        assert reason in " ".join(screen_text(app).split())
        await pilot.press("ctrl+k")
        await pilot.pause()
        await pilot.press("y")
        await wait_for_workers(pilot)
        await wait_until(pilot, lambda: desk.hold_of(message.conversation_id) is None, "released")

        # The purge takes it while the desk is open on it: keeping it now says so,
        # rather than that a message is damaged.
        with ctx.repo.transaction() as tx:
            tx.delete_conversation(message.conversation_id)
        await pilot.press("ctrl+k")
        await pilot.pause()
        await paste(pilot, "te laat")
        await pilot.press("enter")
        await wait_for_workers(pilot)
        gone = said("This conversation is no longer here: it was deleted at the end of its "
                    "retention period. Press Esc for the inbox.")  # fmt: skip
        await wait_until(pilot, lambda: gone in " ".join(screen_text(app).split()), "gone")
        assert "damaged" not in screen_text(app)

    [proof] = tmp_path.glob("proof-*.json")
    public = SigningKey.of(ctx.secret).public_key()
    assert public.verify(proof.with_name(proof.name + ".sig").read_bytes(), proof.read_bytes())
    assert message.id in proof.read_text()
    with ctx.repo.transaction() as tx:
        actions = [e.action for e in tx.audit_entries()]
    # The desk closed at the end of the test: its session ended in the log.
    assert actions[-1] == Action.STAFF_LOGOUT
    for done in (Action.PROOF_ISSUED, Action.HOLD_PLACED, Action.HOLD_LIFTED):
        assert done in actions
