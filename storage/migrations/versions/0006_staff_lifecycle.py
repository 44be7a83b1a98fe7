"""staff lifecycle: roles, names, own keys, invitations, rotation (issue 14)

Revision ID: 0006_staff_lifecycle
Revises: 0005_evidence_retention_audit
Create Date: 2026-12-09 10:00:00

- staff: name, role, their own public key and the mailbox key wrapped to it, the pin of
  role and public key, when they enrolled, last logged in and were removed. Everyone who
  is staff before this revision becomes an admin (they could do everything then) and
  is enrolled; their password wrap holds the mailbox key itself until their next log-in
  re-wraps it (core.login). The pin needs ``server.key``, as revision 0004 did.
- staff_invitation: a newcomer's invitation (core.enrolment).
- mailbox_rotation: a mailbox key rotation under way (core.rotation).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

import storage.tables

revision = "0006_staff_lifecycle"
down_revision = "0005_evidence_retention_audit"
branch_labels = None
depends_on = None

_TIME = storage.tables.UtcDateTime()


def upgrade() -> None:
    # As in 0004: ALTER TABLE ADD COLUMN with a default the data step overwrites, never a
    # copy of the table (foreign keys refuse that inside the migration's transaction).
    empty = sa.text("X''" if op.get_bind().dialect.name == "sqlite" else "''::bytea")
    op.add_column("staff", sa.Column("name", sa.String(), nullable=False, server_default=""))
    op.add_column("staff", sa.Column("role", sa.String(), nullable=False, server_default="staff"))
    for column in ("public_key", "mailbox_wrap", "pin"):
        op.add_column(
            "staff", sa.Column(column, sa.LargeBinary(), nullable=False, server_default=empty)
        )
    for column in ("enrolled_at", "last_login_at", "removed_at"):
        op.add_column("staff", sa.Column(column, _TIME, nullable=True))
    op.create_table(
        "staff_invitation",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("staff_id", sa.String(), nullable=False),
        sa.Column("code_tag", sa.String(), nullable=False),
        sa.Column("wrap", sa.LargeBinary(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("invited_by", sa.String(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_staff_invitation_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_invitation")),
        sa.UniqueConstraint("code_tag", name=op.f("uq_staff_invitation_code_tag")),
    )
    op.create_index(
        op.f("ix_staff_invitation_staff_id"), "staff_invitation", ["staff_id"], unique=False
    )
    op.create_table(
        "mailbox_rotation",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("mailbox_id", sa.String(), nullable=False),
        sa.Column("old_key_wrap", sa.LargeBinary(), nullable=False),
        sa.Column("started_by", sa.String(), nullable=False),
        sa.Column("message_cursor", sa.String(), nullable=False),
        sa.Column("participant_cursor", sa.String(), nullable=False),
        sa.Column("messages_done", sa.Integer(), nullable=False),
        sa.Column("participants_done", sa.Integer(), nullable=False),
        sa.Column("damaged", sa.Integer(), nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"], ["mailbox.id"], name=op.f("fk_mailbox_rotation_mailbox_id_mailbox")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailbox_rotation")),
        sa.UniqueConstraint("mailbox_id", name=op.f("uq_mailbox_rotation_mailbox_id")),
    )
    _existing_staff_become_admins(op.get_bind())


def downgrade() -> None:
    op.drop_table("mailbox_rotation")
    op.drop_index(op.f("ix_staff_invitation_staff_id"), table_name="staff_invitation")
    op.drop_table("staff_invitation")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        for column in (
            "removed_at",
            "last_login_at",
            "enrolled_at",
            "pin",
            "mailbox_wrap",
            "public_key",
            "role",
            "name",
        ):
            batch_op.drop_column(column)


_staff = sa.table(
    "staff",
    sa.column("id", sa.String()),
    sa.column("role", sa.String()),
    sa.column("pin", sa.LargeBinary()),
    sa.column("created_at", _TIME),
    sa.column("enrolled_at", _TIME),
)


def _existing_staff_become_admins(bind: sa.Connection) -> None:
    rows = bind.execute(sa.select(_staff.c.id, _staff.c.created_at)).all()
    if not rows:
        return
    secret = context.config.attributes.get("server_secret")
    if secret is None:
        raise RuntimeError(
            "This upgrade pins the staff members' roles and needs server.key: run veilig "
            "with VEILIG_HOME set to this database's home (not alembic by hand)."
        )
    from core.models import Role
    from core.pins import staff_pin

    for staff_id, created_at in rows:
        pin = staff_pin(secret, staff_id, Role.ADMIN, b"")
        bind.execute(
            _staff.update()
            .where(_staff.c.id == staff_id)
            .values(role=Role.ADMIN.value, pin=pin, enrolled_at=created_at)
        )
