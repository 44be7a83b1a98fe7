"""The recovery key: the mailbox key, unwrapped from what a person types from paper.

For ``veilig recover``: the office where every admin left or forgot everything gets a
new admin invitation (core.enrolment), made with the mailbox key the recovery key
opens. The typed key is read leniently and its check character caught typos before
anything is tried (core.keys.parse_recovery_key); the key it opens must be the
mailbox's own. Whoever runs it has the host (``server.key``) and the paper: both are
needed, and every try is in the audit log.
"""

from __future__ import annotations

import hmac

from core import labels
from core.audit import Action
from core.contact import check_email
from core.context import Context, require_organisation
from core.enrolment import Invited, invite
from core.errors import CannotOpen, KeyDamaged
from core.keys import MailboxPrivateKey, parse_recovery_key
from core.models import Mailbox, Role
from core.staff import check_name, to_be_invited

ACTOR = "recovery-key"


def open_mailbox(mailbox: Mailbox, typed: str) -> MailboxPrivateKey:
    """The mailbox private key; :class:`InvalidInput` for a mistyped key, CannotOpen for
    a wrong one, KeyDamaged when the key opened is not the mailbox public key's."""
    recovery = parse_recovery_key(typed)
    raw = recovery.unwrap(mailbox.recovery_wrap, labels.recovery_wrap(mailbox.id))
    key = MailboxPrivateKey(raw)
    if not hmac.compare_digest(key.public_key().raw, mailbox.public_key):
        raise KeyDamaged("the mailbox public key is not this key's")
    return key


def recover(ctx: Context, typed: str, email: str, name: str = "") -> Invited:
    """A new admin invitation for ``email``, made with the mailbox key that the typed
    recovery key opens. An address on the team is reset and made admin; a new one is
    added. The recovery key stays valid (a rotation makes a new one: core.rotation)."""
    email = check_email(email).casefold()
    name = check_name(name)
    with ctx.repo.transaction() as tx:
        _org, mailbox = require_organisation(tx)
    try:
        key = open_mailbox(mailbox, typed)
    except (CannotOpen, KeyDamaged):
        with ctx.repo.transaction() as tx:
            ctx.audit.append(tx, ACTOR, Action.MAILBOX_RECOVERY_FAILED, detail=f"staff:{email}")
        raise
    with ctx.repo.transaction() as tx:
        found = tx.staff_by_email(email)
        staff = to_be_invited(ctx, tx, found, mailbox.id, email, name, Role.ADMIN)
        ctx.audit.append(tx, ACTOR, Action.MAILBOX_RECOVERED, detail=f"staff:{email}")
        invited = invite(ctx, tx, staff=staff, mailbox_key=key, actor=ACTOR)
    ctx.repo.scrub()
    return invited
