"""The organisation's side of a message: unlock the mailbox key, list and open messages."""

from __future__ import annotations

from pathlib import Path

from core.context import Context, require_organisation
from core.errors import CannotOpen, LoginFailed
from core.keys import MailboxPrivateKey, Password, unwrap_with_password
from core.models import Message
from core.sealing import OpenedMessage, open_message, save_attachment
from core.setup import staff_key_binding
from core.stream import ContentKey


class MailboxSession:
    """An unlocked mailbox for one staff member; the key lives only in this object."""

    def __init__(self, ctx: Context, key: MailboxPrivateKey) -> None:
        self.ctx = ctx
        self._key = key

    @classmethod
    def unlock(cls, ctx: Context, staff_email: str, password: str) -> MailboxSession:
        """Unwrap the mailbox key with the staff password (TOTP comes with the desk)."""
        with ctx.repo.transaction() as tx:
            require_organisation(tx)
            staff = tx.staff_by_email(staff_email.strip().casefold())
        if staff is None:
            raise LoginFailed("login failed")
        try:
            raw = unwrap_with_password(
                staff.key_wrap, Password(password), staff_key_binding(staff.id, staff.mailbox_id)
            )
        except CannotOpen:
            raise LoginFailed("login failed") from None
        return cls(ctx, MailboxPrivateKey(raw))

    def messages(self, limit: int = 50, offset: int = 0) -> list[Message]:
        with self.ctx.repo.transaction() as tx:
            return tx.messages(limit=limit, offset=offset)

    def open(self, message_id: str) -> tuple[OpenedMessage, ContentKey]:
        with self.ctx.repo.transaction() as tx:
            message = tx.message(message_id)
        if message is None:
            raise CannotOpen("no such message")
        return open_message(blobs=self.ctx.blobs, mailbox_key=self._key, message=message)

    def save_attachment(
        self, opened: OpenedMessage, key: ContentKey, position: int, destination: Path
    ) -> Path:
        return save_attachment(
            blobs=self.ctx.blobs,
            key=key,
            message=opened.message,
            position=position,
            destination=destination,
        )
