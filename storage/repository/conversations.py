"""Conversations and their messages, with each message's sealed items
(``ConversationRecords``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import col, select

from core.models import (
    Conversation,
    ConversationState,
    Direction,
    ItemRole,
    Message,
    SealedItem,
    View,
)
from core.ports import PurgedRows
from storage.repository import rows
from storage.repository.rows import SessionBound, rowcount, update_row
from storage.tables import (
    ConversationRow,
    HoldRow,
    InvitationRow,
    MessageItemRow,
    MessageRow,
    OutboxRow,
    ParticipantKeyRow,
    ParticipantRow,
    SearchTokenRow,
)

_NOT_CLOSED = [ConversationState.OPEN.value, ConversationState.WAITING.value]


class ConversationQueries(SessionBound):
    def conversation(self, conversation_id: str) -> Conversation | None:
        row = self.session.get(ConversationRow, conversation_id)
        return rows.conversation(row) if row else None

    def conversations(
        self,
        limit: int = 50,
        offset: int = 0,
        *,
        view: View = View.ALL,
        staff_id: str | None = None,
    ) -> list[Conversation]:
        query = select(ConversationRow)
        state, assignee = col(ConversationRow.state), col(ConversationRow.assignee_id)
        if view is View.MINE:
            query = query.where(assignee == staff_id, state.in_(_NOT_CLOSED))
        elif view is View.UNASSIGNED:
            query = query.where(assignee.is_(None), state.in_(_NOT_CLOSED))
        elif view is View.CLOSED:
            query = query.where(state == ConversationState.CLOSED.value)
        found = self.session.exec(
            query.order_by(col(ConversationRow.last_message_at).desc(), col(ConversationRow.id))
            .offset(offset)
            .limit(limit)
        ).all()
        return [rows.conversation(r) for r in found]

    def save_conversation(self, conversation: Conversation) -> None:
        # Not the heading: only the index round writes it, and the end of a rotation
        # clears it; a copy read before either must not write an old one back.
        update_row(self.session, ConversationRow, conversation.id, conversation, keep={"heading"})

    def assign_conversation(
        self, conversation_id: str, staff_id: str | None, *, expected: str | None
    ) -> bool:
        # One conditional UPDATE: of two desks taking at once, one changes the row.
        holder = col(ConversationRow.assignee_id)
        result = self.session.execute(
            update(ConversationRow)
            .where(
                col(ConversationRow.id) == conversation_id,
                holder.is_(None) if expected is None else holder == expected,
            )
            .values(assignee_id=staff_id)
        )
        return rowcount(result) == 1

    def set_conversation_state(self, conversation_id: str, state: ConversationState) -> None:
        self.session.execute(
            update(ConversationRow)
            .where(col(ConversationRow.id) == conversation_id)
            .values(state=state.value)
        )

    def release_conversations(self, staff_id: str) -> int:
        result = self.session.execute(
            update(ConversationRow)
            .where(
                col(ConversationRow.assignee_id) == staff_id,
                col(ConversationRow.state).in_(_NOT_CLOSED),
            )
            .values(assignee_id=None)
        )
        return rowcount(result)

    def messages_in(self, conversation_id: str) -> list[Message]:
        found = self.session.exec(
            select(MessageRow)
            .where(MessageRow.conversation_id == conversation_id)
            .order_by(col(MessageRow.created_at))
        ).all()
        return self._with_items(found)

    def messages_of(self, conversation_ids: list[str]) -> dict[str, list[Message]]:
        found = self.session.exec(
            select(MessageRow)
            .where(col(MessageRow.conversation_id).in_(conversation_ids))
            .order_by(col(MessageRow.created_at))
        ).all()
        by_conversation: dict[str, list[Message]] = {}
        for message in self._with_items(found):
            by_conversation.setdefault(message.conversation_id, []).append(message)
        return by_conversation

    def messages(self, limit: int = 50, offset: int = 0) -> list[Message]:
        found = self.session.exec(
            select(MessageRow)
            .order_by(col(MessageRow.created_at).desc())
            .offset(offset)
            .limit(limit)
        ).all()
        return self._with_items(found)

    def blob_ids(self) -> set[str]:
        return set(self.session.exec(select(MessageItemRow.blob_id)).all())

    def message(self, message_id: str) -> Message | None:
        row = self.session.get(MessageRow, message_id)
        return self._with_items([row])[0] if row else None

    def ids_starting(self, prefix: str, limit: int = 5) -> list[tuple[str, str]]:
        like = prefix.replace("%", "").replace("_", "") + "%"
        messages = self.session.exec(
            select(MessageRow.id).where(col(MessageRow.id).like(like)).limit(limit)
        ).all()
        conversations = self.session.exec(
            select(ConversationRow.id).where(col(ConversationRow.id).like(like)).limit(limit)
        ).all()
        return [("message", i) for i in messages] + [("conversation", i) for i in conversations]

    def conversations_about(self, subject_tag: str) -> list[Conversation]:
        rows = self.session.exec(
            select(ConversationRow)
            .where(ConversationRow.subject_tag == subject_tag)
            .order_by(col(ConversationRow.created_at))
        ).all()
        return [Conversation(**r.model_dump()) for r in rows]

    def untagged_conversations(self) -> list[Conversation]:
        rows = self.session.exec(
            select(ConversationRow)
            .where(ConversationRow.subject_tag == "")
            .order_by(col(ConversationRow.created_at))
        ).all()
        return [Conversation(**r.model_dump()) for r in rows]

    def inactive_conversations(
        self, before: datetime, limit: int, offset: int = 0
    ) -> list[Conversation]:
        last = func.coalesce(ConversationRow.last_message_at, ConversationRow.created_at)
        rows = self.session.exec(
            select(ConversationRow)
            .where(last < before)
            .order_by(last, col(ConversationRow.id))
            .offset(offset)
            .limit(limit)
        ).all()
        return [Conversation(**r.model_dump()) for r in rows]

    def delete_conversation(self, conversation_id: str) -> PurgedRows:
        purged = PurgedRows()
        message_ids = list(
            self.session.exec(
                select(MessageRow.id).where(MessageRow.conversation_id == conversation_id)
            ).all()
        )
        participant_ids = list(
            self.session.exec(
                select(ParticipantRow.id).where(ParticipantRow.conversation_id == conversation_id)
            ).all()
        )
        items = self.session.exec(
            select(MessageItemRow).where(col(MessageItemRow.message_id).in_(message_ids))
        ).all()
        purged.blob_ids = [i.blob_id for i in items]
        purged.attachments = sum(1 for i in items if i.role == ItemRole.ATTACHMENT.value)
        purged.messages = len(message_ids)
        purged.participants = len(participant_ids)
        notices = [
            n
            for n in self.session.exec(
                select(InvitationRow.notice_outbox_id).where(
                    col(InvitationRow.participant_id).in_(participant_ids)
                )
            ).all()
            if n
        ]
        # Children first: the foreign keys are on.
        keys = self.session.execute(
            delete(ParticipantKeyRow).where(
                col(ParticipantKeyRow.message_id).in_(message_ids)
                | col(ParticipantKeyRow.participant_id).in_(participant_ids)
            )
        )
        self.session.execute(
            delete(MessageItemRow).where(col(MessageItemRow.message_id).in_(message_ids))
        )
        invitations = self.session.execute(
            delete(InvitationRow).where(col(InvitationRow.participant_id).in_(participant_ids))
        )
        self.session.execute(delete(OutboxRow).where(col(OutboxRow.id).in_(notices)))
        self.session.execute(delete(MessageRow).where(col(MessageRow.id).in_(message_ids)))
        self.session.execute(
            delete(ParticipantRow).where(col(ParticipantRow.id).in_(participant_ids))
        )
        self.session.execute(delete(HoldRow).where(col(HoldRow.conversation_id) == conversation_id))
        # Its search tokens too (core.search): they say which conversations share a word.
        self.session.execute(
            delete(SearchTokenRow).where(col(SearchTokenRow.conversation_id) == conversation_id)
        )
        self.session.execute(
            delete(ConversationRow).where(col(ConversationRow.id) == conversation_id)
        )
        # Each message's key wrapped to the mailbox, each participant's thread key, each
        # content key under a thread key, each thread key under an invitation.
        purged.wrapped_keys = (
            len(message_ids) + len(participant_ids) + rowcount(keys) + rowcount(invitations)
        )
        self.session.expunge_all()  # nothing of them stays in the session either
        return purged

    def _add_message(self, message: Message) -> None:
        data = asdict(message)
        data.pop("items")
        self.session.add(MessageRow(**data))
        self.session.flush()  # the message row first: items refer to it
        for item in message.items:
            self.session.add(MessageItemRow(message_id=message.id, **asdict(item)))
        self.session.flush()

    def _with_items(self, found: Sequence[MessageRow]) -> list[Message]:
        """The messages of ``found`` with their items: one more query, not one per message."""
        items: dict[str, list[MessageItemRow]] = {}
        ids = [r.id for r in found]
        for item in self.session.exec(
            select(MessageItemRow).where(col(MessageItemRow.message_id).in_(ids))
        ):
            items.setdefault(item.message_id, []).append(item)
        return [_message(row, items.get(row.id, [])) for row in found]


def _message(row: MessageRow, items: list[MessageItemRow]) -> Message:
    return Message(
        id=row.id,
        conversation_id=row.conversation_id,
        direction=Direction(row.direction),
        wrapped_key=row.wrapped_key,
        created_at=row.created_at,
        attachment_count=row.attachment_count,
        author_id=row.author_id,
        binding_format=row.binding_format,
        origin_mac=row.origin_mac,
        items=[
            SealedItem(
                role=ItemRole(i.role),
                position=i.position,
                blob_id=i.blob_id,
                sealed_size=i.sealed_size,
            )
            for i in items
        ],
    )
