"""How ``veilig`` reads its command line: the whole parser (every command, its help in
the chosen language), and the short way for the dialogs that people start most
(``start``, ``open``, ``desk``, ``guest``), which must not wait for the parser to be
built (docs/PERFORMANCE.md, start-up)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from core.i18n import _


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


def parser() -> argparse.ArgumentParser:
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


def dialog_args(argv: Sequence[str]) -> argparse.Namespace | None:
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
