"""What each step of opening a secure message hands to the next (core.recipient):
the reference's invitation, the code sent, the unlocked thread and its messages; and
why a message cannot be opened any more, in the words the recipient reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.errors import VeiligError
from core.i18n import _

if TYPE_CHECKING:
    from core.drafts import OpenedMessage
    from core.keys import ThreadKey
    from core.models import Invitation, Message, Method, Participant
    from core.references import Reference
    from core.stream import ContentKey


class MessageUnavailable(VeiligError):
    """The message was withdrawn or is past its date."""

    EXPIRED = "expired"
    REVOKED = "revoked"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(unavailable_message(self))


@dataclass(frozen=True)
class Invited:
    """What a reference leads to, before any code: where the code will go."""

    # Half of the thread key: repr=False keeps it out of tracebacks that show locals.
    reference: Reference = field(repr=False)
    org_name: str
    method: Method
    masked_destination: str
    _invitation: Invitation | None = field(default=None, repr=False)  # None: a decoy
    _participant: Participant | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CodeSent:
    invited: Invited
    challenge_id: str


@dataclass
class OpenThread:
    """An unlocked conversation: the thread key lives in this object only."""

    invited: Invited
    participant: Participant
    _thread_key: ThreadKey = field(repr=False)


@dataclass
class ThreadMessages:
    """What an unlocked recipient can read: the messages that open, oldest first, and
    those that do not (changed or damaged on disk), set apart."""

    opened: list[tuple[OpenedMessage, ContentKey]] = field(default_factory=list)
    damaged: list[Message] = field(default_factory=list)


def unavailable_message(exc: MessageUnavailable) -> str:
    if exc.reason == MessageUnavailable.REVOKED:
        return _("This message was withdrawn by the sender. Contact them if you still need it.")
    return _(
        "This message is no longer available: its time has passed. Ask the sender to send it again."
    )
