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

if TYPE_CHECKING:
    from tui.app import VeiligApp

# Start-up (docs/PERFORMANCE.md): `veilig start`, `open`, `desk` and `guest` are read
# without building the whole parser (_dialog_args), and the modules of the other
# commands (tui.admin, tui.cli_ops, tui.evidence_cli) and importlib.metadata (for
# --version) are imported only by the commands that use them. tests/test_startup.py
# guards both.


class _Formatter(argparse.HelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None) -> None:
        super().add_usage(usage, actions, groups, prefix if prefix is not None else _("usage: "))


class _Parser(argparse.ArgumentParser):
    """argparse with its own words in the chosen language too. The positionals of
    ``veilig`` itself are its commands; those of a command are its arguments."""

    def __init__(self, *args, positionals: str | None = None, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs.setdefault("add_help", False)
        super().__init__(*args, **kwargs)
        self._positionals.title = positionals or _("arguments")
        self._optionals.title = _("options")
        self.add_argument("-h", "--help", action="help", help=_("show this help and stop"))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("veilig")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


class _VersionAction(argparse._VersionAction):
    """argparse's ``version`` action, with the version looked up only when asked for
    (importlib.metadata takes longer to import than the rest of the parser)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[no-untyped-def]
        self.version = f"veilig {_version()}"
        super().__call__(parser, namespace, values, option_string)


def _command(sub: argparse._SubParsersAction, name: str, about: str) -> argparse.ArgumentParser:
    """A command whose ``--help`` starts with what it does (its line in ``veilig -h``)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=about, description=about[:1].upper() + about[1:] + "."
    )
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="veilig",
        description=_("Secure mail for care providers, in the terminal."),
        positionals=_("commands"),
    )
    parser.add_argument("--lang", help=_("language: nl or en (default: VEILIG_LANG, then LANG)"))
    parser.add_argument("--version", action=_VersionAction, help=_("show the version and stop"))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    init = _command(sub, "init", _("set up the organisation, its mailbox and first staff member"))
    init.add_argument("--org", required=True, help=_("name of the organisation"))
    init.add_argument("--mailbox", required=True, help=_("e-mail address of the mailbox"))
    init.add_argument("--staff", required=True, help=_("e-mail address of the first staff member"))
    init.add_argument("--name", default="", help=_("the first staff member's name"))

    _command(sub, "start", _("write a secure message to the organisation (guests)"))

    opener = _command(sub, "open", _("open a secure message you received (recipients)"))
    opener.add_argument("reference", nargs="?", help=_("the reference from the e-mail"))

    desk = _command(sub, "desk", _("the support desk: read, reply, send (staff)"))
    desk.add_argument(
        "--email",
        default="",
        help=_("log in only as this staff member (the account an SSH key opens)"),
    )

    _command(sub, "guest", _("write to us or open a secure message (guests over SSH)"))

    serve = _command(sub, "serve", _("serve the dialogs to others"))
    serve.add_argument(
        "protocol", choices=["ssh", "web"], help=_("ssh: an SSH server; web: a web server")
    )
    serve.add_argument("--host", default="127.0.0.1", help=_("address to listen on"))
    serve.add_argument(
        "--port", type=int, help=_("port to listen on (default: ssh 2222, web 8080)")
    )
    serve.add_argument(
        "--public-host",
        help=_("ssh: host name that people type (in the file commands and the e-mails)"),
    )
    serve.add_argument(
        "--files", metavar="DIR", help=_("folder for the session file areas (default: temporary)")
    )
    serve.add_argument(
        "--public-url",
        metavar="URL",
        help=_("web: the address people type, e.g. https://veilig.example.nl"),
    )
    serve.add_argument(
        "--desk", action="store_true", help=_("web: also serve the staff desk, to loopback only")
    )
    serve.add_argument(
        "--behind-proxy",
        action="store_true",
        help=_("web: a reverse proxy on this host passes X-Forwarded-For"),
    )

    from tui import admin, evidence_cli

    admin.add_parsers(sub, _command)  # staff, recover, mailbox

    evidence_cli.add_parsers(sub, _command)  # audit, purge, retention, keys, verify, proof, …

    outbox = _command(sub, "outbox", _("deliver queued e-mail and SMS now"))
    outbox.add_argument("--watch", action="store_true", help=_("keep delivering until stopped"))

    backup = _command(
        sub, "backup", _("copy database and sealed files into a new folder, while running")
    )
    backup.add_argument("dest", metavar="DEST", help=_("a new or empty folder"))
    backup.add_argument(
        "--server-key",
        metavar="FILE",
        help=_("also copy server.key to this file, outside DEST: keep it apart"),
    )

    restore = _command(sub, "restore", _("bring a backup back into a new home"))
    restore.add_argument("src", metavar="SRC", help=_("the folder `veilig backup` made"))
    restore.add_argument(
        "--server-key",
        metavar="FILE",
        required=True,
        help=_("the server.key kept apart from the backup"),
    )

    demo = _command(sub, "demo", _("play the seed's walkthrough on a throwaway demo home"))
    demo.add_argument("--home", help=_("keep the demo home here instead of a temporary folder"))
    demo.add_argument("--headless", action="store_true", help=_("run without a terminal"))
    demo.add_argument("--screenshots", metavar="DIR", help=_("save an SVG per screenshot step"))
    demo.add_argument("--script", action="append", metavar="FILE", help=_("play this walkthrough"))
    demo.add_argument(
        "--speed", type=float, default=1.0, help=_("2 = twice as fast; 0 = no pauses")
    )
    return parser


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
    when the app ends."""
    _require_terminal()
    gc.disable()
    try:
        from tui import factory

        app = make(factory)
        app.after_first_frame(gc.enable)
        factory.log_to_file(settings)
        app.run()
    finally:
        gc.enable()
    return 0


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


def _dialog_args(argv: Sequence[str]) -> argparse.Namespace | None:
    """``veilig [--lang L] start|guest``, ``open [REFERENCE]`` or ``desk [--email E]``,
    read without the whole parser: the namespace the parser would make, or None for
    anything else (help, another command, another spelling, a mistake), which then goes
    through the parser as ever, with its messages."""
    words = list(argv)
    lang = None
    if words[:1] == ["--lang"] and len(words) >= 2 and not words[1].startswith("-"):
        lang, words = words[1], words[2:]
    if not words:
        return None
    command, rest = words[0], words[1:]
    if command == "desk" and len(rest) == 2 and rest[0] == "--email":
        email, rest = rest[1], []
        if email.startswith("-"):
            return None
    else:
        email = ""
    if any(w.startswith("-") for w in rest):
        return None
    args = argparse.Namespace(lang=lang, command=command)
    if command in ("start", "guest", "desk") and not rest:
        if command == "desk":
            args.email = email
        return args
    if command == "open" and len(rest) <= 1:
        args.reference = rest[0] if rest else None
        return args
    return None


def main(argv: Sequence[str] | None = None) -> int:
    # Everything veilig writes (database, WAL, logs, Maildir, SMS log) is for this user only.
    os.umask(0o077)
    settings = Settings.from_env()
    args = _dialog_args(sys.argv[1:] if argv is None else argv)
    if args is not None:
        use_language(_language(args, settings))
    else:
        # The language first: the help texts of the parser are translated too.
        early = argparse.ArgumentParser(add_help=False)
        early.add_argument("--lang")
        use_language(_language(early.parse_known_args(argv)[0], settings))
        args = _parser().parse_args(argv)
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
