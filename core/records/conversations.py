"""Conversations and their messages, and what deleting one took with it
(implemented by storage.repository.conversations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from core.models import Conversation, ConversationState, Message, View
from core.unit_of_work import UnitOfWork


@dataclass
class PurgedRows:
    """What deleting one conversation's rows took with it (core.retention)."""

    blob_ids: list[str] = field(default_factory=list)  # to delete from the blob store
    messages: int = 0
    attachments: int = 0
    participants: int = 0
    wrapped_keys: int = 0  # content keys and thread keys wrapped to anyone


class ConversationRecords(UnitOfWork, Protocol):
    """Conversations and their messages (with the sealed items of each)."""

    def conversation(self, conversation_id: str) -> Conversation | None: ...

    def conversations(
        self,
        limit: int = 50,
        offset: int = 0,
        *,
        view: View = View.ALL,
        staff_id: str | None = None,
    ) -> list[Conversation]:
        """Newest activity first, of ``view`` (MINE: taken by ``staff_id``)."""
        ...

    def save_conversation(self, conversation: Conversation) -> None: ...

    def assign_conversation(
        self, conversation_id: str, staff_id: str | None, *, expected: str | None
    ) -> bool:
        """Atomically hand the conversation to ``staff_id`` if ``expected`` handles it now
        (None: nobody); False if someone else does (a colleague was quicker)."""
        ...

    def set_conversation_state(self, conversation_id: str, state: ConversationState) -> None: ...

    def release_conversations(self, staff_id: str) -> int:
        """Unassign every conversation ``staff_id`` handles and has not closed; how many."""
        ...

    def messages_in(self, conversation_id: str) -> list[Message]:
        """Oldest first."""
        ...

    def messages_of(self, conversation_ids: list[str]) -> dict[str, list[Message]]:
        """``messages_in`` for a page of conversations at once (a few queries, not one
        per conversation); conversations without messages are left out."""
        ...

    def messages(self, limit: int = 50, offset: int = 0) -> list[Message]:
        """Newest first, across all conversations."""
        ...

    def blob_ids(self) -> set[str]:
        """Every blob id a stored message refers to."""
        ...

    def message(self, message_id: str) -> Message | None: ...

    def ids_starting(self, prefix: str, limit: int = 5) -> list[tuple[str, str]]:
        """(kind, id) of messages and conversations whose id starts with ``prefix``;
        kind is "message" or "conversation"."""
        ...

    def conversations_about(self, subject_tag: str) -> list[Conversation]:
        """Conversations whose person has this pseudonym, oldest first."""
        ...

    def untagged_conversations(self) -> list[Conversation]:
        """Conversations from before issue 18, whose person is not named by a tag."""
        ...

    def inactive_conversations(
        self, before: datetime, limit: int, offset: int = 0
    ) -> list[Conversation]:
        """Conversations whose last message (or creation) is before ``before``, oldest
        first: the candidates of the purge, which checks expiries and holds itself."""
        ...

    def delete_conversation(self, conversation_id: str) -> PurgedRows:
        """Delete the conversation with its messages, their items, its participants,
        their invitations (and those notices' outbox rows) and every wrapped key."""
        ...
