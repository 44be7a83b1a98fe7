"""bindings, pins and lockout (issue 21)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00

New columns: the mailbox public key's pin, each message's binding format and origin
tag, each invitation's own expiry, and the lockout counters of staff and recipients.

Existing rows are brought to the new formats here, which needs ``server.key``: the
composition root hands it in (``storage.db.upgrade(engine, secret)``). Without it an
upgrade of a database that holds rows stops with a clear error instead of leaving
them unopenable. What this trusts is the database *as it is* at the upgrade: the pin,
the origin tags and the new share bindings vouch for the rows found then (a staff
log-in afterwards checks the pinned public key against the mailbox key itself).

- mailbox: the public key is pinned (core.pins.mailbox_pin);
- participant: the sealed contact record gains the method and the conversation;
- invitation: its own expiry (the participant's, as it was), and the share re-sealed
  bound to invitation, participant, conversation, method and that expiry; the share
  of a revoked person, or of a notification that never went out, is destroyed;
- message: format 1 (the content key bound to the message id only) and its origin tag;
- outbox: a payload of a mail that finally failed is wiped.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import context, op

import storage.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TIME = storage.tables.UtcDateTime()


def upgrade() -> None:
    # Columns are added NOT NULL with a default that the data step below overwrites:
    # making them NOT NULL afterwards would copy the tables on SQLite, which foreign
    # keys refuse inside the migration's transaction. The defaults fail safe: an empty
    # pin or origin tag does not match, an expiry of 1970 has passed.
    empty = sa.text("X''" if op.get_bind().dialect.name == "sqlite" else "''::bytea")
    long_ago = sa.text("'1970-01-01 00:00:00'")
    # op.add_column, not batch: ALTER TABLE ADD COLUMN, never a copy of the table.
    op.add_column(
        "mailbox",
        sa.Column("public_key_mac", sa.LargeBinary(), nullable=False, server_default=empty),
    )
    zero = sa.text("0")
    op.add_column(
        "staff", sa.Column("failed_logins", sa.Integer(), nullable=False, server_default=zero)
    )
    op.add_column("staff", sa.Column("locked_at", _TIME, nullable=True))
    op.add_column(
        "participant",
        sa.Column("code_failures", sa.Integer(), nullable=False, server_default=zero),
    )
    op.add_column("participant", sa.Column("locked_at", _TIME, nullable=True))
    op.add_column(
        "invitation", sa.Column("expires_at", _TIME, nullable=False, server_default=long_ago)
    )
    op.create_index(
        op.f("ix_invitation_notice_outbox_id"), "invitation", ["notice_outbox_id"], unique=False
    )
    op.add_column(
        "message",
        sa.Column("binding_format", sa.Integer(), nullable=False, server_default=sa.text("1")),
    )
    op.add_column(
        "message",
        sa.Column("origin_mac", sa.LargeBinary(), nullable=False, server_default=empty),
    )

    _bring_rows_to_format_2(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("origin_mac")
        batch_op.drop_column("binding_format")
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invitation_notice_outbox_id"))
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("participant", schema=None) as batch_op:
        batch_op.drop_column("locked_at")
        batch_op.drop_column("code_failures")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("locked_at")
        batch_op.drop_column("failed_logins")
    with op.batch_alter_table("mailbox", schema=None) as batch_op:
        batch_op.drop_column("public_key_mac")


# --- the rows ------------------------------------------------------------------------

_mailbox = sa.table(
    "mailbox",
    sa.column("id", sa.String()),
    sa.column("public_key", sa.LargeBinary()),
    sa.column("public_key_mac", sa.LargeBinary()),
)
_participant = sa.table(
    "participant",
    sa.column("id", sa.String()),
    sa.column("conversation_id", sa.String()),
    sa.column("contact_sealed", sa.LargeBinary()),
    sa.column("method", sa.String()),
    sa.column("expires_at", _TIME),
    sa.column("revoked_at", _TIME),
)
_invitation = sa.table(
    "invitation",
    sa.column("id", sa.String()),
    sa.column("participant_id", sa.String()),
    sa.column("share_sealed", sa.LargeBinary()),
    sa.column("notice_outbox_id", sa.String()),
    sa.column("expires_at", _TIME),
)
_message = sa.table(
    "message",
    sa.column("id", sa.String()),
    sa.column("conversation_id", sa.String()),
    sa.column("direction", sa.String()),
    sa.column("author_id", sa.String()),
    sa.column("attachment_count", sa.Integer()),
    sa.column("wrapped_key", sa.LargeBinary()),
    sa.column("binding_format", sa.Integer()),
    sa.column("origin_mac", sa.LargeBinary()),
)
_outbox = sa.table(
    "outbox",
    sa.column("id", sa.String()),
    sa.column("status", sa.String()),
    sa.column("sealed_payload", sa.LargeBinary()),
)


def _bring_rows_to_format_2(bind: sa.Connection) -> None:
    rows = {
        name: bind.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        for name, table in (("mailbox", _mailbox), ("participant", _participant))
    }
    rows["message"] = bind.execute(sa.select(sa.func.count()).select_from(_message)).scalar_one()
    if not any(rows.values()):
        return
    secret = context.config.attributes.get("server_secret")
    if secret is None:
        raise RuntimeError(
            "This upgrade re-seals existing rows and needs server.key: run veilig with "
            "VEILIG_HOME set to this database's home (not alembic by hand)."
        )
    from core import labels
    from core.errors import CannotOpen
    from core.pins import mailbox_pin, message_origin

    for mailbox in bind.execute(sa.select(_mailbox)).mappings().all():
        pin = mailbox_pin(secret, mailbox["id"], mailbox["public_key"])
        bind.execute(
            _mailbox.update().where(_mailbox.c.id == mailbox["id"]).values(public_key_mac=pin)
        )

    failed_notices = {
        row.id for row in bind.execute(sa.select(_outbox.c.id).where(_outbox.c.status == "failed"))
    }
    bind.execute(_outbox.update().where(_outbox.c.status == "failed").values(sealed_payload=b""))

    participants: dict[str, Any] = {}
    for p in bind.execute(sa.select(_participant)).mappings().all():
        participants[p["id"]] = p
        try:
            record = json.loads(secret.open(p["contact_sealed"], labels.contact(p["id"])))
        except CannotOpen:
            continue  # already damaged: it stays so (its invitations then open nothing)
        record.update(v=2, method=p["method"], conversation_id=p["conversation_id"])
        sealed = secret.seal(json.dumps(record).encode(), labels.contact(p["id"]))
        bind.execute(
            _participant.update().where(_participant.c.id == p["id"]).values(contact_sealed=sealed)
        )

    for invitation in bind.execute(sa.select(_invitation)).mappings().all():
        p = participants[invitation["participant_id"]]
        expires_at: datetime = p["expires_at"].replace(microsecond=0)
        share_sealed = b""
        if p["revoked_at"] is None and invitation["notice_outbox_id"] not in failed_notices:
            try:
                share = secret.open(invitation["share_sealed"], labels.share(invitation["id"]))
            except CannotOpen:
                share = b""  # already damaged: destroyed rather than carried over
        else:
            share = b""
        if share:
            binding = labels.share_v2(
                invitation["id"],
                p["id"],
                p["conversation_id"],
                p["method"],
                int(expires_at.timestamp()),
            )
            share_sealed = secret.seal(share, binding)
        bind.execute(
            _invitation.update()
            .where(_invitation.c.id == invitation["id"])
            .values(expires_at=expires_at, share_sealed=share_sealed)
        )

    for m in bind.execute(sa.select(_message)).mappings().all():
        origin = message_origin(
            secret,
            message_id=m["id"],
            conversation_id=m["conversation_id"],
            direction=m["direction"],
            author_id=m["author_id"],
            attachment_count=m["attachment_count"],
            binding_format=1,
            wrapped_key=m["wrapped_key"],
        )
        bind.execute(
            _message.update()
            .where(_message.c.id == m["id"])
            .values(binding_format=1, origin_mac=origin)
        )
