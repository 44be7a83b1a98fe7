"""Values the database holds in the clear, pinned with a MAC under the server secret.

Someone who can write the database (and has no ``server.key``) must not be able to
change who can read, or what the desk shows as fact:

- **the mailbox public key**: swapped for their own, every message sealed after it
  would be theirs to read. It is pinned by a tag over the mailbox id and the key
  (``mailbox.public_key_mac``); :func:`sealing_key` is the one way to get a key to seal
  or wrap to, and refuses one whose tag does not match (:class:`KeyDamaged`: nothing
  is sealed, nothing is sent). A staff log-in also checks that the key in the database
  is the public half of the mailbox key the password unwrapped (core.login), and pins
  it again from that proof when the tag is missing.
- **where a message came from**: its conversation, direction and author, its format
  and its wrapped key (``message.origin_mac``). HPKE in base mode lets anyone with the
  public key seal a message; this tag says that veilig stored it. A message whose tag
  does not match does not open (:class:`CannotOpen`), whatever its meta says.

The host that holds ``server.key`` can make these tags: it runs veilig and sees what it
seals anyway (docs/SECURITY.md). The staff log-in check still catches it swapping the
mailbox key.
"""

from __future__ import annotations

import hashlib
import hmac

from core import labels
from core.errors import CannotOpen, KeyDamaged
from core.keys import MailboxPublicKey
from core.models import Mailbox, Message
from core.server_secret import ServerSecret


def mailbox_pin(secret: ServerSecret, mailbox_id: str, public_key: bytes) -> bytes:
    return secret.tag(labels.MAILBOX_PIN, mailbox_id, public_key.hex())


def pin_mailbox(secret: ServerSecret, mailbox: Mailbox) -> None:
    mailbox.public_key_mac = mailbox_pin(secret, mailbox.id, mailbox.public_key)


def is_pinned(secret: ServerSecret, mailbox: Mailbox) -> bool:
    expected = mailbox_pin(secret, mailbox.id, mailbox.public_key)
    return hmac.compare_digest(expected, mailbox.public_key_mac)


def sealing_key(secret: ServerSecret, mailbox: Mailbox) -> MailboxPublicKey:
    """The mailbox public key to seal or wrap to, checked against its pin: guests'
    messages, replies, staff's messages and new thread keys all come through here."""
    if not is_pinned(secret, mailbox):
        raise KeyDamaged("mailbox public key does not match its pin")
    return MailboxPublicKey(mailbox.public_key)


def message_origin(
    secret: ServerSecret,
    *,
    message_id: str,
    conversation_id: str,
    direction: str,
    author_id: str | None,
    attachment_count: int,
    binding_format: int,
    wrapped_key: bytes,
) -> bytes:
    """The tag over what a message row says about itself (plain values: the upgrade of an
    existing home computes it from raw rows, storage/migrations)."""
    return secret.tag(
        labels.MESSAGE_ORIGIN,
        message_id,
        conversation_id,
        direction,
        author_id or "",
        str(attachment_count),
        str(binding_format),
        hashlib.sha256(wrapped_key).hexdigest(),
    )


def _origin_of(secret: ServerSecret, message: Message) -> bytes:
    return message_origin(
        secret,
        message_id=message.id,
        conversation_id=message.conversation_id,
        direction=message.direction.value,
        author_id=message.author_id,
        attachment_count=message.attachment_count,
        binding_format=message.binding_format,
        wrapped_key=message.wrapped_key,
    )


def sign_origin(secret: ServerSecret, message: Message) -> None:
    """Call once the message is sealed (its wrapped key and items are set)."""
    message.origin_mac = _origin_of(secret, message)


def check_origin(secret: ServerSecret, message: Message) -> None:
    if not hmac.compare_digest(_origin_of(secret, message), message.origin_mac):
        raise CannotOpen("message not stored by veilig, or changed")
