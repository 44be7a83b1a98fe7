"""Conversations and their messages, with each message's sealed items
(``ConversationRecords``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from sqlmodel import col, select

from core.models import Conversation, Direction, ItemRole, Message, SealedItem
from storage.repository.rows import SessionBound, update_row
from storage.tables import ConversationRow, MessageItemRow, MessageRow


class ConversationQueries(SessionBound):
    def conversation(self, conversation_id: str) -> Conversation | None:
        row = self.session.get(ConversationRow, conversation_id)
        return Conversation(**row.model_dump()) if row else None

    def conversations(self, limit: int = 50, offset: int = 0) -> list[Conversation]:
        rows = self.session.exec(
            select(ConversationRow)
            .order_by(col(ConversationRow.last_message_at).desc(), col(ConversationRow.id))
            .offset(offset)
            .limit(limit)
        ).all()
        return [Conversation(**r.model_dump()) for r in rows]

    def save_conversation(self, conversation: Conversation) -> None:
        update_row(self.session, ConversationRow, conversation.id, conversation)

    def messages_in(self, conversation_id: str) -> list[Message]:
        rows = self.session.exec(
            select(MessageRow)
            .where(MessageRow.conversation_id == conversation_id)
            .order_by(col(MessageRow.created_at))
        ).all()
        return self._with_items(rows)

    def messages_of(self, conversation_ids: list[str]) -> dict[str, list[Message]]:
        rows = self.session.exec(
            select(MessageRow)
            .where(col(MessageRow.conversation_id).in_(conversation_ids))
            .order_by(col(MessageRow.created_at))
        ).all()
        found: dict[str, list[Message]] = {}
        for message in self._with_items(rows):
            found.setdefault(message.conversation_id, []).append(message)
        return found

    def messages(self, limit: int = 50, offset: int = 0) -> list[Message]:
        rows = self.session.exec(
            select(MessageRow)
            .order_by(col(MessageRow.created_at).desc())
            .offset(offset)
            .limit(limit)
        ).all()
        return self._with_items(rows)

    def blob_ids(self) -> set[str]:
        return set(self.session.exec(select(MessageItemRow.blob_id)).all())

    def _add_message(self, message: Message) -> None:
        data = asdict(message)
        data.pop("items")
        self.session.add(MessageRow(**data))
        self.session.flush()  # the message row first: items refer to it
        for item in message.items:
            self.session.add(MessageItemRow(message_id=message.id, **asdict(item)))
        self.session.flush()

    def _with_items(self, rows: Sequence[MessageRow]) -> list[Message]:
        """The messages of ``rows`` with their items: one more query, not one per message."""
        items: dict[str, list[MessageItemRow]] = {}
        ids = [r.id for r in rows]
        for item in self.session.exec(
            select(MessageItemRow).where(col(MessageItemRow.message_id).in_(ids))
        ):
            items.setdefault(item.message_id, []).append(item)
        return [_message(row, items.get(row.id, [])) for row in rows]


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
