"""Everything a core service needs, built once by the composition root (``tui.factory``)."""

from __future__ import annotations

from dataclasses import dataclass

from core.clock import Clock, utc_now
from core.codes import CodeIssuer
from core.errors import NotInitialised
from core.models import Mailbox, Organisation
from core.outbox import Outbox
from core.policy import DEFAULT_POLICY, Policy
from core.ports import BlobStore, Repository, Transaction
from core.server_secret import ServerSecret
from core.transports import EmailTransport


@dataclass
class Context:
    repo: Repository
    blobs: BlobStore
    secret: ServerSecret
    email: EmailTransport
    policy: Policy = DEFAULT_POLICY
    clock: Clock = utc_now

    @property
    def codes(self) -> CodeIssuer:
        return CodeIssuer(self.policy, self.secret, self.clock)

    @property
    def outbox(self) -> Outbox:
        return Outbox(self.repo, self.secret, self.email, self.policy, self.clock)


def require_organisation(tx: Transaction) -> tuple[Organisation, Mailbox]:
    org, mailbox = tx.organisation(), tx.mailbox()
    if org is None or mailbox is None:
        raise NotInitialised("no organisation here yet: run `veilig init`")
    return org, mailbox
