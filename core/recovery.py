"""The recovery key: the mailbox key, unwrapped from what a person types from paper.

For ``veilig recover`` (to come: a new staff wrap when every password is lost). The
typed key is read leniently and its check character caught typos before anything is
tried (core.keys.parse_recovery_key); the key it opens must be the mailbox's own.
"""

from __future__ import annotations

import hmac

from core import labels
from core.errors import KeyDamaged
from core.keys import MailboxPrivateKey, parse_recovery_key
from core.models import Mailbox


def open_mailbox(mailbox: Mailbox, typed: str) -> MailboxPrivateKey:
    """The mailbox private key; :class:`InvalidInput` for a mistyped key, CannotOpen for
    a wrong one, KeyDamaged when the key opened is not the mailbox public key's."""
    recovery = parse_recovery_key(typed)
    raw = recovery.unwrap(mailbox.recovery_wrap, labels.recovery_wrap(mailbox.id))
    key = MailboxPrivateKey(raw)
    if not hmac.compare_digest(key.public_key().raw, mailbox.public_key):
        raise KeyDamaged("the mailbox public key is not this key's")
    return key
