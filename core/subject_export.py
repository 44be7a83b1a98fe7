"""A data-subject export (GDPR art. 15): everything veilig holds about one person.

Asked for by e-mail address or mobile number, by a logged-in staff member (the mailbox
key opens the messages). Found: the conversations with that person (by the pseudonym
each conversation carries; conversations from before issue 18 by their participants'
sealed contact details and their guests' sealed sender), every message in them both
ways, their attachments, the contact details on file, and the audit entries about them
(by pseudonym, and every entry of their conversations). Nothing of anyone else: a
conversation is in only when its own person matches.

Written into a folder (or a ZIP of one) an office can hand over: ``README.txt``,
``person.json``, a folder per conversation with its messages as text and their
attachments, ``audit.csv`` (the signed export format, core.audit_export) and
``manifest.json`` with the SHA-256 of every file, signed by the organisation
(``manifest.json.sig``): the person can check that nothing was changed on the way.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from core.audit import Action, pseudonym
from core.audit_export import build_export
from core.audit_filter import Filter
from core.contact import Contact, check_email, every_contact, parse_mobile
from core.context import Context, require_organisation
from core.desk import Desk
from core.errors import CannotOpen, InvalidInput
from core.i18n import _
from core.models import Conversation, Direction, Message, Participant
from core.ports import AuditQuery
from core.retention import Retention
from core.saving import save_attachment_in
from core.sealing import OpenedMessage
from core.signing import SigningKey

FORMAT = "veilig data-subject export 1"


@dataclass
class SubjectExport:
    path: Path
    conversations: int = 0
    messages: int = 0
    attachments: int = 0
    audit_entries: int = 0
    damaged: int = 0  # messages that did not open (altered or missing on disk)
    files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class _Person:
    email: str  # "" when asked by number
    phone: str  # "" when asked by address


def _person(typed: str) -> _Person:
    typed = typed.strip()
    if "@" in typed:
        return _Person(email=check_email(typed).casefold(), phone="")
    return _Person(email="", phone=parse_mobile(typed))


def _is_them(person: _Person, contact: Contact) -> bool:
    if person.email:
        return contact.email.casefold() == person.email
    return contact.phone == person.phone


class _Finder:
    """Which conversations and participants are the person's."""

    def __init__(self, desk: Desk, person: _Person) -> None:
        self.desk = desk
        self.person = person
        self.conversations: dict[str, Conversation] = {}
        self.participants: list[tuple[Participant, Contact]] = []

    def find(self) -> None:
        ctx = self.desk.ctx
        everyone = list(every_contact(ctx.repo, ctx.secret))
        with ctx.repo.transaction() as tx:
            tagged = (
                tx.conversations_about(pseudonym(ctx.secret, self.person.email))
                if self.person.email
                else []
            )
            untagged = tx.untagged_conversations()
        mine = {c.id for c in tagged}
        for participant, contact in everyone:
            if _is_them(self.person, contact):
                mine.add(participant.conversation_id)
        with ctx.repo.transaction() as tx:
            for conversation in untagged:
                if conversation.id not in mine and self._guest_is_them(
                    tx.messages_in(conversation.id)
                ):
                    mine.add(conversation.id)
            for conversation_id in sorted(mine):
                found = tx.conversation(conversation_id)
                if found is not None:
                    self.conversations[found.id] = found
        # Their contact details as held: the participants of their conversations who are
        # them (another person in the same conversation stays out).
        self.participants = [
            (p, c)
            for p, c in everyone
            if p.conversation_id in self.conversations and _is_them(self.person, c)
        ]

    def _guest_is_them(self, messages: list[Message]) -> bool:
        """A guest of flow 1 (no participant yet) by the sender sealed in their message."""
        if not self.person.email:
            return False
        for message in messages:
            if message.direction is not Direction.INBOUND:
                continue
            try:
                sender = self.desk.sender_of(message)
            except CannotOpen:
                continue
            return sender.email.casefold() == self.person.email
        return False


def export_subject(desk: Desk, typed: str, out: Path) -> SubjectExport:
    """Write everything about the person ``typed`` names into ``out``: a new folder, or a
    ZIP when ``out`` ends in ``.zip``. Audited (who asked, about whom, how much)."""
    ctx = desk.ctx
    person = _person(typed)
    if out.exists():
        raise InvalidInput(_("{path} exists already: choose another name.").format(path=out))
    if ctx.home is not None and out.resolve().is_relative_to(ctx.home.resolve()):
        raise InvalidInput(_("An export cannot be written into veilig's own data folder."))
    finder = _Finder(desk, person)
    finder.find()
    zipped = out.suffix.lower() == ".zip"
    folder = Path(tempfile.mkdtemp(prefix=".veilig-export-", dir=out.parent)) if zipped else out
    if not zipped:
        folder.mkdir(mode=0o700)
    try:
        result = _write(desk, person, finder, folder)
        if zipped:
            _zip(folder, out)
    finally:
        if zipped:
            shutil.rmtree(folder, ignore_errors=True)
    result.path = out
    return result


def _write(desk: Desk, person: _Person, finder: _Finder, folder: Path) -> SubjectExport:
    ctx = desk.ctx
    result = SubjectExport(folder)
    pseudonyms = {c.subject_tag for c in finder.conversations.values() if c.subject_tag}
    pseudonyms |= {pseudonym(ctx.secret, c.email) for _p, c in finder.participants}
    if person.email:
        pseudonyms.add(pseudonym(ctx.secret, person.email))
    guests: list[dict[str, str]] = []
    for n, conversation in enumerate(
        sorted(finder.conversations.values(), key=lambda c: c.created_at), start=1
    ):
        result.conversations += 1
        place = folder / f"conversation-{n:02d}-{conversation.id[:8]}"
        place.mkdir(mode=0o700)
        with ctx.repo.transaction() as tx:
            messages = tx.messages_in(conversation.id)
        for m, message in enumerate(messages, start=1):
            try:
                opened, key = desk.opens_content(message)
            except CannotOpen:
                result.damaged += 1
                continue
            result.messages += 1
            if message.direction is Direction.INBOUND and not any(
                g["email"] == opened.sender.email for g in guests
            ):
                guests.append({"name": opened.sender.name, "email": opened.sender.email})
            stem = f"{m:02d}-{message.created_at.astimezone(UTC):%Y%m%dT%H%M%SZ}"
            text = place / f"{stem}-{message.direction.value}.txt"
            text.write_text(_message_text(conversation, opened), "utf-8")
            if opened.attachments:
                files = place / f"{stem}-attachments"
                files.mkdir(mode=0o700)
                for position in range(len(opened.attachments)):
                    save_attachment_in(
                        blobs=ctx.blobs,
                        key=key,
                        opened=opened,
                        position=position,
                        folder=files,
                        protected=ctx.home,
                    )
                    result.attachments += 1
    details = {
        "asked_for": person.email or person.phone,
        "pseudonyms_in_the_audit_log": sorted(pseudonyms),
        "contact_details_on_file": [_participant(p, c) for p, c in finder.participants],
        "as_written_in_their_own_messages": guests,
        "how_long_each_conversation_is_kept": [
            _keeping(ctx, c.id)
            for c in sorted(finder.conversations.values(), key=lambda c: c.created_at)
        ],
    }
    (folder / "person.json").write_text(
        json.dumps(details, ensure_ascii=False, indent=1) + "\n", "utf-8"
    )
    entries_about = _audit_entries(desk, pseudonyms, set(finder.conversations))
    result.audit_entries = len(entries_about)
    chosen = Filter(
        AuditQuery(subjects=frozenset(pseudonyms)), "about " + " ".join(sorted(pseudonyms))
    )
    audit = build_export(ctx, chosen, entries_about, desk.actor, "csv")
    (folder / "audit.csv").write_bytes(audit.data)
    (folder / "README.txt").write_text(_readme(desk, person, result), "utf-8")
    with ctx.repo.transaction() as tx:
        org, _mailbox = require_organisation(tx)
        detail = (
            f"{result.conversations} conversations, {result.messages} messages, "
            f"{result.attachments} attachments, {result.audit_entries} audit entries"
        )
        subject = sorted(pseudonyms)[0] if pseudonyms else ""
        ctx.audit.append(tx, desk.actor, Action.SUBJECT_EXPORTED, detail=detail, subject=subject)
    _manifest(desk, org.name, folder, sorted(pseudonyms))
    result.files = sorted(p for p in folder.rglob("*") if p.is_file())
    return result


def _audit_entries(desk: Desk, pseudonyms: set[str], conversations: set[str]) -> list[Any]:
    with desk.ctx.repo.transaction() as tx:
        found = (
            {e.seq: e for e in tx.audit_find(AuditQuery(subjects=frozenset(pseudonyms)))}
            if pseudonyms
            else {}
        )
        for conversation_id in conversations:
            for entry in tx.audit_find(AuditQuery(conversation_id=conversation_id)):
                found[entry.seq] = entry
    return [found[seq] for seq in sorted(found)]


def _keeping(ctx: Context, conversation_id: str) -> dict[str, Any]:
    """How long a conversation is kept (GDPR art. 15(1)(d)) and, when staff keep it from
    the purge, since when, by whom and why: their reason may be about the person."""
    kept = Retention(ctx).keeping(conversation_id)
    if kept is None:
        return {"conversation": conversation_id}
    candidate, reason = kept
    hold = candidate.hold
    return {
        "conversation": conversation_id,
        "last_activity": candidate.last_activity.astimezone(UTC).isoformat(),
        "deleted_after": None if hold else candidate.purge_after.astimezone(UTC).isoformat(),
        "kept_from_deletion": None
        if hold is None
        else {
            "since": hold.placed_at.astimezone(UTC).isoformat(),
            "by": hold.placed_by,
            "reason": reason,
        },
    }


def _participant(participant: Participant, contact: Contact) -> dict[str, Any]:
    def iso(moment: Any) -> str | None:
        return moment.astimezone(UTC).isoformat() if moment else None

    return {
        "conversation": participant.conversation_id,
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone or None,
        "verifies_by": participant.method.value,
        "language": participant.language,
        "added": iso(participant.created_at),
        "opens_until": iso(participant.expires_at),
        "opened": iso(participant.opened_at),
        "replied": iso(participant.replied_at),
        "revoked": iso(participant.revoked_at),
    }


def _message_text(conversation: Conversation, opened: OpenedMessage) -> str:
    header = [
        _("Conversation: {id}").format(id=conversation.id),
        _("Message: {id}").format(id=opened.message.id),
        _("From: {name} <{email}>").format(name=opened.sender.name, email=opened.sender.email),
        _("Date: {when}").format(when=opened.message.created_at.astimezone(UTC).isoformat()),
        _("Subject: {subject}").format(subject=opened.subject),
    ]
    for n, info in enumerate(opened.attachments, start=1):
        header.append(
            _("Attachment {n}: {name} ({size} bytes)").format(n=n, name=info.name, size=info.size)
        )
    return "\n".join(header) + "\n\n" + opened.body + "\n"


def _readme(desk: Desk, person: _Person, result: SubjectExport) -> str:
    return _(
        "What veilig holds about {who}, exported on {when} by {by}.\n\n"
        "{conversations} conversations with {messages} messages and {attachments} attachments;\n"
        "{entries} entries of the audit log about this person (audit.csv: who did what,\n"
        "from where, when, with what outcome; the person is named by a pseudonym).\n"
        "person.json: the contact details on file, and how long each conversation is\n"
        "kept (and why, when it is kept longer). Each conversation-… folder holds its\n"
        "messages as text and their attachments.\n\n"
        "manifest.json lists every file with its SHA-256 and is signed by the organisation\n"
        "(manifest.json.sig). Check it with the organisation's public key:\n"
        "    veilig verify manifest.json --key PUBLIC-KEY\n"
    ).format(
        who=person.email or person.phone,
        when=desk.ctx.clock().astimezone(UTC).isoformat(),
        by=desk.actor,
        conversations=result.conversations,
        messages=result.messages,
        attachments=result.attachments,
        entries=result.audit_entries,
    )


def _manifest(desk: Desk, org: str, folder: Path, pseudonyms: list[str]) -> None:
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256")
        files.append(
            {
                "file": path.relative_to(folder).as_posix(),
                "size": path.stat().st_size,
                "sha256": digest.hexdigest(),
            }
        )
    key = SigningKey.of(desk.ctx.secret)
    manifest = {
        "format": FORMAT,
        "organisation": org,
        "about": pseudonyms,
        "exported": desk.ctx.clock().astimezone(UTC).isoformat(),
        "exported_by": desk.actor,
        "key": key.public_key().fingerprint,
        "files": files,
    }
    data = (json.dumps(manifest, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    key.write_signed(folder / "manifest.json", data)


def _zip(folder: Path, out: Path) -> None:
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            zf.write(path, path.relative_to(folder).as_posix())


def check_manifest(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Files of an export that differ from its (signed) manifest, or are missing."""
    problems = []
    for entry in manifest.get("files", []):
        path = folder / str(entry.get("file", ""))
        try:
            data = path.read_bytes()
        except OSError:
            problems.append(_("{file} is missing.").format(file=entry.get("file")))
            continue
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            problems.append(_("{file} was changed.").format(file=entry.get("file")))
    # A file put in a conversation's folder after signing (another person's message,
    # say) would pass as part of the export: the signature does not vouch for it. Only
    # there: an export unpacked into a folder of other files is still checked.
    listed = {str(entry.get("file", "")) for entry in manifest.get("files", [])}
    for path in sorted(folder.glob("conversation-*/**/*")):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and name not in listed:
            problems.append(_("{file} is not in the manifest: it was added.").format(file=name))
    return problems
