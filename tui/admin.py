"""The admin's commands: ``veilig staff …``, ``veilig recover``, ``veilig mailbox rotate``.

What needs the mailbox key or takes someone's access away asks an admin's e-mail,
password and authenticator code first (core.staff.authorise); ``staff list``,
``unlock`` and ``add-key`` are for whoever runs the host, as before. Answers are read
from the terminal, or one line each from stdin when it is not one (scripts, tests):
then every question is printed on a line of its own first.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from core.config import Settings
from core.errors import VeiligError
from core.i18n import _, format_datetime
from tui import admin_keys
from tui.cli_login import login_errors

if TYPE_CHECKING:
    from core.context import Context
    from core.enrolment import Invited
    from core.rotation import Started
    from core.staff import Admin


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    command: Callable[..., argparse.ArgumentParser],
) -> None:
    """The ``staff``, ``recover`` and ``mailbox`` commands, on the main parser's ``sub``."""
    staff = command(sub, "staff", _("the team: add, list, remove, reset, enrol"))
    actions = staff.add_subparsers(dest="action", required=True, parser_class=type(staff))
    by_help = _("your own e-mail address (an admin); asked when left out")

    add = actions.add_parser("add", help=_("invite a new staff member (an admin authorises)"))
    add.add_argument("email", help=_("the new staff member's e-mail address"))
    add.add_argument("--name", required=True, help=_("their name, as colleagues know it"))
    add.add_argument("--admin", action="store_true", help=_("they may manage staff too"))
    add.add_argument("--by", metavar="EMAIL", help=by_help)

    actions.add_parser("list", help=_("everyone on the team, with their state"))

    remove = actions.add_parser("remove", help=_("take a staff member's access away"))
    remove.add_argument("email", help=_("the staff member's e-mail address"))
    remove.add_argument("--by", metavar="EMAIL", help=by_help)

    reset = actions.add_parser("reset", help=_("lost phone or password: a new invitation"))
    reset.add_argument("email", help=_("the staff member's e-mail address"))
    reset.add_argument("--by", metavar="EMAIL", help=by_help)

    actions.add_parser("enrol", help=_("accept an invitation: your password and your app"))

    unlock = actions.add_parser("unlock", help=_("after too many failed log-ins"))
    unlock.add_argument("email", help=_("the staff member's e-mail address"))

    add_key = actions.add_parser("add-key", help=_("register an SSH key for a staff member"))
    add_key.add_argument("email", help=_("the staff member's e-mail address"))
    add_key.add_argument("keyfile", help=_("the public key file, e.g. id_ed25519.pub"))

    keys = actions.add_parser("keys", help=_("the SSH keys and the account each opens"))
    keys.add_argument("email", nargs="?", help=_("only this staff member's keys"))
    keys.add_argument("--remove", metavar="FINGERPRINT", help=_("remove this key (SHA256:…)"))

    recover = command(
        sub, "recover", _("with the recovery key: a new admin invitation (every admin gone)")
    )
    recover.add_argument("--email", required=True, help=_("the new admin's e-mail address"))
    recover.add_argument("--name", default="", help=_("their name"))

    mailbox = command(sub, "mailbox", _("the mailbox key"))
    mailbox.add_argument(
        "action", choices=["rotate"], help=_("rotate: a new key pair, every wrap moved to it")
    )
    mailbox.add_argument("--by", metavar="EMAIL", help=by_help)


def ask(prompt: str, *, secret: bool = False) -> str:
    """One answer: typed (a secret without echo), or the next line of stdin."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt) if secret else input(prompt)
    print(prompt, flush=True)
    line = sys.stdin.readline()
    if not line:
        raise VeiligError(_("No answer: the input ended."))
    return line.rstrip("\r\n")


def _context(settings: Settings) -> Context:
    from tui.factory import make_context

    return make_context(settings)


def _authorise(ctx: Context, by: str | None) -> Admin:
    from core.staff import authorise

    email = by or ask(_("Your e-mail address (an admin): "))
    password = ask(_("Your password: "), secret=True)
    code = ask(_("Code from your authenticator app: "))
    with login_errors():
        return authorise(ctx, email, password, code)


def _deliver(ctx: Context) -> bool:
    """Send what was queued (the invitation) now; False when it stays queued."""
    report = asyncio.run(ctx.outbox.deliver_due())
    return report.pending == 0 and report.failed == 0


def _show_invited(invited: Invited, sent: bool) -> None:
    print(
        _("{name} <{email}> is invited until {when}.").format(
            name=invited.name or invited.email,
            email=invited.email,
            when=format_datetime(invited.expires_at),
        )
    )
    if sent:
        print(_("The invitation code went to {email} by e-mail.").format(email=invited.email))
    else:
        print(_("The invitation e-mail is queued: `veilig outbox` sends it."))
    print(_("Give them this hand-over code in person or by phone, never by e-mail:"))
    print()
    print("    " + invited.handover_code)
    print()
    print(_("They then run: veilig staff enrol"))


def cmd_staff(args: argparse.Namespace, settings: Settings) -> int:
    commands = {
        "add": _add,
        "list": _list,
        "remove": _remove,
        "reset": _reset,
        "enrol": _enrol,
        "unlock": admin_keys.unlock,
        "add-key": admin_keys.add_key,
        "keys": admin_keys.keys,
    }
    return commands[args.action](args, settings)


def _add(args: argparse.Namespace, settings: Settings) -> int:
    from core.models import Role

    ctx = _context(settings)
    admin = _authorise(ctx, args.by)
    invited = admin.add(args.email, args.name, Role.ADMIN if args.admin else Role.STAFF)
    # SSH keys are registered per address: keys a former holder of this address left on
    # this host (a crash between a removal and its key clean-up) must not open the new
    # person's desk.
    admin_keys.forget_keys(ctx, settings, invited.email)
    _show_invited(invited, _deliver(ctx))
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from core.display import literal
    from core.staff import listing
    from tui.ssh.keys import staff_keys

    ctx = _context(settings)
    keys: dict[str, int] = {}
    for email in staff_keys(settings.home).values():
        keys[email] = keys.get(email, 0) + 1
    head = (_("Name"), _("E-mail"), _("Role"), _("Enrolled"), _("Last log-in"), _("SSH keys"))
    lines = [head]
    for member in listing(ctx):
        if member.enrolled_at is not None:
            enrolled = format_datetime(member.enrolled_at)
        elif member.invited_until is not None:
            enrolled = _("invited, until {when}").format(when=format_datetime(member.invited_until))
        else:
            enrolled = _("no (reset it for a new invitation)")
        if member.locked:
            enrolled += " · " + _("locked")
        lines.append(
            (
                literal(member.name) or "—",
                member.email,
                _("admin") if member.role == "admin" else _("staff"),
                enrolled,
                format_datetime(member.last_login_at) if member.last_login_at else "—",
                str(keys.get(member.email, 0)),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for line in lines:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
    return 0


def _remove(args: argparse.Namespace, settings: Settings) -> int:

    ctx = _context(settings)
    admin = _authorise(ctx, args.by)
    staff = admin.remove(args.email)
    keys = admin_keys.forget_keys(ctx, settings, staff.email)
    print(
        _(
            "{email} is removed: their key wraps, authenticator secret and {n} SSH keys "
            "are deleted. A desk they have open locks at its next action."
        ).format(email=staff.email, n=keys)
    )
    print(_("If they could have kept a copy of the mailbox key, also run: veilig mailbox rotate"))
    return 0


def _reset(args: argparse.Namespace, settings: Settings) -> int:
    ctx = _context(settings)
    admin = _authorise(ctx, args.by)
    invited = admin.reset(args.email)
    print(
        _("{email}'s password and authenticator no longer open anything.").format(
            email=invited.email
        )
    )
    _show_invited(invited, _deliver(ctx))
    return 0


def _enrol(args: argparse.Namespace, settings: Settings) -> int:
    import segno

    from core.enrolment import enrol, open_invitation
    from core.errors import InvalidInput
    from core.setup import check_password

    ctx = _context(settings)
    code = ask(_("Invitation code (from the e-mail): "))
    handover = ask(_("Hand-over code (from your administrator): "))
    opened = open_invitation(ctx, code, handover)
    staff = opened.staff
    print(_("Welcome to {org}, {name}.").format(org=opened.org, name=staff.name or staff.email))
    while True:
        password = _new_password()
        try:
            check_password(password, ctx.policy, (staff.email, opened.org, staff.name))
            break
        except InvalidInput as exc:
            if not sys.stdin.isatty():
                raise
            print(exc)
    print()
    print(_("Scan this code with your authenticator app (TOTP):"))
    segno.make(opened.totp_uri, error="m").terminal(compact=True)
    print(opened.totp_uri)
    print()
    for attempt in range(3):
        totp = ask(_("Code from your authenticator app: "))
        try:
            enrol(ctx, opened, password, totp)
            break
        except InvalidInput as exc:
            if attempt == 2 or not sys.stdin.isatty():
                raise
            print(exc)
    print(_("You are enrolled. Log in with: veilig desk"))
    return 0


def _new_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(_("Choose your password: "))
        second = getpass.getpass(_("The same password again: "))
        if first != second:
            print(_("The passwords differ."))
            return _new_password()
        return first
    return ask(_("Choose your password: "), secret=True)


def cmd_recover(args: argparse.Namespace, settings: Settings) -> int:
    from core.recovery import recover

    ctx = _context(settings)
    typed = ask(_("Recovery key: "), secret=True)
    invited = recover(ctx, typed, args.email, args.name)
    print(_("The recovery key opened the mailbox key. A new admin is invited."))
    _show_invited(invited, _deliver(ctx))
    return 0


def cmd_mailbox(args: argparse.Namespace, settings: Settings) -> int:
    ctx = _context(settings)
    admin = _authorise(ctx, args.by)
    if admin.rotating:
        print(_("A rotation of the mailbox key is under way: it goes on where it was."))
    tty = sys.stdout.isatty()

    def show(started: Started) -> None:
        print(_("The mailbox has a new key pair. Everyone logs in again to use it."))
        for email in started.withdrawn:
            print(
                _("The pending invitation of {email} was withdrawn: veilig staff reset").format(
                    email=email
                )
            )
        print()
        print(_("New recovery key: write it down and keep it safe. It is shown only now."))
        print(_("The old recovery key no longer opens anything."))
        print("    " + started.recovery_key)
        print()
        sys.stdout.flush()  # a broken pipe shows here, before anything is stored

    def progress(done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        bar = "#" * filled + "." * (width - filled)
        line = _("[{bar}] {done} of {total} keys re-wrapped").format(
            bar=bar, done=done, total=total
        )
        print(("\r" + line) if tty else line, end="" if tty else "\n", flush=True)

    finished = admin.rotate(show, progress)
    if tty:
        print()
    print(
        _(
            "Done: {messages} messages and {participants} recipients now open with the new "
            "key only; the old private key is destroyed."
        ).format(messages=finished.messages, participants=finished.participants)
    )
    if finished.damaged:
        print(_("{n} keys were damaged before and stay as they are.").format(n=finished.damaged))
    return 0
