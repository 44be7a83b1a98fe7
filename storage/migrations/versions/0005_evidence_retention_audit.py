"""evidence: retention, holds, the audit log's NEN 7513 fields, proof of delivery (issue 18)

Revision ID: 0005_evidence_retention_audit
Revises: 0004
Create Date: 2026-12-05 10:00:00

- organisation: its retention period in days (NULL: the policy's default);
- conversation: the pseudonym of its person (``subject_tag``), "" for those before;
- hold: conversations staff keep from the purge, with a sealed reason;
- invitation: the message it announced, for the proof of delivery;
- audit: about whom (``subject``), from which client or host, the outcome, and the
  entry's version (1 for the entries before, whose MAC covers none of these); indexes
  for the filters of ``veilig audit show``;
- outbox: which server accepted a mail, for the proof of delivery.

Columns are added with ALTER TABLE ADD COLUMN (never a copy of a table, which foreign
keys refuse inside the migration's transaction on SQLite), NOT NULL with a default.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.tables

revision = "0005_evidence_retention_audit"
down_revision = "0004"
branch_labels = None
depends_on = None

_TIME = storage.tables.UtcDateTime()
_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    empty = sa.text("''")
    op.add_column("organisation", sa.Column("retention_days", sa.Integer(), nullable=True))
    op.add_column(
        "conversation", sa.Column("subject_tag", _TEXT(), nullable=False, server_default=empty)
    )
    op.create_index(
        op.f("ix_conversation_subject_tag"), "conversation", ["subject_tag"], unique=False
    )
    op.create_table(
        "hold",
        sa.Column("conversation_id", _TEXT(), nullable=False),
        sa.Column("reason_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("placed_by", _TEXT(), nullable=False),
        sa.Column("placed_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_hold_conversation_id_conversation"),
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_hold")),
    )
    op.add_column("invitation", sa.Column("message_id", _TEXT(), nullable=True))
    op.add_column("audit", sa.Column("subject", _TEXT(), nullable=False, server_default=empty))
    op.add_column("audit", sa.Column("client", _TEXT(), nullable=False, server_default=empty))
    op.add_column("audit", sa.Column("outcome", _TEXT(), nullable=False, server_default=empty))
    op.add_column(
        "audit", sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1"))
    )
    op.create_index(op.f("ix_audit_action"), "audit", ["action"], unique=False)
    op.create_index(op.f("ix_audit_conversation_id"), "audit", ["conversation_id"], unique=False)
    op.create_index(op.f("ix_audit_subject"), "audit", ["subject"], unique=False)
    op.add_column("outbox", sa.Column("accepted_by", _TEXT(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("accepted_by")
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_subject"))
        batch_op.drop_index(batch_op.f("ix_audit_conversation_id"))
        batch_op.drop_index(batch_op.f("ix_audit_action"))
        batch_op.drop_column("version")
        batch_op.drop_column("outcome")
        batch_op.drop_column("client")
        batch_op.drop_column("subject")
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_column("message_id")
    op.drop_table("hold")
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_subject_tag"))
        batch_op.drop_column("subject_tag")
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_column("retention_days")
