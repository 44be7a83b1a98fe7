"""Who runs an evidence or admin command: a staff log-in read from the terminal or stdin,
or the operator at the host's shell; apart so every command module shares one."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from core.config import Settings
from core.errors import VeiligError
from core.i18n import _

if TYPE_CHECKING:
    from core.context import Context
    from core.desk import Desk


def log_in(ctx: Context) -> Desk:
    """A staff member, by password and authenticator code: asked in a terminal, or read
    as three lines (e-mail, password, code) from stdin for scripts."""
    from core.desk import Desk

    if sys.stdin.isatty():
        email = input(_("Staff e-mail: "))
        password = getpass.getpass(_("Password: "))
        code = input(_("Code from your authenticator app: "))
    else:
        email, password, code = (sys.stdin.readline().rstrip("\r\n") for _n in range(3))
    with login_errors():
        return Desk.login(ctx, email, password, code)


@contextmanager
def login_errors() -> Iterator[None]:
    """A refused log-in as the one message a command prints (the same for a wrong
    address, password or code: which one is not said)."""
    from core.errors import LoginFailed, RateLimited

    try:
        yield
    except RateLimited:
        raise VeiligError(
            _("Too many failed attempts. Please wait 15 minutes and try again.")
        ) from None
    except LoginFailed:
        raise VeiligError(_("E-mail, password or code is not right.")) from None


def admin(ctx: Context) -> Desk:
    """A staff member allowed to act for the office (setting the retention, answering an
    access request): logged in as above, then an admin, or refused as ``staff add`` is
    (audited, "Only an admin can do this.")."""
    from core.audit import Action
    from core.errors import NotAllowed
    from core.staff import is_admin

    desk = log_in(ctx)
    if not is_admin(ctx, desk.staff):
        with ctx.repo.transaction() as tx:
            ctx.audit.append(tx, desk.actor, Action.STAFF_NOT_ADMIN)
        desk.log_out("command")
        raise NotAllowed(_("Only an admin can do this."))
    return desk


def operator_name() -> str:
    """Who acts at the host's shell without a log-in, as the audit log names them."""
    return f"operator:{getpass.getuser()}"


def _context(settings: Settings) -> Context:
    from tui.factory import make_context

    return make_context(settings)


# --- audit ----------------------------------------------------------------------------------
