"""The one composition root: settings in, a wired core ``Context`` out.

Used by the CLI, the TUI and the tests alike. Nothing here runs at import time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from core.clock import Clock, utc_now
from core.config import Settings
from core.context import Context
from core.errors import AlreadyInitialised, NotInitialised
from core.i18n import _
from core.mail import WaysIn
from core.policy import DEFAULT_POLICY, Policy
from core.server_secret import FILE_NAME, ServerSecret
from core.sms import sms_transport
from core.transports import EmailTransport, email_transport
from storage.blobs import FileBlobStore

if TYPE_CHECKING:
    from textual.screen import Screen

    from core.ports import Transaction
    from core.setup import InitResult
    from storage.repository import SqlRepository
    from tui.app import VeiligApp


def _repository(settings: Settings) -> SqlRepository:
    # Imported here: SQLAlchemy, SQLModel and Alembic take longer to import than Textual,
    # and the screens can show their first question without them (see OpenLater).
    from storage.db import make_engine, upgrade
    from storage.repository import SqlRepository

    engine = make_engine(settings.database_url)
    # Upgrades that re-seal rows need server.key (storage/migrations 0004); a home not
    # set up yet has none, and no rows either.
    key_file = settings.home / FILE_NAME
    upgrade(engine, ServerSecret.load(settings.home) if key_file.exists() else None)
    return SqlRepository(engine)


class OpenLater:
    """The SQL repository, opened (imported, connected, migrated) on first use or by
    ``open()`` in a worker once the first screen is up, whichever comes first.

    A transaction asked for before then waits for the opening; it is never skipped.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._repo: SqlRepository | None = None
        self._lock = threading.Lock()

    def open(self) -> SqlRepository:
        with self._lock:
            if self._repo is None:
                self._repo = _repository(self.settings)
            return self._repo

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self.open().transaction() as tx:
            yield tx

    def scrub(self) -> None:
        self.open().scrub()


def make_context(
    settings: Settings,
    *,
    policy: Policy = DEFAULT_POLICY,
    clock: Clock = utc_now,
    email: EmailTransport | None = None,
    open_later: bool = False,
) -> Context:
    """The wired core. ``open_later``: the database opens on first use (or when the
    app's warm-up opens it) instead of now."""
    if not (settings.home / FILE_NAME).exists():
        raise NotInitialised(
            _("{home} is not set up yet: run `veilig init` first.").format(home=settings.home)
        )
    _require_shared(settings)
    return Context(
        repo=OpenLater(settings) if open_later else _repository(settings),
        blobs=FileBlobStore(settings.blob_dir),
        secret=ServerSecret.load(settings.home),
        email=email or email_transport(settings.smtp_url, settings.maildir),
        sms=sms_transport(settings.sms_url, settings.sms_log),
        policy=policy,
        clock=clock,
        home=settings.home,
        transfer=settings.transfer,
        ways_in=WaysIn(web=settings.public_url, ssh=settings.public_ssh_route()),
        client=settings.audit_client,
        audit_head=settings.audit_head,
    )


def _require_shared(settings: Settings) -> None:
    """With several hosts the sealed files and the audit head live in ``VEILIG_SHARED``.
    A folder that is not there (not mounted) stops veilig here: otherwise every commit's
    head write fails aside (logged only), so no host would notice a deleted audit tail."""
    if settings.shared is not None and not settings.shared.is_dir():
        raise NotInitialised(
            _(
                "The shared folder {folder} (VEILIG_SHARED) is not there. Mount it, or "
                "create it for veilig's user, and try again."
            ).format(folder=settings.shared)
        )


def is_initialised(settings: Settings) -> bool:
    if not (settings.home / FILE_NAME).exists():
        return False
    with _repository(settings).transaction() as tx:
        return tx.organisation() is not None


def init_home(
    settings: Settings,
    *,
    org_name: str,
    mailbox: str,
    staff_email: str,
    password: str,
    staff_name: str = "",
    policy: Policy = DEFAULT_POLICY,
    clock: Clock = utc_now,
    show: Callable[[InitResult], None] | None = None,
) -> InitResult:
    """Set up the organisation in ``settings.home``; the audit log names the operator
    at this shell as who did it."""
    _require_shared(settings)
    settings.ensure_home()
    if is_initialised(settings):
        raise AlreadyInitialised(
            _("{home} already has an organisation.").format(home=settings.home)
        )
    from core.audit import AuditLog
    from core.setup import initialise
    from tui.cli_login import operator_name

    repo = _repository(settings)
    path = settings.home / FILE_NAME
    secret = (
        ServerSecret.load(settings.home) if path.exists() else ServerSecret.create(settings.home)
    )
    return initialise(
        repo=repo,
        secret=secret,
        audit=AuditLog(secret, clock, settings.audit_head, settings.audit_client),
        actor=operator_name(),
        policy=policy,
        clock=clock,
        org_name=org_name,
        mailbox_address=mailbox,
        staff_email=staff_email,
        staff_name=staff_name,
        password=password,
        show=show,
    )


DEMO_PASSWORD = "demo-password-1234"  # noqa: S105 - a throwaway demo home, printed on exit


def make_demo_home(
    home: str | None = None, *, policy: Policy = DEFAULT_POLICY
) -> tuple[Settings, str]:
    """A fresh home with the embedded defaults (Maildir, SMS file) and a demo organisation.

    Returns the settings and the demo staff member's TOTP secret (kept in the demo home,
    which is throwaway: a real home never stores it).
    """
    import tempfile
    from pathlib import Path

    path = Path(home) if home else Path(tempfile.mkdtemp(prefix="veilig-demo-"))
    settings = Settings(home=path, database_url=f"sqlite:///{path / 'veilig.db'}")
    secret_file = path / "demo-totp-secret"
    if not is_initialised(settings):
        result = init_home(
            settings,
            org_name="DeclaCare",
            mailbox="info@declacare.example",
            staff_email="desk@declacare.example",
            password=DEMO_PASSWORD,
            policy=policy,
        )
        secret_file.write_text(result.totp_secret)
    return settings, secret_file.read_text().strip()


def log_to_file(settings: Settings) -> None:
    """While a TUI runs, log lines go to a file: on stderr they would tear the screen."""
    import logging

    settings.ensure_home()
    handler = logging.FileHandler(settings.home / "veilig.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # Alembic says INFO for every check of the schema at start-up: that is all the log
    # held. Its warnings and errors still come.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _quick_context(settings: Settings, ctx: Context | None) -> tuple[Context, str, bool]:
    """The context and the organisation's name for a TUI, as fast as possible.

    The first question needs only the name. On SQLite it is read with the standard
    library, and the database proper opens in the app's warm-up, after the first
    screen is drawn. Anywhere else (PostgreSQL, a home that is not set up, a given
    context) the database opens first, as it always did.
    """
    if ctx is None:
        from storage.peek import organisation_name

        name = organisation_name(settings.database_url)
        if name is not None:
            return make_context(settings, open_later=True), name, True
        ctx = make_context(settings)
    from core.starter import Starter  # here: the log-in form needs none of it

    return ctx, Starter(ctx).organisation_name(), False


def _app(ctx: Context, screen: Screen[None], warm_up: bool) -> VeiligApp:
    from tui.app import VeiligApp

    repo = ctx.repo
    if not (warm_up and isinstance(repo, OpenLater)):
        return VeiligApp(ctx, screen)

    def warm() -> None:
        repo.open()
        # What the first answers need, imported now rather than when they are typed.
        import urllib.request  # noqa: F401

        import aiosmtplib  # noqa: F401
        import email_validator  # noqa: F401
        import phonenumbers  # noqa: F401

        # The core services that the first question did without (tests/test_startup.py):
        # the codes, the access checks, the models, and the sealing with cryptography.
        import core.access
        import core.codes
        import core.store  # noqa: F401

    return VeiligApp(ctx, screen, warm_up=warm)


def make_starter_app(settings: Settings, *, ctx: Context | None = None) -> VeiligApp:
    from core.starter import Starter
    from tui.starter import StarterScreen

    ctx, org_name, later = _quick_context(settings, ctx)
    return _app(ctx, StarterScreen(Starter(ctx), org_name), later)


def make_recipient_app(
    settings: Settings, *, ctx: Context | None = None, reference: str | None = None
) -> VeiligApp:
    from core.recipient import Recipient
    from tui.recipient import RecipientScreen

    ctx, org_name, later = _quick_context(settings, ctx)
    return _app(ctx, RecipientScreen(Recipient(ctx), org_name, reference), later)


def make_desk_app(settings: Settings, *, ctx: Context | None = None, email: str = "") -> VeiligApp:
    from tui.desk.login import LoginScreen

    ctx, org_name, later = _quick_context(settings, ctx)
    return _app(ctx, LoginScreen(ctx, org_name, email), later)


def make_guest_app(settings: Settings, *, ctx: Context | None = None) -> VeiligApp:
    """Over SSH as ``guest``: first a choice between writing to us and opening a message."""
    from tui.guest import GuestChoiceScreen

    ctx, org_name, later = _quick_context(settings, ctx)
    return _app(ctx, GuestChoiceScreen(ctx, org_name), later)
