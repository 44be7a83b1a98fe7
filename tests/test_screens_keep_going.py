"""Every view fed by a worker keeps going: a damaged message among others, or a worker
that fails, leaves the rest on screen with a clear word, never an empty screen.

One damaged message is set apart where it would show (the desk's *Sent*, the
recipient's conversation); a worker that raises anything at all is said by the one
screen base (tui/base.py), in the view that ran it.
"""

from __future__ import annotations

import json
import mailbox
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from core.clock import FrozenClock
from core.contact import Contact
from core.context import Context
from core.desk import Desk
from core.dialog import WriteStep
from core.errors import CannotOpen, StorageFailed
from core.i18n import _
from core.models import Message, Method
from core.policy import Policy
from core.recipient import Recipient
from core.sealing import Draft
from core.starter import Starter, VerifiedGuest
from tests.abuse.test_ciphertext import blob_path
from tests.conftest import (
    SmtpServer,
    body_of,
    maildir_of,
    make_settings,
    reference_in,
    said,
    sms_code,
    staff_desk,
)
from tests.test_flows23_tui import fill, log_in
from tests.tui_helpers import paste, screen_text, type_text, wait_for_workers, wait_until
from tui.base import BaseScreen
from tui.desk.conversation import ConversationScreen
from tui.factory import (
    make_context,
    make_desk_app,
    make_guest_app,
    make_recipient_app,
    make_starter_app,
)
from tui.file_picker import FilePicker
from tui.guest import GuestChoiceScreen
from tui.starter import StarterScreen

WENT_WRONG = "Something went wrong on our side."
SECRET = "the-secret-483920"  # in the failing call's message: it must not reach the screen
DAMAGED = "This message cannot be opened: it was changed or damaged."
PRACTITIONERS = ["een@fysio.nl", "twee@fysio.nl", "drie@fysio.nl"]


@pytest.fixture
def ctx(home: Path, policy: Policy, clock: FrozenClock) -> Context:
    return make_context(make_settings(home), policy=policy, clock=clock)


def send_three(ctx: Context, totp: pyotp.TOTP, clock: FrozenClock) -> tuple[Desk, list[Message]]:
    """Three secure messages from the desk, one per practitioner."""
    desk = staff_desk(ctx, totp)
    sent = []
    for n, email in enumerate(PRACTITIONERS, 1):
        contact = Contact(email=email, phone=f"06 1234512{n}", name=f"Praktijk {n}")
        sent.append(desk.send_new(contact, Method.SMS, Draft(f"Uitslag {n}", "Zie bijlage.")))
        clock.advance(minutes=1)
    clock.advance(seconds=30)  # a new TOTP step for the log-in on screen
    return desk, sent


def delete_meta(home: Path, message_id: str) -> None:
    """Damage a stored message as a failing disk would: its meta blob is gone."""
    with sqlite3.connect(home / "veilig.db") as db:
        [(blob_id,)] = db.execute(
            "SELECT blob_id FROM message_item WHERE message_id = ? AND role = 'meta'",
            (message_id,),
        ).fetchall()
    blob_path(home, blob_id).unlink()


def fail(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError(f"a bug nobody foresaw, quoting {SECRET}")


# --- a damaged message among others -------------------------------------------------------


async def test_a_damaged_message_in_sent_leaves_the_other_rows_and_says_so(
    ctx: Context, home: Path, totp: pyotp.TOTP, clock: FrozenClock
) -> None:
    _desk, sent = send_three(ctx, totp, clock)
    delete_meta(home, sent[1].id)
    app = make_desk_app(make_settings(home), ctx=ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await log_in(pilot, totp, clock)
        await pilot.press("ctrl+t")
        await wait_for_workers(pilot)
        shown = screen_text(app)
        table = app.screen.query_one("#sent", DataTable)
    assert table.row_count == 3
    assert "Uitslag 1" in shown and "Uitslag 3" in shown and "Uitslag 2" not in shown
    [row] = [line for line in shown.splitlines() if PRACTITIONERS[1] in line]
    assert _("(cannot be opened)") in row
    assert WENT_WRONG not in shown and "Traceback" not in shown


def test_sent_sets_a_damaged_message_apart(
    ctx: Context, home: Path, totp: pyotp.TOTP, clock: FrozenClock
) -> None:
    desk, sent = send_three(ctx, totp, clock)
    delete_meta(home, sent[0].id)
    rows = {row.contact.email: row for row in desk.sent()}
    assert rows[PRACTITIONERS[0]].damaged and rows[PRACTITIONERS[0]].subject == ""
    assert not rows[PRACTITIONERS[1]].damaged and rows[PRACTITIONERS[1]].subject == "Uitslag 2"


@pytest.fixture
async def first_of_two_damaged(
    ctx: Context, home: Path, totp: pyotp.TOTP, clock: FrozenClock
) -> Message:
    """A practitioner's conversation of two messages, the first damaged; it is returned."""
    desk, sent = send_three(ctx, totp, clock)
    desk.reply(sent[0].conversation_id, Draft("Aanvulling", "Nog een tweede brief."))
    delete_meta(home, sent[0].id)
    await ctx.outbox.deliver_due()  # the notification, with its reference
    return sent[0]


async def test_a_recipient_reads_the_other_messages_when_one_is_damaged(
    ctx: Context, home: Path, first_of_two_damaged: Message
) -> None:
    app = make_recipient_app(make_settings(home), ctx=ctx, reference=reference_for(home))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_workers(pilot)
        await pilot.press("enter")  # get the code
        await wait_for_workers(pilot)
        await ctx.outbox.deliver_due()
        await type_text(pilot, newest_sms_code(home))
        await pilot.press("enter")
        await wait_for_workers(pilot)
        shown = screen_text(app).replace("\n", " ")
    assert "Nog een tweede brief." in shown and "Zie bijlage." not in shown
    assert DAMAGED[:40] in shown and WENT_WRONG not in shown


async def test_the_recipient_core_sets_a_damaged_message_apart(
    ctx: Context, home: Path, first_of_two_damaged: Message
) -> None:
    recipient = Recipient(ctx)
    code = recipient.request_code(recipient.lookup(reference_for(home)))
    await ctx.outbox.deliver_due()
    thread = recipient.verify(code, newest_sms_code(home))
    read = recipient.read(thread)
    assert [opened.body for opened, _key in read.opened] == ["Nog een tweede brief."]
    assert [m.id for m in read.damaged] == [first_of_two_damaged.id]
    with pytest.raises(CannotOpen):  # all or nothing, as before
        recipient.messages(thread)


def reference_for(home: Path, address: str = PRACTITIONERS[0]) -> str:
    """A reference from a notification e-mail to ``address``, from the Maildir."""
    box = mailbox.Maildir(maildir_of(home), create=False)
    return next(reference_in(m) for m in box if m["To"] == address and "veilig open" in body_of(m))


def newest_sms_code(home: Path) -> str:
    """The code in the newest SMS (the SMS file of a home without a gateway)."""
    return sms_code(json.loads((home / "sms.log").read_text("utf-8").splitlines()[-1]))


# --- a worker that fails: said in the view that ran it, the rest kept ------------------------


def guests_wrote(ctx: Context, clock: FrozenClock, count: int = 3) -> None:
    for n in range(count):
        guest = VerifiedGuest(f"Guest {n}", f"guest{n}@example.nl")
        Starter(ctx).send(guest, Draft(f"Vraag {n}", "Graag contact."))
        clock.advance(minutes=1)


@dataclass
class AtTheDesk:
    """What a desk view's set-up needs."""

    pilot: Pilot
    ctx: Context
    totp: pyotp.TOTP
    clock: FrozenClock
    monkeypatch: pytest.MonkeyPatch

    async def log_in(self) -> None:
        await log_in(self.pilot, self.totp, self.clock)

    def fail(self, name: str) -> None:
        """From now on ``Desk.<name>`` raises what nobody foresaw."""
        self.monkeypatch.setattr(Desk, name, fail)

    async def press(self, *keys: str) -> None:
        await self.pilot.press(*keys)
        await wait_for_workers(self.pilot)


async def login_fails(at: AtTheDesk) -> None:
    at.fail("login")
    await paste(at.pilot, "desk@declacare.nl")
    await at.pilot.press("enter")
    await paste(at.pilot, "a password")
    await at.pilot.press("enter")
    await type_text(at.pilot, at.totp.at(at.clock.now))
    await at.press("enter")
    assert at.pilot.app.screen.query_one("#totp", Input).value == ""  # ready to try again


async def inbox_refresh_fails(at: AtTheDesk) -> None:
    guests_wrote(at.ctx, at.clock)
    await at.log_in()
    at.fail("inbox")
    await at.press("f5")
    assert at.pilot.app.screen.query_one("#inbox", DataTable).row_count == 3  # kept
    assert "Guest 2" in screen_text(at.pilot.app)


async def sent_fails(at: AtTheDesk) -> None:
    await at.log_in()
    at.fail("sent")
    await at.press("ctrl+t")


async def sent_refresh_fails(at: AtTheDesk) -> None:
    send_three(at.ctx, at.totp, at.clock)
    await at.log_in()
    await at.press("ctrl+t")
    at.fail("sent")
    await at.press("f5")
    assert at.pilot.app.screen.query_one("#sent", DataTable).row_count == 3  # kept
    assert "Uitslag 2" in screen_text(at.pilot.app)


async def conversation_fails(at: AtTheDesk) -> None:
    guests_wrote(at.ctx, at.clock, 1)
    await at.log_in()
    at.fail("thread")
    await at.press("enter")


async def compose_fails(at: AtTheDesk) -> None:
    await at.log_in()
    at.fail("send_new")
    await at.pilot.press("ctrl+n")
    await fill(at.pilot, "to", "praktijk@fysio.nl")
    await fill(at.pilot, "subject", "Uitslag")
    await at.press("ctrl+s")
    assert at.pilot.app.screen.query_one("#subject", Input).value == "Uitslag"  # kept


async def notice_shown(pilot: Pilot) -> None:
    """Wait for the notice to be drawn."""
    await wait_until(pilot, lambda: WENT_WRONG in screen_text(pilot.app), "the notice")


DESK_VIEWS = {
    "log-in": login_fails,
    "inbox": inbox_refresh_fails,
    "sent": sent_fails,
    "sent-refresh": sent_refresh_fails,
    "conversation": conversation_fails,
    "compose": compose_fails,
}


@pytest.mark.parametrize("view", DESK_VIEWS)
async def test_a_failing_worker_in_a_desk_view_is_said_and_the_rest_kept(
    view: str,
    ctx: Context,
    home: Path,
    totp: pyotp.TOTP,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_desk_app(make_settings(home), ctx=ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await DESK_VIEWS[view](AtTheDesk(pilot, ctx, totp, clock, monkeypatch))
        await notice_shown(pilot)
        shown = screen_text(app).replace("\n", " ")
    assert SECRET not in shown and "Traceback" not in shown and SECRET not in caplog.text
    assert "unexpected RuntimeError in" in caplog.text


async def test_a_failing_worker_in_the_recipient_and_the_starter_is_said(
    ctx: Context, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Recipient, "lookup", fail)
    app = make_recipient_app(make_settings(home), ctx=ctx, reference="AAAA-BBBB")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_workers(pilot)
        await notice_shown(pilot)
        shown = screen_text(app)
    assert SECRET not in shown

    monkeypatch.setattr(Starter, "request_code", fail)
    app = make_starter_app(make_settings(home), ctx=ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await paste(pilot, "Karin")
        await pilot.press("enter")
        await paste(pilot, "karin@example.nl")
        await pilot.press("enter")
        await wait_for_workers(pilot)
        await notice_shown(pilot)
        shown = screen_text(app)
        assert pilot.app.screen.query_one("#line", Input).value == "karin@example.nl"
    assert SECRET not in shown


async def test_the_file_picker_says_when_its_folder_cannot_be_read(tmp_path: Path) -> None:
    """The tree shows a folder it cannot read as empty (and a missing one as a file it
    chose at once, twice: that crashed the app); the picker says so and stays."""
    gone = tmp_path / "upload"  # e.g. a session's upload folder, removed underneath
    chosen: list[Path | None] = []

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(FilePicker(gone, confined=True), chosen.append)

    app = Host()
    async with app.run_test(size=(100, 30)) as pilot:
        wanted = _("{path} cannot be read.").format(path=gone)
        await wait_until(pilot, lambda: wanted in screen_text(app), "the notice")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FilePicker) and chosen == []
        await pilot.press("escape")
    assert chosen == [None]


# --- the desk's reply is the shared writing flow ----------------------------------------------


async def test_a_failed_desk_reply_is_back_at_confirm_with_the_draft(
    ctx: Context,
    home: Path,
    totp: pyotp.TOTP,
    clock: FrozenClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The desk's reply is the shared writing flow: the file picker is there, and a
    refusal brings it back to the send button with the draft as it was."""

    def disk_full(*_args: object, **_kwargs: object) -> None:
        raise StorageFailed("The disk is full: nothing was sent.")

    guests_wrote(ctx, clock, 1)
    letter = tmp_path / "brief.pdf"
    letter.write_bytes(b"%PDF-1.7 a letter")
    monkeypatch.setattr(Desk, "reply", disk_full)
    app = make_desk_app(make_settings(home), ctx=ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await log_in(pilot, totp, clock)
        await pilot.press("enter")
        await wait_for_workers(pilot)
        screen = app.screen
        assert isinstance(screen, ConversationScreen)
        await pilot.press("ctrl+e")
        screen.body.insert("Dank voor uw vraag.")
        await pilot.press("ctrl+s")
        assert "Ctrl+O" in screen_text(app)  # the file picker, as in the other dialogs
        await paste(pilot, str(letter))
        await pilot.press("enter", "enter")  # attached; done
        assert said("Ready to send to {org}:", org="Guest 0") in screen_text(app)
        await pilot.press("enter")  # send
        await wait_for_workers(pilot)
        assert "The disk is full: nothing was sent." in screen_text(app)
        assert screen.step is WriteStep.CONFIRM
        assert screen.body.text == "Dank voor uw vraag."
        assert [f.name for f in screen.files.files] == ["brief.pdf"]


# --- messages up: screens ask the app, they do not call into it --------------------------------


async def test_screens_post_their_wishes_up_to_the_app(
    ctx: Context, home: Path, smtp_server: SmtpServer
) -> None:
    """The guest's choice and "deliver the outbox now" are messages the app handles."""
    seen: list[object] = []
    settings = make_settings(home, smtp_server.url)
    app = make_guest_app(settings, ctx=make_context(settings, policy=ctx.policy))
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await pilot.press("1")
        await pilot.pause()
        assert isinstance(app.screen, StarterScreen) and app.first_screen is app.screen
        await paste(pilot, "Karin")
        await pilot.press("enter")
        await type_text(pilot, "karin@example.nl")
        await pilot.press("enter")
        await wait_for_workers(pilot)
    kinds = [type(m) for m in seen]
    assert GuestChoiceScreen.Chosen in kinds and BaseScreen.OutboxDue in kinds
