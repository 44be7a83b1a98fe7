"""Proof of delivery per message (*bewijs van aflevering*): signed, in words and in JSON.

For one message: its id and conversation, the SHA-256 of its text and of each
attachment, who sent it, when, and per recipient (masked as on screen): which server
accepted the notification and when, when they opened it and how they proved who they
are, when they replied. For a guest's message of flow 1 also the receipt values of
their confirmation e-mail (core.receipt), computed again from what is stored.

Both files are signed with the organisation's key (core.signing): the recipient and an
auditor check them with the public key alone; a changed field or hash breaks the
signature. Hashing needs the message's content, so a proof needs a logged-in staff
member (the mailbox key): it is content, as the message is.

Times are UTC in ISO 8601: a proof is read by people in other places and years.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from core import labels
from core.audit import Action
from core.contact import Contact, mask_email, mask_phone
from core.context import require_organisation
from core.desk import Desk
from core.errors import CannotOpen, InvalidInput
from core.i18n import _
from core.models import Direction, ItemRole, Message, Participant
from core.ports import AuditQuery, Transaction
from core.server_secret import ServerSecret
from core.signing import SigningKey
from core.stream import ContentKey, open_stream

FORMAT = "veilig proof of delivery 1"


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


class _Digest:
    """A sink that only hashes: SHA-256, and the receipt's HMAC when there is a code."""

    def __init__(self, receipt_code: str) -> None:
        self.sha = hashlib.sha256()
        self.mac = (
            hmac.new(receipt_code.encode(), digestmod=hashlib.sha256) if receipt_code else None
        )

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        if self.mac is not None:
            self.mac.update(data)
        return len(data)


def _digest(
    desk: Desk, key: ContentKey, message: Message, role: ItemRole, position: int, code: str
) -> _Digest:
    item = next((i for i in message.items if i.role is role and i.position == position), None)
    if item is None:
        raise CannotOpen("message item missing")
    sink = _Digest(code)
    with desk.ctx.blobs.open(item.blob_id) as source:
        context = labels.stream_item(message.id, role, position)
        open_stream(key, context, source, cast(BinaryIO, sink))
    return sink


def resolve_message_ids(desk: Desk, typed: str) -> list[str]:
    """The messages ``typed`` names: a message id, a conversation id (all its messages),
    or the start of either (at least 8 characters, and only one match)."""
    typed = typed.strip().lower()
    if len(typed) < 8:
        raise InvalidInput(_("Give at least the first 8 characters of the id."))
    with desk.ctx.repo.transaction() as tx:
        found = tx.ids_starting(typed)
        if len(found) != 1:
            raise InvalidInput(
                _("No message or conversation has that id.")
                if not found
                else _("More than one message or conversation starts with that: give more.")
            )
        kind, found_id = found[0]
        if kind == "message":
            return [found_id]
        return [m.id for m in tx.messages_in(found_id)]


def messages_to(desk: Desk, participant_id: str) -> list[str]:
    """The messages staff sent to one recipient (the rows of *Sent*), oldest first."""
    with desk.ctx.repo.transaction() as tx:
        participant = tx.participant(participant_id)
        if participant is None:
            raise CannotOpen("no such recipient")
        keys = tx.participant_keys(participant_id)
        messages = tx.messages_in(participant.conversation_id)
    return [m.id for m in messages if m.id in keys and m.direction is Direction.OUTBOUND]


def build_proof(desk: Desk, message_id: str) -> dict[str, Any]:
    ctx = desk.ctx
    with ctx.repo.transaction() as tx:
        org, mailbox = require_organisation(tx)
        message = tx.message(message_id)
        if message is None:
            raise InvalidInput(_("No message or conversation has that id."))
        readers = tx.readers_of(message.id)
        author = tx.staff_member(message.author_id) if message.author_id else None
        recipients = [_recipient(ctx.secret, tx, message, p) for p in readers]
    opened, key = desk.opens_content(message)
    code = opened.receipt_code
    body = _digest(desk, key, message, ItemRole.BODY, 0, code)
    attachments = [
        (info.size, _digest(desk, key, message, ItemRole.ATTACHMENT, n, code))
        for n, info in enumerate(opened.attachments)
    ]
    if message.direction is Direction.OUTBOUND:
        sender = f"{org.name} <{mailbox.address}>"
        if author is not None:
            sender += f", {author.email}"
    else:
        sender = mask_email(opened.sender.email)
        recipients = recipients or [
            {"recipient": f"{org.name} <{mailbox.address}>", "stored": _iso(message.created_at)}
        ]
    document: dict[str, Any] = {
        "format": FORMAT,
        "organisation": org.name,
        "message": message.id,
        "conversation": message.conversation_id,
        "direction": "to the organisation"
        if message.direction is Direction.INBOUND
        else "from the organisation",
        "sender": sender,
        "sent": _iso(message.created_at),
        "text_sha256": body.sha.hexdigest(),
        "attachments": [
            {"number": n, "size": size, "sha256": digest.sha.hexdigest()}
            for n, (size, digest) in enumerate(attachments, start=1)
        ],
        "recipients": recipients,
    }
    if code:
        # The guest's receipt (flow 1), as the confirmation e-mail listed it.
        receipt = [("text", body)] + [
            (f"attachment {n}", d) for n, (_size, d) in enumerate(attachments, start=1)
        ]
        document["receipt_hmac_sha256"] = [
            {"item": label, "value": d.mac.hexdigest()} for label, d in receipt if d.mac
        ]
    document["issued"] = _iso(ctx.clock())
    document["issued_by"] = desk.actor
    document["key"] = SigningKey.of(ctx.secret).public_key().fingerprint
    return document


def _recipient(
    secret: ServerSecret, tx: Transaction, message: Message, participant: Participant
) -> dict[str, Any]:
    contact = Contact.unseal(secret, participant)
    invitations = tx.invitations_of(participant.id)
    invitation = next((i for i in invitations if i.message_id == message.id), None)
    if invitation is None:  # made before issue 18: the first one made with the message
        invitation = next((i for i in invitations if i.created_at >= message.created_at), None)
    notice = (
        tx.outbox_item(invitation.notice_outbox_id)
        if invitation and invitation.notice_outbox_id
        else None
    )
    actor = f"recipient:{participant.id}"
    opened = _first_after(tx, message, actor, Action.OPENED)
    replied = _first_after(tx, message, actor, Action.REPLY)
    return {
        "recipient": mask_email(contact.email),
        "phone": mask_phone(contact.phone) if contact.phone else None,
        "notification": {
            "state": notice.status.value if notice else "unknown",
            "accepted": _iso(notice.sent_at) if notice else None,
            "accepted_by": notice.accepted_by if notice else None,
        },
        "opened": {"at": _iso(opened.at), "verified_by": opened.detail or None} if opened else None,
        "replied": _iso(replied.at) if replied else None,
        "revoked": _iso(participant.revoked_at),
    }


def _first_after(tx: Transaction, message: Message, actor: str, action: Action) -> Any:
    query = AuditQuery(conversation_id=message.conversation_id, actor=actor, action=action)
    return next((e for e in tx.audit_find(query) if e.at >= message.created_at), None)


def proof_json(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def proof_text(document: dict[str, Any]) -> str:
    """The proof in words, in the language of the person asking (the values as signed)."""
    none = _("—")
    lines = [
        _("veilig proof of delivery · {org}").format(org=document.get("organisation", "")),
        "",
        _("Message:      {value}").format(value=document.get("message")),
        _("Conversation: {value}").format(value=document.get("conversation")),
        _("Direction:    {value}").format(
            value=_("to the organisation")
            if document.get("direction") == "to the organisation"
            else _("from the organisation")
        ),
        _("Sender:       {value}").format(value=document.get("sender")),
        _("Sent:         {value}").format(value=document.get("sent")),
        _("Text SHA-256: {value}").format(value=document.get("text_sha256")),
    ]
    for attachment in document.get("attachments", []):
        lines.append(
            _("Attachment {n}: {size} bytes, SHA-256 {sha}").format(
                n=attachment.get("number"),
                size=attachment.get("size"),
                sha=attachment.get("sha256"),
            )
        )
    for item in document.get("receipt_hmac_sha256", []):
        lines.append(
            _("Receipt ({item}): {value}").format(item=item.get("item"), value=item.get("value"))
        )
    for person in document.get("recipients", []):
        lines.append("")
        who = person.get("recipient")
        if person.get("phone"):
            who = f"{who}, {person['phone']}"
        lines.append(_("Recipient:    {value}").format(value=who))
        if "stored" in person:
            lines.append(_("  Stored:     {value}").format(value=person["stored"]))
            continue
        notice = person.get("notification") or {}
        if notice.get("accepted"):
            lines.append(
                _("  Notified:   {at}, accepted by {server}").format(
                    at=notice["accepted"], server=notice.get("accepted_by") or none
                )
            )
        else:
            lines.append(_("  Notified:   not yet ({state})").format(state=notice.get("state")))
        opened = person.get("opened")
        lines.append(
            _("  Opened:     {at}, verified by a code by {how}").format(
                at=opened["at"], how=opened.get("verified_by") or none
            )
            if opened
            else _("  Opened:     not yet")
        )
        lines.append(_("  Replied:    {value}").format(value=person.get("replied") or none))
        if person.get("revoked"):
            lines.append(_("  Revoked:    {value}").format(value=person["revoked"]))
    lines += [
        "",
        _("Issued:       {at} by {who}").format(
            at=document.get("issued"), who=document.get("issued_by")
        ),
        _("Signed with:  {key}").format(key=document.get("key")),
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class IssuedProof:
    message_id: str
    files: list[Path]
    text: str


def issue_proof(desk: Desk, message_id: str, folder: Path) -> IssuedProof:
    """Build, sign and write the proof of ``message_id`` into ``folder`` (JSON and text,
    each with its ``.sig``); audited."""
    document = build_proof(desk, message_id)
    text = proof_text(document)
    key = SigningKey.of(desk.ctx.secret)
    stamp = str(document["issued"])[:19].replace(":", "")
    stem = folder / f"proof-{message_id[:8]}-{stamp}"
    files: list[Path] = []
    for suffix, data in ((".json", proof_json(document)), (".txt", text.encode("utf-8"))):
        path = stem.with_name(stem.name + suffix)
        files += [path, key.write_signed(path, data)]
    with desk.ctx.repo.transaction() as tx:
        desk.ctx.audit.append(
            tx, desk.actor, Action.PROOF_ISSUED, document["conversation"], f"message {message_id}"
        )
    return IssuedProof(message_id, files, text)


def read_proof(data: bytes) -> dict[str, Any] | None:
    """A proof's JSON, or None when ``data`` is not one."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return None
    return document
