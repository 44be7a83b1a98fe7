"""The ``veilig`` command: set up, run the screens, deliver the outbox."""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from core.config import Settings
from core.errors import VeiligError
from core.i18n import _, use_language
from tui.cli_parser import dialog_args, parser

if TYPE_CHECKING:
    from tui.app import VeiligApp

# Start-up (docs/PERFORMANCE.md): `veilig start`, `open`, `desk` and `guest` are read
# without building the whole parser (tui.cli_parser.dialog_args), and the modules of the other
# commands (tui.admin, tui.cli_ops, tui.evidence_cli) and importlib.metadata (for
# --version) are imported only by the commands that use them. tests/test_startup.py
# guards both.


def _language(args: argparse.Namespace, settings: Settings) -> str | None:
    if getattr(args, "lang", None):
        return str(args.lang)
    if settings.language:
        return settings.language
    lang = os.environ.get("LANG", "")
    return lang[:2] if lang[:2] in ("nl", "en") else None


def _read_password() -> str:
    import getpass

    if sys.stdin.isatty():
        first = getpass.getpass(_("Password for the staff member: "))
        second = getpass.getpass(_("The same password again: "))
        if first != second:
            raise VeiligError(_("The passwords differ."))
        return first
    return sys.stdin.readline().rstrip("\r\n")


WEB_DRIVER = "tui.web.driver:VeiligWebDriver"  # set by `veilig serve web` for its sessions


def _require_terminal() -> None:
    if os.environ.get("TEXTUAL_DRIVER") == WEB_DRIVER:
        return  # a browser tab's session: the terminal is xterm.js, over pipes
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise VeiligError(
            _("veilig needs a terminal for this (run it in a terminal or with ssh -t).")
        )


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    import segno

    from core.setup import InitResult
    from tui.factory import init_home, is_initialised

    if is_initialised(settings):  # say so before asking for a password
        raise VeiligError(_("{home} already has an organisation.").format(home=settings.home))

    def show(result: InitResult) -> None:
        print(_("Setting up {org} in {home}.").format(org=result.organisation, home=settings.home))
        print(
            _("Mailbox: {mailbox}   Staff member: {staff}").format(
                mailbox=result.mailbox, staff=result.staff
            )
        )
        print()
        print(_("Scan this code with your authenticator app (TOTP):"))
        segno.make(result.totp_uri, error="m").terminal(compact=True)
        print(result.totp_uri)
        print()
        print(_("Recovery key: write it down and keep it safe. It is shown only now."))
        print("    " + result.recovery_key)
        if result.signing_key is not None:
            print()
            print(_("The organisation's signing key, for auditors (veilig keys show):"))
            print("    " + result.signing_key.fingerprint)
            print("    " + result.signing_key.text)
        sys.stdout.flush()  # a broken pipe shows here, before anything is stored

    init_home(
        settings,
        org_name=args.org,
        mailbox=args.mailbox,
        staff_email=args.staff,
        staff_name=args.name,
        password=_read_password(),
        show=show,
    )
    print(_("Done."))
    return 0


def _run_dialog(settings: Settings, make: Callable[[ModuleType], VeiligApp]) -> int:
    """Run one of the TUIs, made by ``make`` from ``tui.factory``, in this terminal.
    The terminal is checked before anything heavy is imported: without one, a clear
    line and exit 2 instead of a hang.

    No cyclic garbage collection until the first frame is on the terminal: importing
    Textual and the screens makes some 200,000 objects and next to no garbage, and the
    collector's passes over them took ~15 ms of the start-up (docs/PERFORMANCE.md,
    *Start-up*). It is switched on again once the frame is written, and in any case
    when the app ends. What start-up made lives as long as the app (modules, classes,
    styles; the first screen's widgets, once that screen is gone, stay too: once, and
    bounded): frozen at the first frame, the collector's full passes no longer walk it,
    which were 50–55 ms pauses in the desk's inbox (docs/PERFORMANCE.md, *Inbox at
    100,000 once more*). One app per process here; the SSH and web servers, which run
    many, do not freeze."""
    _require_terminal()
    gc.disable()
    try:
        from tui import factory

        app = make(factory)
        app.after_first_frame(collect_from_first_frame)
        factory.log_to_file(settings)
        app.run()
    finally:
        gc.enable()
    return 0


def collect_from_first_frame() -> None:
    """Start-up's objects set apart for good (``gc.freeze``), then collection on: what a
    dialog's process runs at its first frame (also bench/desk.py, to measure as it is)."""
    gc.freeze()
    gc.enable()


def cmd_start(args: argparse.Namespace, settings: Settings) -> int:
    return _run_dialog(settings, lambda f: f.make_starter_app(settings))


def cmd_open(args: argparse.Namespace, settings: Settings) -> int:
    return _run_dialog(settings, lambda f: f.make_recipient_app(settings, reference=args.reference))


def cmd_desk(args: argparse.Namespace, settings: Settings) -> int:
    return _run_dialog(settings, lambda f: f.make_desk_app(settings, email=args.email))


def cmd_guest(args: argparse.Namespace, settings: Settings) -> int:
    return _run_dialog(settings, lambda f: f.make_guest_app(settings))


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from core.i18n import current_language
    from tui.factory import DEMO_PASSWORD, log_to_file, make_context, make_demo_home
    from tui.walkthrough.demo import play
    from tui.walkthrough.script import seed_scripts

    if not args.headless:
        _require_terminal()
    demo, totp_secret = make_demo_home(args.home)
    try:
        ctx = make_context(demo)
        log_to_file(demo)
        scripts = (
            [Path(p) for p in args.script] if args.script else seed_scripts(current_language())
        )
        screenshots = Path(args.screenshots) if args.screenshots else None
        result = play(
            ctx,
            demo,
            totp_secret,
            scripts,
            headless=args.headless,
            speed=args.speed,
            screenshots=screenshots,
        )
    finally:
        if not args.home:  # a throwaway home holds keys and mail: leave nothing behind
            shutil.rmtree(demo.home, ignore_errors=True)
            shutil.rmtree(demo.maildir, ignore_errors=True)
    print(result.summary())
    if args.home:
        print(_("Demo home kept in {home}").format(home=demo.home))
        print(_("Staff log-in: desk@declacare.example, password {pw}").format(pw=DEMO_PASSWORD))
    return 0 if result.ok else 1


Command = Callable[[argparse.Namespace, Settings], int]


def _later(module: str, name: str) -> Command:
    """The command ``name`` of ``module``, imported when it runs."""

    def command(args: argparse.Namespace, settings: Settings) -> int:
        found: Command = getattr(importlib.import_module(module), name)
        return found(args, settings)

    return command


def _evidence(name: str) -> Command:
    """The evidence command ``name`` (tui.evidence_cli.COMMANDS), imported when it runs."""

    def command(args: argparse.Namespace, settings: Settings) -> int:
        from tui.evidence_cli import COMMANDS as EVIDENCE

        return EVIDENCE[name](args, settings)

    return command


# The evidence commands, named here so that their module is not imported to list them
# (tests/test_startup.py checks this list against tui.evidence_cli.COMMANDS).
EVIDENCE_COMMANDS = (
    "audit",
    "purge",
    "retention",
    "keys",
    "verify",
    "proof",
    "access-request",
    "receipt",
)

COMMANDS: dict[str, Command] = {
    "init": cmd_init,
    "start": cmd_start,
    "open": cmd_open,
    "desk": cmd_desk,
    "guest": cmd_guest,
    "serve": _later("tui.cli_ops", "cmd_serve"),
    "staff": _later("tui.admin", "cmd_staff"),
    "recover": _later("tui.admin", "cmd_recover"),
    "mailbox": _later("tui.admin", "cmd_mailbox"),
    "outbox": _later("tui.cli_ops", "cmd_outbox"),
    "backup": _later("tui.cli_ops", "cmd_backup"),
    "restore": _later("tui.cli_ops", "cmd_restore"),
    "demo": cmd_demo,
} | {name: _evidence(name) for name in EVIDENCE_COMMANDS}


def main(argv: Sequence[str] | None = None) -> int:
    # Everything veilig writes (database, WAL, logs, Maildir, SMS log) is for this user only.
    os.umask(0o077)
    settings = Settings.from_env()
    args = dialog_args(sys.argv[1:] if argv is None else argv)
    if args is not None:
        use_language(_language(args, settings))
    else:
        # The language first: the help texts of the parser are translated too.
        early = argparse.ArgumentParser(add_help=False)
        early.add_argument("--lang")
        use_language(_language(early.parse_known_args(argv)[0], settings))
        args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args, settings)
    except VeiligError as exc:
        print(f"veilig: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`veilig … | head`): stop quietly
        return 1


if __name__ == "__main__":
    sys.exit(main())
