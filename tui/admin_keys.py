"""The host operator's staff commands: ``veilig staff unlock``, ``add-key`` and ``keys``,
and the SSH-key clean-up that ``staff add`` and ``remove`` share. Apart from tui.admin
because none of them needs the mailbox key: whoever runs the host may use them.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from core.config import Settings
from core.errors import VeiligError
from core.i18n import _

if TYPE_CHECKING:
    from core.context import Context


def context(settings: Settings) -> Context:
    from tui.factory import make_context

    return make_context(settings)


def unlock(args: argparse.Namespace, settings: Settings) -> int:
    """Someone with the host's shell (the operator) lets a locked account log in again."""
    from core.lockout import unlock_staff
    from tui.cli_login import operator_name

    ctx = context(settings)
    email = known(ctx, args.email)
    with ctx.repo.transaction() as tx:
        done = unlock_staff(ctx, tx, operator_name(), email)
    if done:
        print(_("{email} can log in again.").format(email=email))
    else:
        print(_("{email} is not locked.").format(email=email))
    return 0


def add_key(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from tui.ssh.keys import add_staff_key

    email = known(context(settings), args.email)
    try:
        text = Path(args.keyfile).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VeiligError(_("Cannot read {path}.").format(path=args.keyfile)) from exc
    fingerprint = add_staff_key(settings.home, email, text)
    from core.audit import Action
    from tui.cli_login import operator_name

    ctx = context(settings)
    with ctx.repo.transaction() as tx:
        detail = f"staff:{email} {fingerprint}"
        ctx.audit.append(tx, operator_name(), Action.STAFF_KEY_ADDED, detail=detail)
    done = _("Key {fingerprint} now signs in as {email}.")
    print(done.format(fingerprint=fingerprint, email=email))
    return 0


def keys(args: argparse.Namespace, settings: Settings) -> int:
    """`veilig staff keys [EMAIL]`: every registered key and the account it opens;
    `--remove FINGERPRINT` forgets one."""
    from core.audit import Action
    from tui.cli_login import operator_name
    from tui.ssh.keys import remove_staff_key, staff_keys_listed

    ctx = context(settings)
    if args.remove:
        account = remove_staff_key(settings.home, args.remove)
        if account is None:
            raise VeiligError(
                _("No key {fingerprint} is registered.").format(fingerprint=args.remove)
            )
        with ctx.repo.transaction() as tx:
            detail = f"staff:{account} {args.remove.strip()}"
            ctx.audit.append(tx, operator_name(), Action.STAFF_KEY_REMOVED, detail=detail)
        print(
            _("Key {fingerprint} removed; it no longer signs in as {email}.").format(
                fingerprint=args.remove.strip(), email=account
            )
        )
        return 0

    def exists(email: str) -> bool:
        with ctx.repo.transaction() as tx:
            found = tx.staff_by_email(email)
            return found is not None and found.removed_at is None

    wanted = args.email.strip().casefold() if args.email else None
    rows = [row for row in staff_keys_listed(settings.home, exists) if wanted in (None, row[1])]
    if not rows:
        print(_("No SSH keys are registered."))
    gone = _("(no such staff member: refused)")
    for fingerprint, email, live in rows:
        print(f"{fingerprint}  {email}" if live else f"{fingerprint}  {email}  {gone}")
    return 0


def forget_keys(ctx: Context, settings: Settings, email: str) -> int:
    """Delete every SSH key of ``email`` on this host, each one audited; how many."""
    from core.audit import Action
    from tui.cli_login import operator_name
    from tui.ssh.keys import remove_keys_of

    gone = remove_keys_of(settings.home, email)
    if gone:
        with ctx.repo.transaction() as tx:
            for fingerprint in gone:
                detail = f"staff:{email} {fingerprint}"
                ctx.audit.append(tx, operator_name(), Action.STAFF_KEY_REMOVED, detail=detail)
    return len(gone)


def known(ctx: Context, typed: str) -> str:
    email = typed.strip().casefold()
    with ctx.repo.transaction() as tx:
        staff = tx.staff_by_email(email)
        if staff is None or staff.removed_at is not None:
            raise VeiligError(_("There is no staff member {email}.").format(email=email))
    return email
