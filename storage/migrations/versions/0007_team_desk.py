"""the desk as a team tool (issue 14): state, assignee, search index

Revision ID: 0007_team_desk
Revises: 0006_staff_lifecycle
Create Date: 2026-12-04 10:00:00

- conversation: ``state`` (open, waiting, closed), ``assignee_id`` (the staff member who
  took it) and ``indexed_under`` (the search key its index entries were made with;
  empty: not indexed yet), with the indexes of the inbox's views;
- search_token: the blind index, one keyed token per row (core.search).

Existing conversations become *waiting* when the newest message is the desk's, else
*open*, nobody's; none is indexed yet, so the first desk to log in indexes them all
(core.search.index_pending), newest first, in the background.

(The lead chains this after the staff-lifecycle revision 0005 at merge.)
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0007_team_desk"
down_revision = "0006_staff_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ALTER TABLE ADD COLUMN with defaults, never a copy of the table (see 0004).
    empty = sa.text("X''" if op.get_bind().dialect.name == "sqlite" else "''::bytea")
    op.add_column(
        "conversation",
        sa.Column(
            "state",
            sqlmodel.sql.sqltypes.AutoString(length=16),
            nullable=False,
            server_default="open",
        ),
    )
    op.add_column(
        "conversation",
        sa.Column("assignee_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    )
    op.add_column(
        "conversation",
        sa.Column("indexed_under", sa.LargeBinary(), nullable=False, server_default=empty),
    )
    op.create_index("ix_conversation_indexed_under", "conversation", ["indexed_under"])
    op.create_index("ix_conversation_state_last", "conversation", ["state", "last_message_at"])
    op.create_index(
        "ix_conversation_assignee_state_last",
        "conversation",
        ["assignee_id", "state", "last_message_at"],
    )
    op.create_table(
        "search_token",
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("conversation_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_search_token_conversation_id_conversation"),
        ),
        sa.PrimaryKeyConstraint("token", "conversation_id", name=op.f("pk_search_token")),
    )
    op.create_index(op.f("ix_search_token_conversation_id"), "search_token", ["conversation_id"])
    # Whose move it is, from the newest message of each conversation.
    op.execute(
        "UPDATE conversation SET state = 'waiting' WHERE ("
        " SELECT direction FROM message WHERE message.conversation_id = conversation.id"
        " ORDER BY created_at DESC LIMIT 1) = 'out'"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_search_token_conversation_id"), table_name="search_token")
    op.drop_table("search_token")
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_assignee_state_last")
        batch_op.drop_index("ix_conversation_state_last")
        batch_op.drop_index("ix_conversation_indexed_under")
        batch_op.drop_column("indexed_under")
        batch_op.drop_column("assignee_id")
        batch_op.drop_column("state")
