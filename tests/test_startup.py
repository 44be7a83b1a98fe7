"""Start-up: the first question is on screen before the database proper is opened."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.policy import Policy
from storage.peek import organisation_name
from tests.conftest import SmtpServer, make_settings
from tests.tui_helpers import screen_text, settle, wait_for_workers
from tui.factory import OpenLater, make_context, make_starter_app


def test_the_organisation_name_is_read_without_sqlalchemy(home: Path, tmp_path: Path) -> None:
    assert organisation_name(make_settings(home).database_url) == "DeclaCare"
    # Anything else: None, and the caller opens the database the normal way.
    assert organisation_name(f"sqlite:///{tmp_path / 'none.db'}") is None
    assert organisation_name("postgresql+psycopg://u@db/veilig") is None
    assert organisation_name("sqlite://") is None


async def test_the_starter_asks_first_and_opens_the_database_in_a_worker(
    home: Path, policy: Policy, smtp_server: SmtpServer
) -> None:
    settings = make_settings(home, smtp_server.url)
    app = make_starter_app(settings)
    assert isinstance(app.ctx.repo, OpenLater)
    async with app.run_test(size=(110, 40)) as pilot:
        await settle(pilot)
        assert "What is your name?" in screen_text(app)
        await wait_for_workers(pilot, "warm-up")
        assert app.ctx.repo._repo is not None  # the warm-up opened it
        # and it is the real database: a transaction sees the organisation
        with app.ctx.repo.transaction() as tx:
            org = tx.organisation()
        assert org is not None and org.name == "DeclaCare"


def test_a_transaction_before_the_warm_up_waits_for_the_opening(home: Path) -> None:
    ctx = make_context(make_settings(home), open_later=True)
    assert isinstance(ctx.repo, OpenLater)

    async def both() -> list[str]:
        def name() -> str:
            with ctx.repo.transaction() as tx:
                return tx.organisation().name  # type: ignore[union-attr]

        return await asyncio.gather(asyncio.to_thread(name), asyncio.to_thread(name))

    assert asyncio.run(both()) == ["DeclaCare", "DeclaCare"]


# What the first question must not wait for: the database layer (opened in the warm-up,
# after the first frame), the staff log-in's password and TOTP checks, the inbox's table,
# and the libraries the later answers need (imported in the warm-up too).
NOT_BEFORE_THE_FIRST_QUESTION = (
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "storage.db",
    "storage.repository",
    "argon2",
    "pyotp",
    "phonenumbers",
    "email_validator",
    "aiosmtplib",
    "core.desk",
    "core.login",
    "tui.desk.inbox",
    "textual.widgets._data_table",
    # Sealing, keys and the models: a guest's name, a reference and the log-in form need
    # none (core.drafts holds the plain types; core.starter, core.recipient, core.contact
    # and the chat screens import the rest in the steps that use it).
    "cryptography",
    "core.sealing",
    "core.store",
    "core.stream",
    "core.keys",
    "core.pipeline",
    "core.pins",
    "core.receipt",
    "core.access",
    "core.codes",
    "core.audit",
    "core.models",
    "core.records",
    # The text area is made when a message is written (tui.text_area); the key bar is
    # mounted after the first frame (tui.widgets.footer_after_first_frame).
    "textual.widgets._text_area",
    "textual.document",
    "tui.text_area",
    "textual.widgets._footer",
    "textual.widgets._progress_bar",
    # The CLI's other commands and --version's lookup (tui.cli_parser.dialog_args).
    "tui.admin",
    "tui.cli_ops",
    "tui.evidence_cli",
    "importlib.metadata",
)
# The staff log-in form needs no key and no dialog of the guests either.
NOT_BEFORE_THE_LOG_IN_FORM = ("core.starter", "core.recipient", "tui.chat", "tui.writing")

# The real CLI entry (tui.cli.main, as `veilig start` runs it) up to the first frame: the
# app is built by the factory and run headless; sys.modules is taken when the frame is
# written (VeiligApp.after_first_frame), before what waits for it (key bar, warm-up).
_FIRST_QUESTION = """
import gc, json, sys
from textual.app import App
from tui import cli

which, home = sys.argv[1], sys.argv[2]
seen = {}


def first_frame(app) -> None:
    seen["modules"] = sorted(sys.modules)
    seen["gc during start-up"] = gc.isenabled()
    seen["footer at the first frame"] = bool(app.screen.query("Footer"))
    seen["log-in button at the first frame"] = bool(app.screen.query("#login-button"))


async def pilot(pilot) -> None:
    app = pilot.app
    await pilot.pause()
    while not app.first_frame_shown:
        await pilot.pause()
    await pilot.pause()
    seen["gc after the first frame"] = gc.isenabled()
    seen["objects frozen at the first frame"] = gc.get_freeze_count()
    seen["footer after the first frame"] = bool(app.screen.query("Footer"))
    seen["log-in button after the first frame"] = bool(app.screen.query("#login-button"))
    app.exit()


def run(self, **kwargs) -> None:
    self.warm_up = None  # the warm-up imports the database layer: not what is measured
    self._after_first_frame.insert(0, lambda: first_frame(self))
    App.run(self, headless=True, size=(120, 40), auto_pilot=pilot)


cli._require_terminal = lambda: None
from tui.app import VeiligApp

VeiligApp.run = run
import os

os.environ["VEILIG_HOME"] = home
assert cli.main([which]) == 0
seen["gc after the app"] = gc.isenabled()
print(json.dumps(seen))
"""


@pytest.mark.parametrize("which", ["start", "open", "desk"])
def test_the_first_question_imports_no_database_and_no_inbox(home: Path, which: str) -> None:
    """Guards the lazy imports: a module-level import of any of these in a screen, in
    the core services the first screen uses or in the CLI makes every start-up wait for
    it. Checked that it fails with `import core.desk` in tui/desk/login.py, `from
    core.sealing import Draft` in tui/writing.py, `from textual.widgets import TextArea`
    in tui/widgets.py, `yield Footer()` in the chat's compose, `from core.models import
    Method` in core/contact.py and `from tui import admin` in tui/cli.py."""
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_QUESTION, which, str(home)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
        env={k: v for k, v in os.environ.items() if not k.startswith("VEILIG_")},
    ).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    loaded = set(seen["modules"])
    assert "tui.app" in loaded and "textual.widgets._input" in loaded  # the probe ran
    forbidden = NOT_BEFORE_THE_FIRST_QUESTION
    if which == "desk":
        forbidden += NOT_BEFORE_THE_LOG_IN_FORM
    early = [
        m for m in sorted(loaded) if any(m == bad or m.startswith(bad + ".") for bad in forbidden)
    ]
    assert early == []
    # The key bar waits for the first frame, and comes right after it.
    assert not seen["footer at the first frame"]
    assert seen["footer after the first frame"]
    if which == "desk":  # the log-in form's button comes with it (~8 ms of CSS)
        assert not seen["log-in button at the first frame"]
        assert seen["log-in button after the first frame"]
    # No garbage collection while starting (tui.cli._run_dialog), and on again after.
    assert seen["gc during start-up"] is False
    assert seen["gc after the first frame"] is True
    # Start-up's objects (Textual, the screens: about 48,000 tracked) out of the full passes.
    assert seen["objects frozen at the first frame"] > 20_000
    assert seen["gc after the app"] is True


_COMMAND_LINES = [
    ["start"],
    ["guest"],
    ["open"],
    ["open", "NGOW-6KHW-AAAA"],
    ["open", ""],
    ["desk"],
    ["desk", "--email", "anna@declacare.nl"],
    ["desk", "--email", ""],
    ["--lang", "nl", "start"],
    ["--lang", "en", "open", "NGOW-6KHW-AAAA"],
    ["--lang", "nl", "desk", "--email", "anna@declacare.nl"],
]


@pytest.mark.parametrize("argv", _COMMAND_LINES, ids=" ".join)
def test_the_dialog_commands_are_read_as_the_parser_reads_them(argv: list[str]) -> None:
    """tui.cli_parser.dialog_args skips building the whole parser for the dialogs: it must
    make exactly the namespace the parser makes."""
    from tui import cli_parser

    assert cli_parser.dialog_args(argv) == cli_parser.parser().parse_args(argv)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["start", "--help"],
        ["-h"],
        ["--version"],
        ["start", "extra"],
        ["open", "a", "b"],
        ["open", "--email", "x"],
        ["open", "-x"],
        ["open", "--", "REF"],
        ["desk", "--email"],
        ["desk", "--email", "--lang"],
        ["desk", "--email=anna@declacare.nl"],
        ["desk", "--em", "anna@declacare.nl"],
        ["desk", "anna@declacare.nl"],
        ["start", "--lang", "nl"],
        ["--lang", "start"],
        ["--lang=nl", "start"],
        ["--lang", "nl"],
        ["init", "--org", "X", "--mailbox", "m@x.nl", "--staff", "s@x.nl"],
        ["outbox"],
        ["audit", "verify"],
    ],
    ids=lambda argv: " ".join(argv) or "(none)",
)
def test_anything_else_goes_through_the_parser(argv: list[str]) -> None:
    from tui import cli_parser

    assert cli_parser.dialog_args(argv) is None


def test_the_cli_names_every_evidence_command_without_importing_them() -> None:
    from tui import cli, cli_parser, evidence_cli

    assert sorted(cli.EVIDENCE_COMMANDS) == sorted(evidence_cli.COMMANDS)
    parser_commands = cli_parser.parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert sorted(cli.COMMANDS) == sorted(parser_commands)
