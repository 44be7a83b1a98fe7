"""Who runs an evidence or admin command: a staff log-in read from the terminal or stdin,
or the operator at the host's shell; apart so every command module shares one."""

from __future__ import annotations

import getpass
import sys
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
    from core.errors import LoginFailed, RateLimited

    if sys.stdin.isatty():
        email = input(_("Staff e-mail: "))
        password = getpass.getpass(_("Password: "))
        code = input(_("Code from your authenticator app: "))
    else:
        email, password, code = (sys.stdin.readline().rstrip("\r\n") for _n in range(3))
    try:
        return Desk.login(ctx, email, password, code)
    except RateLimited:
        raise VeiligError(
            _("Too many failed attempts. Please wait 15 minutes and try again.")
        ) from None
    except LoginFailed:
        raise VeiligError(_("E-mail, password or code is not right.")) from None


def admin(ctx: Context) -> Desk:
    """A staff member allowed to act for the office. Today every staff member logs in the
    same way; when staff get roles (the staff administration), the admin check belongs
    here, after the log-in, for all commands that call this."""
    return log_in(ctx)


def operator_name() -> str:
    """Who acts at the host's shell without a log-in, as the audit log names them."""
    return f"operator:{getpass.getuser()}"


def _context(settings: Settings) -> Context:
    from tui.factory import make_context

    return make_context(settings)


# --- audit ----------------------------------------------------------------------------------
