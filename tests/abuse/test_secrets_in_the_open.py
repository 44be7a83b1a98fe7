"""Secrets in the open: no code, reference, password, key or plaintext in what veilig
writes about itself or shows when something fails.

Every flow runs against the real system with logging at DEBUG into the home's log file
(as ``veilig start``/``open``/``desk`` configure it) and into pytest's capture; failures
are provoked (SMTP down, SMS gateway down, wrong codes, a wrong password, a damaged blob,
an unforeseen exception inside a worker, a crash in a screen); then every captured byte is
scanned: log files, CLI stderr, each exception's str, repr and traceback with its whole
``__cause__``/``__context__`` chain, the repr of every object that holds a secret (what a
traceback with locals prints), and Textual's crash output.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
import traceback
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from rich.pretty import pretty_repr

from core.attachments import Attachment
from core.clock import FrozenClock
from core.contact import Contact
from core.context import Context
from core.desk import Desk
from core.mail import notification_email, open_code_email, open_code_sms, verification_email
from core.models import Method, Purpose
from core.recipient import Recipient
from core.sealing import Draft, open_message
from core.setup import InitResult
from core.sms import Sms
from core.starter import Starter
from tests import cli_runner
from tests.conftest import (
    STAFF_EMAIL,
    STAFF_PASSWORD,
    SmsGateway,
    SmtpServer,
    code_in,
    free_port,
    make_settings,
    reference_in,
    sms_code,
)
from tests.tui_helpers import ask_for_code, screen_text, type_text, wait_for_workers
from tui.factory import log_to_file, make_context, make_starter_app

GUEST = "karin@huidtherapiex.nl"
PRACTITIONER = "praktijk@fysio-jansen.nl"
MOBILE = "06 12345127"
SUBJECT = "Declaratie maart cliënt 4471"
BODY = "Beste DeclaCare, hierbij de verwijsbrief van mevrouw Jansen-de Vries."
FILE_NAME = "verwijsbrief-jansen-4471.pdf"
FILE_CONTENT = b"%PDF-1.7 diagnose: Morbus Zeldzaam " + os.urandom(2000)
REPLY_SUBJECT = "Uitslag onderzoek 4471"
REPLY_BODY = "Dank, de uitslag is akkoord; graag de factuur."


class Secrets:
    """What must never be seen, in every spelling it could be printed in."""

    def __init__(self) -> None:
        self.needles: dict[bytes, str] = {}

    def text(self, what: str, value: str) -> None:
        spellings = {value, value.replace("-", ""), value.replace("-", "").lower()}
        for spelling in spellings:
            for encoded in (spelling.encode(), spelling.encode("unicode_escape")):
                self.needles[encoded] = what
            self.needles[repr(spelling).encode()[1:-1]] = what

    def reference(self, what: str, value: str) -> None:
        self.text(what, value)
        compact = value.replace("-", "")
        for n in range(0, len(compact) - 7, 4):  # any two groups together, without a separator
            self.needles[compact[n : n + 8].encode()] = f"{what} (groups)"

    def raw(self, what: str, value: bytes) -> None:
        for spelling in (
            value[:16],
            value.hex().encode(),
            base64.b64encode(value),
            base64.urlsafe_b64encode(value),
            repr(bytes(value))[2:40].encode(),
        ):
            self.needles[spelling] = what

    def file(self, what: str, content: bytes) -> None:
        self.needles[content[len(content) // 2 : len(content) // 2 + 32]] = what

    def found_in(self, data: bytes | str) -> list[str]:
        blob = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
        found = set()
        for needle, what in self.needles.items():
            if needle.isdigit():  # a code: not as part of a longer number (a timestamp)
                if re.search(rb"(?<!\d)" + needle + rb"(?!\d)", blob):
                    found.add(what)
            elif needle in blob:
                found.add(what)
        return sorted(found)


def exception_text(exc: BaseException) -> str:
    """All an exception shows: str and repr of it and of every exception chained to it,
    and the formatted traceback (which prints the chain too)."""
    parts = []
    seen: BaseException | None = exc
    while seen is not None:
        parts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    parts += traceback.format_exception(exc)
    return "\n".join(parts)


def open_damaged(ctx, desk: Desk, message) -> None:
    open_message(blobs=ctx.blobs, mailbox_key=desk._key, message=message, secret=ctx.secret)


def raised(call: Callable[..., object], *args: object) -> str:
    try:
        call(*args)
    except Exception as exc:  # we want to look at any of them
        return exception_text(exc)
    raise AssertionError(f"{call} did not fail")


@pytest.fixture
def debug_log(home: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Path]:
    """Logging as the TUI commands set it up (``log_to_file``), but at DEBUG, and
    everything also into pytest's capture."""
    root, sql = logging.getLogger(), logging.getLogger("sqlalchemy.engine")
    saved = root.handlers[:], root.level, sql.level
    log_to_file(make_settings(home))
    root.addHandler(caplog.handler)
    for handler in root.handlers:
        handler.addFilter(not_the_test_doubles)
    root.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    sql.setLevel(logging.DEBUG)  # SQL statements and result rows too (SQLAlchemy: WARN)
    yield home / "veilig.log"
    for handler in root.handlers:
        handler.removeFilter(not_the_test_doubles)
        if handler not in saved[0]:
            handler.close()
    root.handlers[:], root.level = saved[:2]
    sql.setLevel(saved[2])


def not_the_test_doubles(record: logging.LogRecord) -> bool:
    """The SMTP server of these tests (aiosmtpd, logger ``mail.log``) runs in this process
    and logs every mail it receives; it stands for someone else's server, not veilig."""
    return not record.name.startswith("mail.log")


def home_secrets(home: Path, init: InitResult) -> Secrets:
    found = Secrets()
    found.text("staff password", STAFF_PASSWORD)
    found.text("TOTP secret", init.totp_secret)
    found.text("recovery key", init.recovery_key)
    found.raw("server.key", (home / "server.key").read_bytes())
    for what, value in (
        ("subject", SUBJECT),
        ("body", BODY),
        ("file name", FILE_NAME),
        ("reply subject", REPLY_SUBJECT),
        ("reply body", REPLY_BODY),
    ):
        found.text(what, value)
    found.file("file content", FILE_CONTENT)
    return found


def deliver(ctx: Context) -> None:
    asyncio.run(ctx.outbox.deliver_due())


def test_flows_and_failures_leave_no_secret_in_logs_or_exceptions(
    tmp_path: Path,
    initialised: tuple[Path, InitResult],
    policy,
    smtp_down: SmtpServer,
    sms_gateway: SmsGateway,
    debug_log: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    home, init = initialised
    secrets = home_secrets(home, init)
    clock = FrozenClock()
    settings = make_settings(home, smtp_down.url, sms_gateway.url)
    ctx = make_context(settings, policy=policy, clock=clock)
    scan: list[tuple[str, str]] = []  # (where, text)
    scan_file = tmp_path / FILE_NAME
    scan_file.write_bytes(FILE_CONTENT)

    # Flow 1 while the SMTP server is down, then up.
    starter = Starter(ctx)
    pending = starter.request_code("Karin Janssen", GUEST)
    deliver(ctx)  # fails: logged, retried later
    smtp_down.start()
    clock.advance(minutes=1)
    deliver(ctx)
    code = code_in(smtp_down.bag.next_to(GUEST))
    secrets.text("starter code", code)
    typo = f"{int(code) ^ 1:06d}"  # what is typed into a code field is never logged either
    secrets.text("typed starter code", typo)
    scan.append(("wrong starter code", raised(starter.verify, pending, typo)))
    guest = starter.verify(pending, code)
    scan.append(("replayed starter code", raised(starter.verify, pending, code)))
    starter.send(guest, Draft(SUBJECT, BODY, (Attachment.from_path(scan_file, policy),)))

    # Staff: a wrong password, then in; read; send a secure message verified by SMS.
    totp = pyotp.TOTP(init.totp_secret)
    scan.append(("wrong password", raised(Desk.login, ctx, STAFF_EMAIL, "Wrong " * 3, "1")))
    desk = Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
    [row] = desk.inbox()
    desk.thread(row.conversation.id)
    desk.send_new(Contact(PRACTITIONER, MOBILE, "Fysio Jansen"), Method.SMS, Draft("x", "y"))
    deliver(ctx)
    reference = reference_in(smtp_down.bag.next_to(PRACTITIONER))
    secrets.reference("reference", reference)

    # The recipient: a mistyped reference, the SMS gateway down, a wrong code, then in.
    recipient = Recipient(ctx)
    scan.append(("mistyped reference", raised(recipient.lookup, reference[:-1] + "!")))
    invited = recipient.lookup(reference)
    dead_sms = make_context(
        make_settings(home, smtp_down.url, f"http://127.0.0.1:{free_port()}/sms"),
        policy=policy,
        clock=clock,
    )
    sent = recipient.request_code(invited)
    deliver(dead_sms)  # the gateway is down: logged, retried later
    clock.advance(minutes=1)
    deliver(ctx)
    sms_secret = sms_code(sms_gateway.next())
    secrets.text("SMS code", sms_secret)
    typo = f"{int(sms_secret) ^ 1:06d}"
    secrets.text("typed SMS code", typo)
    scan.append(("wrong SMS code", raised(recipient.verify, sent, typo)))
    thread = recipient.verify(sent, sms_secret)
    scan.append(("replayed SMS code", raised(recipient.verify, sent, sms_secret)))
    recipient.reply(thread, Draft(REPLY_SUBJECT, REPLY_BODY))

    # A damaged blob: one clear CannotOpen, and nothing of the message in it.
    first = desk.thread(row.conversation.id).messages[0][0].message
    body_blob = next(i for i in first.items if i.role == "body")
    path = next((home / "blobs").rglob(body_blob.blob_id))
    damaged = bytearray(path.read_bytes())
    damaged[-1] ^= 1
    path.write_bytes(bytes(damaged))
    # The desk sets the message apart (CannotOpen inside); the error itself, raised:
    assert first.id in [m.id for m in desk.thread(row.conversation.id).damaged]
    scan.append(("damaged blob", raised(open_damaged, ctx, desk, first)))
    assert "CannotOpen" in scan[-1][1]

    scan += [("log file", debug_log.read_text("utf-8")), ("caplog", caplog.text)]
    assert "delivery of outbox item" in caplog.text  # the failures were logged
    leaks = {where: secrets.found_in(text) for where, text in scan}
    assert {where: found for where, found in leaks.items() if found} == {}


def test_objects_that_hold_secrets_do_not_print_them(
    tmp_path: Path,
    initialised: tuple[Path, InitResult],
    policy,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    """What a traceback with locals shows of an object is its repr (``repr()`` in Python's
    and pytest's, rich's pretty repr in Textual's crash screen): for every object that
    holds a code, a reference, a key or plaintext, neither may show it."""
    home, init = initialised
    secrets = home_secrets(home, init)
    clock = FrozenClock()
    ctx = make_context(make_settings(home, smtp_server.url, sms_gateway.url), policy=policy)
    scan_file = tmp_path / FILE_NAME
    scan_file.write_bytes(FILE_CONTENT)
    draft = Draft(SUBJECT, BODY, (Attachment.from_path(scan_file, policy),))
    objects: dict[str, object] = {"draft": draft, "attachment": draft.attachments[0]}

    with ctx.repo.transaction() as tx:
        issued = ctx.codes.issue(tx, Purpose.STARTER, GUEST)
    secrets.text("issued code", issued.code)
    objects["issued code"] = issued
    objects["verification e-mail"] = verification_email(
        org="DeclaCare", sender="info@x.nl", to=GUEST, code=issued.code, minutes=10
    )
    objects["code e-mail"] = open_code_email(
        org="DeclaCare", sender="info@x.nl", to=GUEST, code=issued.code, minutes=10
    )
    sms_body = open_code_sms(org="DeclaCare", code=issued.code, minutes=10)
    objects["sms"] = Sms(to="+31612345127", body=sms_body, message_id="<1@x>")

    desk = Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, pyotp.TOTP(init.totp_secret).now())
    objects["desk"], objects["init result"] = desk, init
    objects["mailbox key"], objects["server secret"] = desk._key, ctx.secret
    desk.send_new(Contact(PRACTITIONER, MOBILE), Method.SMS, draft)
    deliver(ctx)
    reference = reference_in(smtp_server.bag.next_to(PRACTITIONER))
    secrets.reference("reference", reference)
    objects["notification"] = notification_email(
        org="DeclaCare", sender="info@x.nl", to=GUEST, name="", reference=reference
    )
    recipient = Recipient(ctx)
    objects["invited"] = invited = recipient.lookup(reference)
    objects["code sent"] = sent = recipient.request_code(invited)
    deliver(ctx)
    objects["open thread"] = thread = recipient.verify(sent, sms_code(sms_gateway.next()))
    objects["opened messages"] = opened = recipient.messages(thread)
    secrets.raw("thread key", thread._thread_key)
    secrets.raw("mailbox private key", desk._key.raw_bytes())
    for _message, key in opened:
        secrets.raw("content key", key)
    [sent_row] = desk.sent()
    objects["sent row"] = sent_row
    # The operator's credentials travel in the transport URLs.
    secrets.text("SMTP password", "Smtp-Geheim-31")
    secrets.text("Twilio token", "TwilioToken4711")
    with_credentials = make_settings(
        home,
        "smtp://desk:Smtp-Geheim-31@127.0.0.1:2525",
        "twilio+http://AC42:TwilioToken4711@127.0.0.1:8080/?from=%2B3197010",
    )
    objects["settings"] = with_credentials
    objects["context"] = make_context(with_credentials, policy=policy)
    objects["thread view"] = desk.thread(sent_row.participant.conversation_id)
    del clock

    shown = {name: repr(o) + "\n" + pretty_repr(o, max_length=5) for name, o in objects.items()}
    leaks = {name: secrets.found_in(text) for name, text in shown.items()}
    assert {name: found for name, found in leaks.items() if found} == {}


async def test_an_unforeseen_error_in_the_tui_shows_and_logs_no_secret(
    initialised: tuple[Path, InitResult],
    policy,
    smtp_server: SmtpServer,
    debug_log: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two kinds of bug nobody foresaw, in the real starter screen. In a worker: an
    exception whose message quotes the code (the screen says something went wrong, the
    log names the kind). In a screen's own handler: Textual's crash report, which by
    default prints every local variable of every frame: the code the guest just typed."""
    from tui.starter import StarterScreen

    home, init = initialised
    secrets = home_secrets(home, init)
    settings = make_settings(home, smtp_server.url)
    app = make_starter_app(settings, ctx=make_context(settings, policy=policy))

    def checking_fails(self: Starter, pending: object, typed: str) -> None:
        raise RuntimeError(f"could not check {typed} for {pending}")

    monkeypatch.setattr(Starter, "verify", checking_fails)
    with pytest.raises(ZeroDivisionError):
        async with app.run_test(size=(110, 40)) as pilot:
            await ask_for_code(pilot, GUEST)
            mail = await asyncio.to_thread(smtp_server.bag.next_to, GUEST)
            code = code_in(mail)
            secrets.text("code", code)
            await type_text(pilot, code)
            await pilot.press("enter")
            await wait_for_workers(pilot)
            shown = screen_text(app)
            assert "Something went wrong on our side." in shown
            assert "could not check" not in shown  # (the code itself stays in its field)
            # Now a bug in the screen itself, while the typed code is a local variable.
            monkeypatch.setattr(StarterScreen, "verify", lambda self, typed: 1 / 0)
            await pilot.press("enter")
            await pilot.pause()
    crash = capfd.readouterr()
    assert "ZeroDivisionError" in crash.err  # Textual's crash report was captured
    assert "unexpected RuntimeError in verify" in caplog.text
    scanned = {
        "crash report": crash.out + crash.err,
        "log file": debug_log.read_text("utf-8"),
        "caplog": caplog.text,
    }
    leaks = {where: secrets.found_in(text) for where, text in scanned.items()}
    assert {where: found for where, found in leaks.items() if found} == {}


# The real ``veilig`` command, with every logger at DEBUG on stderr: the command's own
# ``logging.basicConfig`` keeps a configuration that is already there.
DEBUG_CLI = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
from tui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def veilig(home: Path, *args: str, stdin: str = "", **env: str) -> str:
    """Run the command; all it printed on stderr (and stdout, unless it is ``init``,
    which shows the TOTP secret and recovery key on purpose)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VEILIG_")}
    environ |= {"VEILIG_HOME": str(home), "VEILIG_LANG": "en", **env}
    done = cli_runner.veilig(*args, code=DEBUG_CLI, input=stdin, env=environ, timeout=120)
    return done.stderr + ("" if "init" in args else done.stdout)


# Full suite only (five CLI processes): the quick loop keeps the same secrets out of logs
# and errors in test_flows_and_failures_leave_no_secret_in_logs_or_exceptions, and the
# CLI's failures in tests/test_cli.py.
@pytest.mark.slow
def test_the_command_line_prints_no_secret_on_failure(
    tmp_path: Path,
    initialised: tuple[Path, InitResult],
    policy,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    home, init = initialised
    secrets = home_secrets(home, init)
    ctx = make_context(make_settings(home, smtp_server.url, sms_gateway.url), policy=policy)
    desk = Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, pyotp.TOTP(init.totp_secret).now())
    desk.send_new(Contact(PRACTITIONER, MOBILE), Method.SMS, Draft(SUBJECT, BODY))
    deliver(ctx)
    reference = reference_in(smtp_server.bag.next_to(PRACTITIONER))
    secrets.reference("reference", reference)
    Starter(ctx).request_code("Karin", GUEST)  # a code mail, queued
    Recipient(ctx).request_code(Recipient(ctx).lookup(reference))  # a code SMS, queued

    down = {
        "VEILIG_SMTP_URL": f"smtp://127.0.0.1:{free_port()}",
        "VEILIG_SMS_URL": f"http://127.0.0.1:{free_port()}/sms",
    }
    weak = "Kort-1234"  # too short: refused
    secrets.text("refused password", weak)
    printed = {
        "outbox, servers down": veilig(home, "outbox", **down),
        "open, no terminal": veilig(home, "open", reference),
        "audit verify": veilig(home, "audit", "verify"),
        "init, weak password": veilig(
            tmp_path / "new",
            "init",
            "--org",
            "X",
            "--mailbox",
            "a@x.nl",
            "--staff",
            "b@x.nl",
            stdin=weak + "\n",
        ),
        "init, initialised": veilig(
            home,
            "init",
            "--org",
            "X",
            "--mailbox",
            "a@x.nl",
            "--staff",
            "b@x.nl",
            stdin=STAFF_PASSWORD + "\n",
        ),
    }
    assert "delivery of outbox item" in printed["outbox, servers down"]
    assert "[SQL parameters hidden" in printed["outbox, servers down"]  # DEBUG was on
    # Now the codes that were queued arrive (a day later, past any backoff) and are known.
    later = make_context(
        make_settings(home, smtp_server.url, sms_gateway.url),
        policy=policy,
        clock=FrozenClock(FrozenClock().now + timedelta(days=1)),
    )
    deliver(later)
    secrets.text("e-mail code", code_in(smtp_server.bag.next_to(GUEST)))
    secrets.text("SMS code", sms_code(sms_gateway.next()))
    leaks = {what: secrets.found_in(text) for what, text in printed.items()}
    assert {what: found for what, found in leaks.items() if found} == {}
