"""The one composition root: settings in, a wired core ``Context`` out.

Used by the CLI, the TUI and the tests alike. Nothing here runs at import time.
"""

from __future__ import annotations

from core.clock import Clock, utc_now
from core.context import Context
from core.errors import NotInitialised
from core.policy import DEFAULT_POLICY, Policy
from core.server_secret import FILE_NAME, ServerSecret
from core.setup import InitResult, initialise
from core.transports import EmailTransport, email_transport
from core.config import Settings
from storage.blobs import FileBlobStore
from storage.db import make_engine, upgrade
from storage.repository import SqlRepository


def _repository(settings: Settings) -> SqlRepository:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return SqlRepository(engine)


def make_context(
    settings: Settings,
    *,
    policy: Policy = DEFAULT_POLICY,
    clock: Clock = utc_now,
    email: EmailTransport | None = None,
) -> Context:
    if not (settings.home / FILE_NAME).exists():
        raise NotInitialised(f"{settings.home} is not set up yet: run `veilig init` first")
    return Context(
        repo=_repository(settings),
        blobs=FileBlobStore(settings.blob_dir),
        secret=ServerSecret.load(settings.home),
        email=email or email_transport(settings.smtp_url, settings.maildir),
        policy=policy,
        clock=clock,
    )


def init_home(
    settings: Settings,
    *,
    org_name: str,
    mailbox: str,
    staff_email: str,
    password: str,
    policy: Policy = DEFAULT_POLICY,
    clock: Clock = utc_now,
) -> InitResult:
    settings.ensure_home()
    repo = _repository(settings)
    with repo.transaction() as tx:
        if tx.organisation() is not None:
            from core.errors import AlreadyInitialised

            raise AlreadyInitialised(f"{settings.home} already has an organisation")
    path = settings.home / FILE_NAME
    secret = ServerSecret.load(settings.home) if path.exists() else ServerSecret.create(settings.home)
    return initialise(
        repo=repo,
        secret=secret,
        policy=policy,
        clock=clock,
        org_name=org_name,
        mailbox_address=mailbox,
        staff_email=staff_email,
        password=password,
    )
