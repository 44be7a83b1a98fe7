"""each conversation's sealed heading (issue 16): the inbox's rows at one AES-GCM each

Revision ID: 0008_conversation_heading
Revises: 0007_team_desk
Create Date: 2026-12-01 11:00:00

- conversation: ``heading``, who wrote the first message and its subject, sealed under
  a key of the mailbox key (core.heading); empty until the desk's index round writes it.

A migration cannot write headings (it has no mailbox key), so existing conversations
are marked not indexed: the first desk to log in indexes them again in the background
(core.search.index_pending), headings included; until then their rows open the first
message as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_conversation_heading"
down_revision = "0007_team_desk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ALTER TABLE ADD COLUMN with a default, never a copy of the table (see 0004).
    empty = sa.text("X''" if op.get_bind().dialect.name == "sqlite" else "''::bytea")
    op.add_column(
        "conversation",
        sa.Column("heading", sa.LargeBinary(), nullable=False, server_default=empty),
    )
    op.execute(sa.text("UPDATE conversation SET indexed_under = :empty").bindparams(empty=b""))


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_column("heading")
