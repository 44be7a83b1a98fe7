"""The plain shapes of a message: the draft being written, who sent it, what opened, and
what a send returns. No keys and no cryptography here.

The dialogs name these types from their first screen on; the sealing itself
(core.sealing, core.store, and with them cryptography) is imported when a message is
first sealed or opened. So the first question does not wait for it (docs/PERFORMANCE.md,
*Start-up*; tests/test_startup.py guards it). core.sealing and core.store re-export
them under their old names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from core.attachments import Attachment, check_attachments
from core.errors import InvalidInput
from core.i18n import _

if TYPE_CHECKING:
    from core.models import Message
    from core.policy import Policy

Progress = Callable[[int, int], None]  # bytes done, bytes in all


@dataclass(frozen=True)
class Draft:
    subject: str = field(repr=False)  # plaintext: never in a repr (see core.attachments)
    body: str = field(repr=False)
    attachments: tuple[Attachment, ...] = ()

    def check(self, policy: Policy) -> None:
        if not self.subject.strip() and not self.body.strip() and not self.attachments:
            raise InvalidInput(_("The message is empty."))
        check_attachments(self.attachments, policy)


@dataclass(frozen=True)
class Sender:
    name: str = field(repr=False)  # a person's name and address: never in a repr
    email: str = field(repr=False)


@dataclass(frozen=True)
class AttachmentInfo:
    name: str = field(repr=False)  # plaintext: never in a repr (see core.attachments)
    size: int


@dataclass
class OpenedMessage:
    message: Message
    sender: Sender
    subject: str = field(repr=False)  # plaintext: never in a repr (see core.attachments)
    body: str = field(repr=False)
    attachments: list[AttachmentInfo] = field(default_factory=list)
    sent_at: str = ""
    # A guest's receipt code (core.receipt), kept in the sealed meta of their message.
    receipt_code: str = field(default="", repr=False)


@dataclass(frozen=True)
class Receipt:
    """What storing a message returns (core.store.store_message's callers)."""

    message_id: str
    received_at: datetime
    attachments: int
    # A guest's receipt code (core.receipt): shown on their screen once, never mailed.
    receipt_code: str | None = field(default=None, repr=False)
