"""The e-mails veilig sends. None of them carries a subject, body or file name.

An e-mail crosses servers we do not control; it may say *that* something happened,
never *what* was written. A name in a greeting was typed by a person: it goes in with
its control and bidi characters made visible, since terminal mail readers (mutt, mail)
would otherwise pass escape sequences to the reader's terminal.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime

from core.display import literal
from core.errors import InvalidInput
from core.i18n import _, format_datetime, ngettext


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    body: str = field(repr=False)  # may hold a code or a reference: never in a traceback
    sender: str
    message_id: str  # stable across retries, so a receiver can drop duplicates

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Email:
        return cls(**json.loads(raw))


@dataclass(frozen=True)
class WaysIn:
    """How an outside person can open a message besides ``veilig open``, named in the
    e-mails when the office offers it: the web address (``VEILIG_PUBLIC_URL``, e.g.
    ``https://veilig.example.nl``; the browser dialog is at ``/open``) and the SSH
    address (``VEILIG_PUBLIC_SSH``, e.g. ``veilig.example.nl:2222``). The reference is
    never part of a link: it is pasted into the dialog, because URLs end up in logs,
    browser history and proxies."""

    web: str | None = None
    ssh: str | None = None

    def __post_init__(self) -> None:
        web = self.web
        if web is not None and (
            not web.startswith(("https://", "http://"))
            or any(ch.isspace() for ch in web)
            or "?" in web
            or "#" in web
        ):
            raise InvalidInput(
                _("VEILIG_PUBLIC_URL must look like https://veilig.example.nl, not {url}.").format(
                    url=web
                )
            )
        if self.ssh is not None and (any(ch.isspace() for ch in self.ssh) or "@" in self.ssh):
            raise InvalidInput(
                _("VEILIG_PUBLIC_SSH must look like veilig.example.nl:2222, not {address}.").format(
                    address=self.ssh
                )
            )

    @property
    def open_url(self) -> str | None:
        return f"{self.web.rstrip('/')}/open" if self.web else None

    @property
    def ssh_command(self) -> str | None:
        if not self.ssh:
            return None
        host, colon, port = self.ssh.rpartition(":")
        if not (colon and port.isdigit()):
            host, port = self.ssh, "22"
        command = ["ssh", f"guest@{host}"]
        return " ".join(command if port == "22" else [*command[:1], "-p", port, *command[1:]])


def _email(to: str, subject: str, body: str, sender: str) -> Email:
    return Email(
        to=to, subject=subject, body=body, sender=sender, message_id=new_message_id(sender)
    )


def new_message_id(sender: str) -> str:
    domain = sender.rpartition("@")[2] or "veilig.invalid"
    return f"<{secrets.token_hex(16)}@{domain}>"


def verification_email(*, org: str, sender: str, to: str, code: str, minutes: int) -> Email:
    # No name in the greeting: it was typed by someone not yet verified, and would let
    # anyone put words of their choice into an e-mail from the organisation.
    body = _(
        "Hello,\n\n"
        "Someone asked to write securely to {org} with this e-mail address.\n"
        "The verification code is:\n\n"
        "    {code}\n\n"
        "Type it in veilig, where you asked for it, and press Enter to unlock.\n"
        "The code works once and for {minutes} minutes.\n\n"
        "Did you not ask for this? Then you can ignore this e-mail.\n\n"
        "{org}"
    ).format(org=org, code=code, minutes=minutes)
    return _email(to, _("Your verification code for {org}").format(org=org), body, sender)


def confirmation_email(
    *, org: str, sender: str, to: str, name: str, received_at: datetime, attachments: int
) -> Email:
    files = (
        ngettext("with {n} attachment", "with {n} attachments", attachments).format(n=attachments)
        if attachments
        else _("without attachments")
    )
    body = _(
        "Dear {name},\n\n"
        "{org} received your secure message ({files}) in good order on {when}.\n"
        "It was encrypted on our server as it arrived; from then on only the staff\n"
        "of {org} can open it.\n\n"
        "{org}"
    ).format(name=literal(name), org=org, files=files, when=format_datetime(received_at))
    return _email(to, _("Your secure message to {org} arrived").format(org=org), body, sender)


def new_message_notice(*, org: str, mailbox: str) -> Email:
    body = _(
        "A new secure message for {org} is waiting in the desk.\nOpen it with: veilig desk\n"
    ).format(org=org)
    return _email(mailbox, _("New secure message"), body, mailbox)


def notification_email(
    *, org: str, sender: str, to: str, name: str, reference: str, ways_in: WaysIn | None = None
) -> Email:
    """Seed 2A: a secure message waits. The reference is half of the key: it is in this
    e-mail only, never stored. Nothing about the content is. The web address comes
    first when there is one (nothing to install), then the terminal and SSH."""
    ways_in = ways_in or WaysIn()
    body = _(
        "Dear {name},\n\n{org} sent you a secure message. It is waiting for you, encrypted.\n\n"
    )
    if ways_in.open_url:
        body += _(
            "Open it in your web browser: go to\n\n"
            "    {url}\n\n"
            "and paste this reference there:\n\n"
            "    {reference}\n\n"
            "Or open it in a terminal with:\n\n"
            "    veilig open {reference}\n\n"
        )
    else:
        body += _(
            "Open it in a terminal with:\n\n"
            "    veilig open {reference}\n\n"
            "or start `veilig open` and paste this reference:\n\n"
            "    {reference}\n\n"
        )
    if ways_in.ssh_command:
        body += _(
            "Or over SSH, with nothing to install:\n\n"
            "    {command}\n\n"
            "then choose 2 and paste the reference.\n\n"
        )
    body += _(
        "To be sure it is you, we then send a verification code to the phone number or\n"
        "e-mail address we have for you. Keep this e-mail to yourself.\n\n"
        "{org}"
    )
    body = body.format(
        name=literal(name) or _("recipient"),
        org=org,
        reference=reference,
        url=ways_in.open_url,
        command=ways_in.ssh_command,
    )
    return _email(
        to, _("A secure message from {org} is waiting for you").format(org=org), body, sender
    )


def open_code_email(
    *, org: str, sender: str, to: str, code: str, minutes: int, ways_in: WaysIn | None = None
) -> Email:
    ways_in = ways_in or WaysIn()
    body = _("Your verification code to open the secure message from {org}:\n\n    {code}\n\n")
    if ways_in.open_url:
        body += _(
            "Type it where you asked for it: in your web browser at {url}, or in veilig "
            "(in a terminal or over SSH). Press Enter to unlock. It works once for "
            "{minutes} minutes.\n\n{org}"
        )
    else:
        body += _(
            "Type it in veilig, where you asked for it, and press Enter to unlock. It works "
            "once for {minutes} minutes.\n\n{org}"
        )
    body = body.format(org=org, code=code, minutes=minutes, url=ways_in.open_url)
    return _email(to, _("Your verification code for {org}").format(org=org), body, sender)


def open_code_sms(*, org: str, code: str, minutes: int) -> str:
    # Short (one SMS segment) and without a link: a code SMS with a link is a phishing pattern.
    return _(
        "{code} is your code to open the secure message from {org}. Valid {minutes} min."
    ).format(code=code, org=org, minutes=minutes)


def reply_notice(*, org: str, mailbox: str) -> Email:
    body = _(
        "A reply to a secure message of {org} is waiting in the desk.\nOpen it with: veilig desk\n"
    ).format(org=org)
    return _email(mailbox, _("New secure reply"), body, mailbox)


def lockout_alert(*, org: str, mailbox: str, who: str, failures: int) -> Email:
    """To the mailbox: an account or a recipient's access was locked after guessing."""
    body = _(
        "veilig locked {who} after {n} failed attempts in a row.\n"
        "Someone may be guessing. Nothing opens for {who} until a staff member unlocks\n"
        "it: recipients in the desk's Sent view, staff with `veilig staff unlock EMAIL`.\n"
        "The attempts are in the audit log.\n\n{org}"
    ).format(who=who, n=failures, org=org)
    return _email(mailbox, _("Locked after failed attempts"), body, mailbox)
