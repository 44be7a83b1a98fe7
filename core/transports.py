"""Where e-mail goes: a Maildir (embedded default) or an SMTP server from a URL."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from core.errors import InvalidInput
from core.mail import Email

if TYPE_CHECKING:
    from email.message import EmailMessage


class DeliveryFailed(Exception):
    """A transport could not hand the mail over; the outbox will retry."""


class EmailTransport(Protocol):
    async def send(self, email: Email) -> str | None:
        """Hand ``email`` over; who took it (server and answer, for the proof of
        delivery), or None when the transport cannot say."""
        ...


# An SMTP answer can echo addresses back; the proof keeps the answer without them.
_ADDRESS = re.compile(r"<?[^\s<>@]+@[^\s<>]+>?")


def accepted_by(server: str, answer: str) -> str:
    """``server`` and the server's answer (its queue id), one line, no addresses."""
    answer = _ADDRESS.sub("…", " ".join(answer.split()))[:200]
    return f"{server} {answer}".strip()


def to_mime(email: Email) -> EmailMessage:
    # Imported here: the e-mail package is not needed before a first mail goes out.
    from email.message import EmailMessage
    from email.utils import formatdate

    msg = EmailMessage()
    msg["From"] = email.sender
    msg["To"] = email.to
    msg["Subject"] = email.subject
    msg["Message-ID"] = email.message_id
    msg["Date"] = formatdate(usegmt=True)
    msg.set_content(email.body)
    return msg


@dataclass
class MaildirTransport:
    """Writes each mail into ``path/new`` as a Maildir reader expects.

    The file name comes from the Message-ID, so delivering the same outbox row twice
    (after a crash between delivery and bookkeeping) leaves one mail, not two.
    """

    path: Path

    async def send(self, email: Email) -> str | None:
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        name = hashlib.sha256(email.message_id.encode()).hexdigest()[:32] + ".veilig"
        if (self.path / "new" / name).exists() or (self.path / "cur" / name).exists():
            return f"maildir {name}"
        tmp = self.path / "tmp" / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(to_mime(email).as_bytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path / "new" / name)
        return f"maildir {name}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class SmtpTransport:
    """``smtp://user:pass@host:587`` (STARTTLS) or ``smtps://…:465`` (TLS from the start).

    STARTTLS is required except towards a loopback address, where a local relay
    without TLS is normal; ``?starttls=off`` turns it off explicitly.
    """

    url: str = field(repr=False)  # may carry the SMTP password: never in a traceback
    timeout: float = 30.0

    def _options(self) -> dict[str, Any]:  # keyword arguments of aiosmtplib.send
        parts = urlsplit(self.url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise InvalidInput(f"VEILIG_SMTP_URL must be smtp:// or smtps://, not {parts.scheme!r}")
        implicit_tls = parts.scheme == "smtps"
        query = parse_qs(parts.query)
        starttls = query.get("starttls", ["auto" if _is_loopback(parts.hostname) else "require"])[0]
        options: dict[str, Any] = {
            "hostname": parts.hostname,
            "port": parts.port or (465 if implicit_tls else 587),
            "use_tls": implicit_tls,
            "timeout": self.timeout,
        }
        if not implicit_tls:
            options["start_tls"] = {"require": True, "auto": None, "off": False}.get(starttls)
        if parts.username:
            options["username"] = unquote(parts.username)
            options["password"] = unquote(parts.password or "")
        return options

    async def send(self, email: Email) -> str | None:
        # Imported on first use: it is not needed for the first screen (docs/PERFORMANCE.md).
        import aiosmtplib

        options = self._options()
        try:
            _refused, answer = await aiosmtplib.send(to_mime(email), **options)
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Only the kind of failure: an SMTP reply can echo addresses back.
            raise DeliveryFailed(type(exc).__name__) from None
        return accepted_by(f"smtp {options['hostname']}:{options['port']}", str(answer))


def email_transport(smtp_url: str | None, maildir: Path) -> EmailTransport:
    return SmtpTransport(smtp_url) if smtp_url else MaildirTransport(maildir)
