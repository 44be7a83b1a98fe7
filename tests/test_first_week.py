"""What a care office's first week stumbled on (issue #20), each as the person meets it:
the real screens under Pilot, the real database, mail through the Maildir or aiosmtpd.

Items 1 and 2 (pasting) are tests/test_paste.py and tests/test_paste_terminal.py; the
reference's check characters (item 4) are tested in tests/test_references.py."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest

from core.clock import FrozenClock
from core.contact import Contact
from core.context import Context
from core.dialog import ReadStep
from core.i18n import _
from core.models import Method
from core.policy import Policy
from core.sealing import Draft
from tests.conftest import SmtpServer, make_settings, staff_desk
from tests.test_flows23_tui import log_in
from tests.test_screens_keep_going import newest_sms_code, open_as_recipient, reference_for
from tests.test_starter_screen import to_body
from tests.tui_helpers import flat, paste, screen_text, type_text, wait_for_workers, wait_until
from tui.confirm import ConfirmScreen
from tui.factory import make_context, make_desk_app, make_recipient_app, make_starter_app

PRACTITIONER = "praktijk@fysio.nl"


@pytest.fixture
def ctx(home: Path, policy: Policy, clock: FrozenClock) -> Context:
    return make_context(make_settings(home), policy=policy, clock=clock)


async def sent_to_practitioner(ctx: Context, totp: pyotp.TOTP, subject: str = "Uitslag"):
    desk = staff_desk(ctx, totp)
    contact = Contact(email=PRACTITIONER, phone="06 12345127", name="Fysio Jansen")
    message = desk.send_new(contact, Method.SMS, Draft(subject, "Zie de uitslag."))
    await ctx.outbox.deliver_due()
    return desk, message


# --- item 3: Ctrl+Q asks before a draft is lost; Ctrl+C says so in the person's words ---


async def test_ctrl_q_in_the_starter_asks_before_a_half_written_message_is_lost(
    home: Path, policy: Policy, smtp_server: SmtpServer
) -> None:
    settings = make_settings(home, smtp_server.url)
    app = make_starter_app(settings, ctx=make_context(settings, policy=policy))
    async with app.run_test(size=(110, 40)) as pilot:
        await to_body(pilot, smtp_server)
        app.screen.query_one("#body").insert("Een half bericht")
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmScreen) and app.return_code is None
        await pilot.press("escape")  # no: back to writing, nothing lost
        assert app.screen.query_one("#body").text == "Een half bericht"
        await pilot.press("ctrl+q", "y")
        assert app.return_code == 0


async def test_ctrl_q_in_open_asks_before_a_reply_is_lost_and_quits_at_once_without(
    ctx: Context, home: Path, totp: pyotp.TOTP
) -> None:
    await sent_to_practitioner(ctx, totp)
    reference = reference_for(home, PRACTITIONER)
    app = make_recipient_app(make_settings(home), ctx=ctx, reference=reference)
    async with app.run_test(size=(110, 40)) as pilot:
        await open_as_recipient(pilot, ctx, home)
        await pilot.press("ctrl+e")
        app.screen.query_one("#body").insert("Dank u, ik")
        await pilot.press("escape")  # back to reading: the reply is kept, and still unsent
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("ctrl+q")  # twice: quit
        assert app.return_code == 0
    quiet = make_recipient_app(make_settings(home), ctx=ctx, reference=reference)
    async with quiet.run_test(size=(110, 40)) as pilot:
        await wait_for_workers(pilot)
        await pilot.press("ctrl+q")  # nothing written: no question
        assert quiet.return_code == 0


@pytest.mark.parametrize("language", ["nl"], indirect=True)
async def test_ctrl_c_says_how_to_quit_in_dutch(home: Path, policy: Policy, language: str) -> None:
    settings = make_settings(home)
    app = make_starter_app(settings, ctx=make_context(settings, policy=policy))
    async with app.run_test(size=(110, 40), notifications=True) as pilot:
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: "Ctrl+Q" in flat(app), "the notice")
        shown = flat(app)
    assert "Druk op Ctrl+Q om af te sluiten." in shown and "to quit" not in shown
    assert _("Do you want to quit?") in shown


# --- item 5: a revoked conversation says so before a reply is written -----------------


async def test_a_revoked_conversation_says_so_before_a_reply_is_written(
    ctx: Context, home: Path, totp: pyotp.TOTP, clock: FrozenClock
) -> None:
    desk, _message = await sent_to_practitioner(ctx, totp)
    [row] = desk.sent()
    desk.revoke(row.participant.id)
    clock.advance(seconds=30)
    app = make_desk_app(make_settings(home), ctx=ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await log_in(pilot, totp, clock)
        await pilot.press("enter")  # open the conversation
        await wait_for_workers(pilot)
        shown = flat(app)
        assert "Access to this conversation was revoked." in shown
        assert "Ctrl+E" not in shown  # neither offered in the hint nor in the footer
        await pilot.press("ctrl+e")
        assert app.screen.step is ReadStep.READ  # nothing to write that would be refused
        assert not app.screen.query("#body") or not app.screen.query_one("#body").display


# --- item 6: the confirmation is said to follow, not to have been sent ------------------


async def test_the_guest_is_told_the_confirmation_will_follow_while_smtp_is_down(
    home: Path, policy: Policy, smtp_server: SmtpServer
) -> None:
    settings = make_settings(home, smtp_server.url)
    app = make_starter_app(settings, ctx=make_context(settings, policy=policy))
    async with app.run_test(size=(110, 40)) as pilot:
        await to_body(pilot, smtp_server, "Uitslag")
        smtp_server.stop()  # nothing can be mailed now
        app.screen.query_one("#body").insert("De uitslag volgt.")
        await pilot.press("ctrl+s", "enter", "enter")
        await wait_for_workers(pilot)
        shown = flat(app)
    assert "A confirmation will follow by e-mail" in shown
    assert "We sent a confirmation" not in shown


# --- item 7: the admin's command line ----------------------------------------------------


def test_veilig_version_and_a_commands_help_say_what_it_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tui import cli

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == "veilig 0.1.0"
    for command, about, argument in (
        ("outbox", "Deliver queued e-mail and SMS now.", None),
        ("open", "Open a secure message you received (recipients).", "reference"),
        ("audit", "The audit log: verify, show, export.", "verify"),
    ):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        text = capsys.readouterr().out
        assert about in text and "commands:" not in text, text
        if argument:
            assert argument in text.split("arguments:")[1].split("options:")[0]


@pytest.mark.every_migration  # what it checks is the log of the migrations themselves
def test_the_log_holds_no_alembic_chatter(tmp_path: Path, policy: Policy) -> None:
    import logging

    from tests.conftest import MAILBOX, STAFF_EMAIL, STAFF_PASSWORD
    from tui.factory import init_home, log_to_file

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    settings = make_settings(tmp_path / "home")
    try:
        log_to_file(settings)
        init_home(  # a new home: every migration runs
            settings,
            org_name="DeclaCare",
            mailbox=MAILBOX,
            staff_email=STAFF_EMAIL,
            password=STAFF_PASSWORD,
            policy=policy,
        )
        make_context(settings, policy=policy)  # and each start checks the schema again
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], root.level = handlers, level
    log = (settings.home / "veilig.log").read_text("utf-8")
    assert "alembic" not in log, log


def test_outbox_watch_prints_a_line_only_when_something_changes(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from tui import cli

    rounds = []

    async def next_round(_seconds: float) -> None:  # instead of waiting 5 s: the next round
        rounds.append(1)
        if len(rounds) == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(asyncio, "sleep", next_round)
    monkeypatch.setenv("VEILIG_HOME", str(home))
    assert cli.main(["outbox", "--watch"]) == 130  # Ctrl+C
    printed = capsys.readouterr().out.splitlines()
    assert printed[1:] == ["Sent: 0, failed: 0, waiting: 0"], printed  # once, not 4 times


def test_a_log_in_refused_by_the_pause_is_audited(ctx: Context, totp: pyotp.TOTP) -> None:
    from core.desk import Desk
    from core.errors import LoginFailed, RateLimited
    from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD

    for _try in range(ctx.policy.login_failures_allowed):
        with pytest.raises(LoginFailed):
            Desk.login(ctx, STAFF_EMAIL, "wrong password 12345", "000000")
    with ctx.repo.transaction() as tx:
        before = sum(1 for _entry in tx.audit_entries())
    with pytest.raises(RateLimited):
        Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(ctx.clock()))
    with ctx.repo.transaction() as tx:
        entries = list(tx.audit_entries())
        problems = ctx.audit.verify(tx)
    assert len(entries) == before + 1 and not problems
    assert (entries[-1].actor, entries[-1].action) == (f"staff:{STAFF_EMAIL}", "login.failed")


# --- item 8: the e-mails ------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "nl"], indirect=True)
def test_the_notification_says_until_when_how_to_check_it_and_wraps_nowhere(
    language: str,
) -> None:
    from datetime import UTC, datetime

    from core.i18n import speaking
    from core.mail import WaysIn, notification_email
    from core.transports import to_mime

    until = datetime(2026, 12, 14, 12, 0, tzinfo=UTC)
    with speaking(language):
        mail = notification_email(
            org="DeclaCare",
            sender="info@declacare.nl",
            to="praktijk@fysio.nl",
            name="",
            reference="ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567-DCDN",
            ways_in=WaysIn(web="https://veilig.declacare.nl"),
            available_until=until,
        )
    mime = to_mime(mail)
    assert mime["From"] == "DeclaCare <info@declacare.nl>"
    body = mail.body
    greeting, until_text, check = {
        "en": ("Hello,", "until 14 Dec 2026", "Is this e-mail really from DeclaCare?"),
        "nl": ("Goedendag,", "tot 14-12-2026", "Komt deze e-mail echt van DeclaCare?"),
    }[language]
    assert body.startswith(greeting + "\n") and until_text in body and check in body
    assert "recipient" not in body and "ontvanger" not in body
    # A mail program wraps each paragraph to its width: none is broken in mid-sentence.
    for paragraph in body.split("\n\n"):
        assert len(paragraph.splitlines()) == 1 or paragraph.startswith("    "), paragraph


@pytest.mark.parametrize("language", ["nl"], indirect=True)
def test_the_code_mail_greets_without_a_bare_beste(language: str) -> None:
    from core.mail import verification_email

    mail = verification_email(
        org="DeclaCare", sender="info@declacare.nl", to="k@example.nl", code="123456", minutes=10
    )
    assert mail.body.startswith("Goedendag,\n") and "Beste," not in mail.body
    assert mail.sender_name == "DeclaCare"


def test_the_offices_own_notice_keeps_the_offices_language_after_a_dutch_guest() -> None:
    from core.i18n import speaking
    from core.mail import new_message_notice, reply_notice

    for notice in (new_message_notice, reply_notice):
        with speaking("nl"):  # the guest's or recipient's language, in their process
            english_office = notice(org="Example Care", mailbox="info@example.com")
            dutch_office = notice(org="DeclaCare", mailbox="info@declacare.nl")
        assert english_office.subject.startswith("New secure")
        assert dutch_office.subject.startswith("Nieuw beveiligd")


# --- item 9: the screens --------------------------------------------------------------


async def test_an_old_error_is_gone_once_the_step_is_passed(
    home: Path, policy: Policy, smtp_server: SmtpServer
) -> None:
    import asyncio

    from tests.conftest import code_in
    from tests.tui_helpers import ask_for_code

    settings = make_settings(home, smtp_server.url)
    app = make_starter_app(settings, ctx=make_context(settings, policy=policy))
    async with app.run_test(size=(110, 40)) as pilot:
        await ask_for_code(pilot, "karin@example.nl")
        code = code_in(await asyncio.to_thread(smtp_server.bag.next_to, "karin@example.nl"))
        wrong = "000000" if code != "000000" else "111111"
        for typed in (wrong, wrong):
            app.screen.query_one("#line").value = ""
            await type_text(pilot, typed)
            await pilot.press("enter")
            await wait_for_workers(pilot)
        assert len(app.screen.query(".bubble.error")) == 1  # the newest only
        app.screen.query_one("#line").value = ""
        await type_text(pilot, code)
        await pilot.press("enter")
        await wait_for_workers(pilot)
        assert not app.screen.query(".bubble.error")
        assert "That code is not right" not in flat(app)


async def test_the_desk_asks_where_to_save_and_offers_to_make_the_folder(
    ctx: Context, home: Path, totp: pyotp.TOTP, clock: FrozenClock, tmp_path: Path
) -> None:
    from core.attachments import Attachment

    letter = tmp_path / "brief.pdf"
    letter.write_bytes(b"%PDF brief")
    desk = staff_desk(ctx, totp)
    contact = Contact(email=PRACTITIONER, phone="06 12345127", name="Fysio Jansen")
    attachment = Attachment.from_path(letter, ctx.policy)
    desk.send_new(contact, Method.SMS, Draft("Uitslag", "Zie bijlage.", (attachment,)))
    attachment.close()
    clock.advance(seconds=30)
    folder = tmp_path / "nieuw" / "map"
    app = make_desk_app(make_settings(home), ctx=ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await log_in(pilot, totp, clock)
        await pilot.press("enter")
        await wait_for_workers(pilot)
        await pilot.press("ctrl+d")
        assert "In which folder do you want to save the attachments?" in flat(app)
        app.screen.query_one("#line").value = ""
        await paste(pilot, str(folder))
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for_workers(pilot)
    assert (folder / "brief.pdf").read_bytes() == b"%PDF brief"


async def test_one_date_format_per_language_and_the_inbox_shows_subjects(
    ctx: Context, home: Path, totp: pyotp.TOTP, clock: FrozenClock
) -> None:
    import re

    from core.starter import Starter, VerifiedGuest

    await sent_to_practitioner(ctx, totp, subject="Verwijzing 4471")
    Starter(ctx).send(VerifiedGuest("Karin", "karin@example.nl"), Draft("Vraag over factuur", "?"))
    clock.advance(seconds=30)
    app = make_desk_app(make_settings(home), ctx=ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await log_in(pilot, totp, clock)
        inbox = screen_text(app)
        await pilot.press("ctrl+t")
        await wait_for_workers(pilot)
        sent = screen_text(app)
    assert "Subject" in inbox and "Verwijzing 4471" in inbox and "Vraag over factuur" in inbox
    dates = r"\d{1,2} [A-Z][a-z]{2}( \d{4})? \d\d:\d\d"
    assert re.search(dates, inbox) and re.search(dates, sent), (inbox, sent)
    assert not re.search(r"\d{4}-\d\d-\d\d|\d\d-\d\d \d\d:\d\d", inbox + sent), (inbox, sent)


async def test_a_long_subject_in_sent_is_cut_with_an_ellipsis_at_80_columns(
    ctx: Context, home: Path, totp: pyotp.TOTP, clock: FrozenClock
) -> None:
    subject = "Verwijzing en uitslagen van het onderzoek van cliënt 4471 uit maart"
    await sent_to_practitioner(ctx, totp, subject=subject)
    clock.advance(seconds=30)
    app = make_desk_app(make_settings(home), ctx=ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, totp, clock)
        await pilot.press("ctrl+t")
        await wait_for_workers(pilot)
        [row] = [line for line in screen_text(app).splitlines() if "praktijk" in line]
    # Cut with "…" where it is cut, and nothing cut by the edge of the screen.
    assert row.rstrip(" ▎▌▐█").endswith("…") and len(row.rstrip()) <= 80, row
    assert subject[:8] in row


@pytest.mark.parametrize("language", ["en", "nl"], indirect=True)
async def test_compose_fits_60_columns_and_says_the_unit_of_the_days(
    home: Path, policy: Policy, totp: pyotp.TOTP, language: str
) -> None:

    clock = FrozenClock()
    settings = make_settings(home)
    app = make_desk_app(settings, ctx=make_context(settings, policy=policy, clock=clock))
    async with app.run_test(size=(60, 20)) as pilot:
        await log_in(pilot, totp, clock)
        await pilot.press("ctrl+n")
        await pilot.pause()
        shown = screen_text(app)
        labels = [str(label.render()) for label in app.screen.query(".form Label")]
        await pilot.resize_terminal(60, 80)  # the whole form on the screen at once
        await pilot.pause()
        whole = flat(app)
    assert _("Language: automatic") in shown
    assert re.search(r"14\s*" + _("days"), shown), shown
    # Every label whole: wrapped at 60 columns, never cut at the screen's edge.
    cut = [label for label in labels if " ".join(label.split()) not in whole]
    assert len(labels) >= 6 and cut == [], (cut, whole)


async def test_the_log_in_box_fits_60_columns(home: Path, policy: Policy) -> None:
    settings = make_settings(home)
    app = make_desk_app(settings, ctx=make_context(settings, policy=policy))
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        box = app.screen.query_one("#login").region
        fields = [field.region for field in app.screen.query("#login Input")]
    assert box.x >= 0 and box.right <= 60, box
    assert len(fields) == 3 and all(field.right <= box.right for field in fields), fields


async def test_open_with_a_reference_does_not_show_the_reference_field_first(
    ctx: Context, home: Path, totp: pyotp.TOTP, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from core.recipient import Recipient

    await sent_to_practitioner(ctx, totp)
    reference = reference_for(home, PRACTITIONER)
    go_on = threading.Event()
    lookup = Recipient.lookup

    def slow_lookup(self, typed):  # the database still opening, as at a cold start
        go_on.wait(timeout=30)
        return lookup(self, typed)

    monkeypatch.setattr(Recipient, "lookup", slow_lookup)
    app = make_recipient_app(make_settings(home), ctx=ctx, reference=reference)
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.pause()
        line_shown = app.screen.query_one("#line").display
        go_on.set()
        # The look-up's worker starts after the first frame: wait for its answer.
        await wait_until(pilot, lambda: "+31 6 •• •• •1 27" in screen_text(app), "the number")
    assert not line_shown


async def test_no_ctrl_d_is_offered_for_a_message_without_attachments(
    ctx: Context, home: Path, totp: pyotp.TOTP
) -> None:
    await sent_to_practitioner(ctx, totp)
    app = make_recipient_app(
        make_settings(home), ctx=ctx, reference=reference_for(home, PRACTITIONER)
    )
    async with app.run_test(size=(110, 40)) as pilot:
        await open_as_recipient(pilot, ctx, home)
        shown = flat(app)
    assert "Press Ctrl+E to reply" in shown and "Ctrl+D" not in shown


def test_a_name_too_long_says_how_long_it_may_be() -> None:
    from core.errors import InvalidInput
    from core.starter import MAX_NAME_LENGTH, check_name

    with pytest.raises(InvalidInput, match=f"at most {MAX_NAME_LENGTH} characters"):
        check_name("K" * (MAX_NAME_LENGTH + 1))


async def test_a_reply_reaches_an_open_inbox_without_f5(
    ctx: Context,
    home: Path,
    totp: pyotp.TOTP,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.recipient import Recipient
    from tests.tui_helpers import wait_until
    from tui.desk import inbox

    monkeypatch.setattr(inbox, "CHANGES_SECONDS", 0.05)
    await sent_to_practitioner(ctx, totp)
    recipient = Recipient(ctx)
    sent = recipient.request_code(recipient.lookup(reference_for(home, PRACTITIONER)))
    await ctx.outbox.deliver_due()
    thread = recipient.verify(sent, newest_sms_code(home))
    clock.advance(seconds=30)
    app = make_desk_app(make_settings(home), ctx=ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await log_in(pilot, totp, clock)
        assert "●" not in screen_text(app) and _("waiting") in screen_text(app)
        clock.advance(minutes=1)
        recipient.reply(thread, Draft("Re: Uitslag", "Dank, ontvangen."))  # elsewhere
        await wait_until(pilot, lambda: "●" in screen_text(app), "the reply in the inbox")
        assert _("open") in screen_text(app) and _("waiting") not in screen_text(app)


@pytest.mark.parametrize("language", ["en", "nl"], indirect=True)
def test_the_confirmation_is_not_wrapped_mid_phrase_either(language: str) -> None:
    from datetime import UTC, datetime

    from core.mail import confirmation_email

    mail = confirmation_email(
        org="DeclaCare",
        sender="info@declacare.nl",
        to="karin@example.nl",
        name="Karin",
        received_at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        attachments=0,
    )
    assert all(len(p.splitlines()) == 1 for p in mail.body.split("\n\n")), mail.body
    assert mail.sender_name == "DeclaCare"


# --- what the screens claim: what docs/SECURITY.md says is true ----------------------------


def test_no_screen_mail_or_walkthrough_claims_end_to_end_encryption() -> None:
    """Messages are sealed by the veilig process on the office's server (docs/SECURITY.md,
    "What the server sees"): no word a guest, recipient or demo watcher reads may say
    end-to-end, in English or in Dutch."""
    from babel.messages.pofile import read_po

    from core.i18n import speaking
    from tests.test_i18n import PO, ROOT, source_messages

    claim = re.compile(r"end.to.end|eind.tot.eind", re.IGNORECASE)
    english = [
        m
        for m in source_messages()
        for part in ([m] if isinstance(m, str) else m)
        if claim.search(part)
    ]
    dutch = [m.string for m in read_po(PO.open("rb")) if m.id and claim.search(str(m.string))]
    scripts = [
        f"{path.name}: {line}"
        for path in (ROOT / "tui" / "walkthrough" / "scripts").rglob("*.txt")
        for line in path.read_text("utf-8").splitlines()
        if claim.search(line)
    ]
    assert english == [] and dutch == [] and scripts == [], (english, dutch, scripts)
    with speaking("nl"):
        welcome = _(
            "Welcome. Here you can write securely to {org}: your message and files are "
            "encrypted for {org} on our server as they arrive. First we check your e-mail "
            "address."
        )
    assert "versleuteld voor {org}" in welcome and "op onze server" in welcome
