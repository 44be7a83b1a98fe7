"""A data-subject export (GDPR art. 15, issue 18): for the guest of flow 1, everything and
only what is theirs, while another guest's data lies in the same home."""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pyotp

from core.attachments import Attachment
from core.audit import Action, pseudonym
from core.clock import FrozenClock, utc_now
from core.contact import Contact
from core.desk import Desk
from core.i18n import _
from core.models import Method
from core.sealing import Draft
from core.subject_export import export_subject
from tests.conftest import (
    STAFF_EMAIL,
    STAFF_PASSWORD,
    SmsGateway,
    SmtpServer,
    deliver,
    make_settings,
)
from tests.evidence_helpers import Authenticator, guest_writes, logged_in, public_key_file
from tests.staff_helpers import as_admin, enrol_as
from tests.test_cli import veilig
from tui.factory import make_context

KARIN = ("Karin Janssen", "karin@huidtherapiex.nl")
PIET = ("Piet Bos", "piet@bospraktijk.nl")
PRACTITIONER = ("Fysio Jansen", "praktijk@fysio-jansen.nl", "06 12345127")
KARIN_MESSAGES = [("Declaratie maart", "Hierbij de verwijsbrief."), ("Nog een vraag", "Klopt dit?")]
PIET_MESSAGE = ("Klacht over factuur", "De factuur van februari klopt niet.")
STAFF_REPLY = ("Re: Nog een vraag", "Ja, dat klopt zo.")
TO_PRACTITIONER = ("Uitslag", "De uitslag is binnen.")
KARIN_HOLD = "bezwaar tegen declaratie maart, dossier B-114"
PIET_HOLD = "klacht van Piet over de factuur, dossier K-2290"


def test_a_data_subject_export_holds_all_and_only_the_guests_data(
    tmp_path: Path,
    home: Path,
    wired_ctx,
    clock,
    totp: pyotp.TOTP,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    ctx = wired_ctx
    files = {}
    for name in ("verwijsbrief.pdf", "factuur-piet.pdf", "uitslag-fysio.pdf"):
        files[name] = tmp_path / name
        files[name].write_bytes(name.encode() + os.urandom(90_000))
    guest_writes(ctx, smtp_server, *KARIN, *KARIN_MESSAGES[0], [files["verwijsbrief.pdf"]])
    clock.advance(minutes=1)  # a new code for the same address: after the cool-down
    guest_writes(ctx, smtp_server, *KARIN, *KARIN_MESSAGES[1], [])
    guest_writes(ctx, smtp_server, *PIET, *PIET_MESSAGE, [files["factuur-piet.pdf"]])
    # Staff work on the real clock: the log-in in another process below follows theirs.
    ctx = make_context(make_settings(home, smtp_server.url, sms_gateway.url), policy=ctx.policy)
    logged_in_at = utc_now()
    desk = Desk.login(ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(logged_in_at))
    rows = desk.inbox()
    hers = [r for r in rows if r.email == KARIN[1]]
    assert len(hers) == 2
    desk.reply(max(hers, key=lambda r: r.when).conversation.id, Draft(*STAFF_REPLY))
    # Staff keep her first conversation from the purge, and Piet's: their words about
    # her are hers to see; theirs about him are not.
    first = min(hers, key=lambda r: r.when).conversation.id
    desk.hold(first, KARIN_HOLD)
    [piets] = [r.conversation.id for r in rows if r.email == PIET[1]]
    desk.hold(piets, PIET_HOLD)
    name, address, mobile = PRACTITIONER
    attachment = (Attachment.from_path(files["uitslag-fysio.pdf"], ctx.policy),)
    desk.send_new(Contact(address, mobile, name), Method.SMS, Draft(*TO_PRACTITIONER, attachment))
    deliver(ctx)

    # The admin answers Karin's request at the shell.
    out = tmp_path / "karin"
    app = Authenticator(totp, after=logged_in_at.timestamp())
    asked = logged_in(home, app, "access-request", KARIN[1].upper(), "--out", str(out))
    assert asked.returncode == 0, asked.stderr
    assert "2 conversations, 3 messages, 1 attachment, " in asked.stdout

    exported = {
        p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()
    }
    everything = b"\n".join(exported.values())
    # All of hers: both conversations, her messages, staff's reply to her, her file.
    for subject, body in [*KARIN_MESSAGES, STAFF_REPLY]:
        assert subject.encode() in everything and body.encode() in everything
    saved = [v for k, v in exported.items() if k.endswith("verwijsbrief.pdf")]
    assert saved == [files["verwijsbrief.pdf"].read_bytes()]
    person = json.loads(exported["person.json"])
    assert person["asked_for"] == KARIN[1]
    assert person["as_written_in_their_own_messages"] == [{"name": KARIN[0], "email": KARIN[1]}]
    [on_file] = person["contact_details_on_file"]  # she got access with staff's reply
    assert (on_file["email"], on_file["verifies_by"]) == (KARIN[1], "email")
    # How long each of hers is kept (GDPR art. 15(1)(d)), and why the first is kept longer.
    kept = {k["conversation"]: k for k in person["how_long_each_conversation_is_kept"]}
    assert set(kept) == {r.conversation.id for r in hers}
    hold = kept.pop(first)["kept_from_deletion"]
    assert (hold["reason"], hold["by"]) == (KARIN_HOLD, "staff:" + STAFF_EMAIL)
    [(_id, other)] = kept.items()
    assert other["kept_from_deletion"] is None
    assert datetime.fromisoformat(other["deleted_after"]) - datetime.fromisoformat(
        other["last_activity"]
    ) == timedelta(days=90)
    karin = pseudonym(ctx.secret, KARIN[1])
    assert person["pseudonyms_in_the_audit_log"] == [karin]
    lines = exported["audit.csv"].decode().splitlines(True)
    audit = list(csv.DictReader(io.StringIO("".join(lines[7:]))))
    assert {r["about"] for r in audit} == {karin}
    assert [r["action"] for r in audit].count("message.received") == 2
    assert "code.sent" in [r["action"] for r in audit]  # before there was a conversation

    # Only hers: nothing of the other guest, nor of the practitioner, in any file.
    others = [*PIET, *PIET_MESSAGE, *PRACTITIONER, *TO_PRACTITIONER, "+31612345127", PIET_HOLD]
    others += [pseudonym(ctx.secret, PIET[1]), pseudonym(ctx.secret, address)]
    for value in others:
        assert value.encode() not in everything, value
    for name in ("factuur-piet.pdf", "uitslag-fysio.pdf"):
        assert files[name].read_bytes()[40_000:40_064] not in everything

    # The person checks that nothing was changed on the way: the manifest is signed.
    key_file = public_key_file(home, tmp_path)
    manifest = out / "manifest.json"
    checked = veilig(tmp_path / "no-home", "verify", str(manifest), "--key", str(key_file))
    assert checked.returncode == 0 and "Every file listed" in checked.stdout, checked.stdout
    listed = {f["file"] for f in json.loads(manifest.read_text())["files"]}
    assert listed == set(exported) - {"manifest.json", "manifest.json.sig"}
    person_file = out / "person.json"
    person_file.write_text(person_file.read_text().replace(KARIN[0], "Karin Jansen"))
    changed = veilig(tmp_path / "no-home", "verify", str(manifest), "--key", str(key_file))
    assert changed.returncode == 1 and "person.json was changed" in changed.stdout
    # A message slipped into a conversation's folder after signing is named too.
    person_file.write_bytes(exported["person.json"])
    slipped = next(out.glob("conversation-01-*")) / "03-20260101T000000Z-in.txt"
    slipped.write_text("From: someone else\n\nNot hers.\n")
    added = veilig(tmp_path / "no-home", "verify", str(manifest), "--key", str(key_file))
    assert added.returncode == 1, added.stdout
    assert f"{slipped.relative_to(out).as_posix()} is not in the manifest" in added.stdout
    assert "person.json" not in added.stdout

    # By mobile number, as a ZIP: the practitioner's conversation, none of Karin's.
    zipped = export_subject(desk, mobile, tmp_path / "fysio.zip")
    assert (zipped.conversations, zipped.messages, zipped.attachments) == (1, 1, 1)
    with zipfile.ZipFile(tmp_path / "fysio.zip") as archive:
        inside = b"\n".join(archive.read(n) for n in archive.namelist())
        assert "manifest.json.sig" in archive.namelist()
    assert TO_PRACTITIONER[1].encode() in inside and address.encode() in inside
    for value in (*KARIN, *PIET, KARIN_MESSAGES[0][1], PIET_MESSAGE[1]):
        assert value.encode() not in inside

    with ctx.repo.transaction() as tx:
        done = [e for e in tx.audit_entries() if e.action == Action.SUBJECT_EXPORTED]
    assert [e.subject for e in done] == [karin, pseudonym(ctx.secret, address)]
    assert done[0].detail.startswith("2 conversations, 3 messages, 1 attachments")


def test_an_export_is_never_written_over_a_file_or_into_the_home(
    home: Path, wired_ctx, clock, totp: pyotp.TOTP, tmp_path: Path
) -> None:
    from core.errors import InvalidInput

    desk = Desk.login(wired_ctx, STAFF_EMAIL, STAFF_PASSWORD, totp.at(clock.now))
    existing = tmp_path / "there"
    existing.mkdir()
    for out in (existing, home / "export"):
        try:
            export_subject(desk, "karin@huidtherapiex.nl", out)
        except InvalidInput:
            continue
        raise AssertionError(f"wrote {out}")
    assert list(existing.iterdir()) == [] and not (home / "export").exists()


def test_only_an_admin_answers_an_access_request_or_sets_the_retention(
    tmp_path: Path, home: Path, policy, totp: pyotp.TOTP
) -> None:
    """A colleague without the admin role logs in fine, and is refused both (audited):
    an export holds everything about a person, and the retention decides what is kept."""
    # Bram is invited and enrols two minutes ago, so that the CLI's log-ins on the real
    # clock use TOTP steps after the one his enrolment used up.
    clock = FrozenClock(utc_now() - timedelta(minutes=2))
    ctx = make_context(make_settings(home), policy=policy, clock=clock)  # mail: a Maildir
    bram, password = "bram@declacare.nl", "bram's own long passphrase"
    _member, app = enrol_as(ctx, home, as_admin(ctx, clock, totp).add(bram, "Bram"), password)
    codes = Authenticator(app)  # the CLI runs on the real clock

    out = tmp_path / "karin"
    asked = veilig(
        home,
        "access-request",
        KARIN[1],
        "--out",
        str(out),
        stdin=f"{bram}\n{password}\n{codes.code()}\n",
    )
    assert asked.returncode != 0
    assert _("Only an admin can do this.") in asked.stderr
    assert not out.exists()
    kept = veilig(home, "retention", "400", stdin=f"{bram}\n{password}\n{codes.code()}\n")
    assert kept.returncode != 0
    assert _("Only an admin can do this.") in kept.stderr
    now = veilig(home, "retention")
    assert "90" in now.stdout and "400" not in now.stdout
    with ctx.repo.transaction() as tx:
        refused = [e for e in tx.audit_entries() if e.action == Action.STAFF_NOT_ADMIN]
    assert len(refused) == 2
