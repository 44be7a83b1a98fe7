"""Everything a core service needs, built once by the composition root (``tui.factory``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.clock import Clock, utc_now
from core.errors import NotInitialised
from core.i18n import _
from core.mail import WaysIn
from core.policy import DEFAULT_POLICY, Policy

if TYPE_CHECKING:
    # Only for the annotations: the services are imported where they are made, so that
    # the first question of every dialog (which imports this module) does not wait for
    # the audit log, the outbox, the attachment pipeline and their cryptography
    # (docs/PERFORMANCE.md, start-up; tests/test_startup.py guards it).
    from core.attachments import Attachment
    from core.audit import AuditLog
    from core.codes import CodeIssuer
    from core.models import Mailbox, Organisation
    from core.outbox import Outbox
    from core.ports import BlobStore, Repository, StaffRecords
    from core.sealing import OpenedMessage
    from core.server_secret import ServerSecret
    from core.sms import SmsTransport
    from core.stream import ContentKey
    from core.transfer import TransferArea
    from core.transports import EmailTransport


@dataclass
class Context:
    repo: Repository
    blobs: BlobStore
    secret: ServerSecret
    email: EmailTransport
    sms: SmsTransport
    policy: Policy = DEFAULT_POLICY
    clock: Clock = utc_now
    home: Path | None = None  # the data directory: its files are never attachments
    # Over SSH: this session's file area, the only place files come from and go to.
    transfer: TransferArea | None = None
    # The web and SSH addresses that e-mails to outside people name (VEILIG_PUBLIC_URL/SSH).
    ways_in: WaysIn = field(default_factory=WaysIn)
    # Which client or host the audit log names for this process (core.config).
    client: str = ""
    # Where the audit head is kept; unset: ``audit.head`` in the home.
    audit_head: Path | None = None

    @property
    def audit(self) -> AuditLog:
        from core.audit import AuditLog

        head = self.audit_head or (self.home / "audit.head" if self.home else None)
        return AuditLog(self.secret, self.clock, head, self.client)

    def attachment(self, path: Path) -> Attachment:
        from core.attachments import Attachment

        if self.transfer is None:
            return Attachment.from_path(path, self.policy, protected=self.home)
        real = self.transfer.upload_path(path)
        return Attachment.from_path(
            real, self.policy, protected=self.home, shown=self.transfer.shown(real)
        )

    def save_attachment(
        self,
        actor: str,
        opened: OpenedMessage,
        key: ContentKey,
        position: int,
        folder: Path,
    ) -> Path:
        """Save one attachment in ``folder`` (safe name, never over a file, never in the
        data directory; over SSH only in the session's download folder) and note it in
        the audit log."""
        from core.audit import Action
        from core.saving import save_attachment_in

        if self.transfer is not None:
            self.transfer.check_download_folder(folder)
        path = save_attachment_in(
            blobs=self.blobs,
            key=key,
            opened=opened,
            position=position,
            folder=folder,
            protected=self.home,
        )
        with self.repo.transaction() as tx:
            self.audit.append(tx, actor, Action.ATTACHMENT_SAVED, opened.message.conversation_id)
        return path

    def sweep_orphan_blobs(self) -> int:
        """Remove ciphertext no message refers to (a send killed before it committed)."""
        with self.repo.transaction() as tx:
            keep = tx.blob_ids()
        return self.blobs.sweep(keep, self.clock() - self.policy.orphan_blob_grace)

    @property
    def codes(self) -> CodeIssuer:
        from core.codes import CodeIssuer

        return CodeIssuer(self.policy, self.secret, self.clock)

    @property
    def outbox(self) -> Outbox:
        from core.outbox import Outbox

        return Outbox(
            self.repo, self.secret, self.email, self.sms, self.policy, self.clock, self.audit
        )


def require_organisation(tx: StaffRecords) -> tuple[Organisation, Mailbox]:
    org, mailbox = tx.organisation(), tx.mailbox()
    if org is None or mailbox is None:
        raise NotInitialised(_("There is no organisation here yet: run `veilig init` first."))
    return org, mailbox
