"""A conversation's *heading*: who wrote its first message and that message's subject,
what each row of the desk's inbox shows, sealed once so that a row costs one AES-GCM.

Without it, every row opens its first message: an HPKE unwrap of the content key
(ML-KEM-768 + X25519) and a read of the meta blob, some 0.1 ms of CPU a row; for the
50 rows of a page that was the largest part of the inbox's first rows
(docs/PERFORMANCE.md, *the sealed heading*).

- **Key**: HKDF of the mailbox private key (:data:`core.labels.HEADING`), as the search
  key is: only a logged-in desk (or the recovery key) can make or open a heading; the
  host with server.key cannot, nor a copy of the database.
- **Written** by the desk's index round (:func:`core.search.index_pending`), which opens
  every message of a conversation already, from the first message it opened and
  verified (its origin tag), in the same update that marks the conversation indexed.
- **Bound** to the conversation and to that first message's id
  (:func:`core.labels.heading`): a heading copied to another conversation, or left
  behind when someone with write access put another first message in front, does not
  open, and the row opens the message itself as before.
- **Trusted no more than the message**: a row still checks its first message's origin
  tag, and a heading that does not open (the old key's while a rotation is under way;
  altered) falls back to opening the message.
- **Forgotten** with the conversation (a purge deletes its row) and with the old key:
  the end of a rotation deletes every heading not made with the new key's
  (core.rotation), and the next index round seals them again.
"""

from __future__ import annotations

import json

from core import aead, labels
from core.drafts import Sender
from core.errors import CannotOpen
from core.keys import MailboxPrivateKey


class HeadingKey:
    """The headings' key, derived from the unlocked mailbox key: in memory for one desk
    session only, never stored."""

    def __init__(self, raw: bytes) -> None:
        self._key = raw

    @classmethod
    def of(cls, mailbox_key: MailboxPrivateKey) -> HeadingKey:
        return cls(mailbox_key.derive(labels.HEADING))

    def __repr__(self) -> str:
        return "HeadingKey(<secret>)"

    def seal(
        self, conversation_id: str, first_message_id: str, sender: Sender, subject: str
    ) -> bytes:
        plain = json.dumps({"name": sender.name, "email": sender.email, "subject": subject})
        binding = labels.heading(conversation_id, first_message_id)
        return aead.seal(self._key, plain.encode("utf-8"), binding)

    def open(
        self, conversation_id: str, first_message_id: str, sealed: bytes
    ) -> tuple[Sender, str]:
        """(who wrote the first message, its subject), or :class:`CannotOpen`."""
        binding = labels.heading(conversation_id, first_message_id)
        plain = aead.open_sealed(self._key, sealed, binding, failure="heading does not open")
        try:
            fields = json.loads(plain)
            return Sender(str(fields["name"]), str(fields["email"])), str(fields["subject"])
        except (ValueError, KeyError, TypeError):  # authentic but not what we wrote
            raise CannotOpen("heading malformed") from None
