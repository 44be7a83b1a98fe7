"""The desk's search index (implemented by storage.repository.search)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.models import Conversation
from core.unit_of_work import UnitOfWork


class SearchRecords(UnitOfWork, Protocol):
    """The search index: keyed tokens per conversation (core.search, core.guard)."""

    def search_conversations(
        self, groups: list[list[bytes]], limit: int = 50, offset: int = 0
    ) -> list[Conversation]:
        """The conversations holding a token of every group, newest activity first."""
        ...

    def tokens_present(self, tokens: list[bytes]) -> set[bytes]:
        """Those of ``tokens`` that any conversation holds."""
        ...

    def conversations_to_index(self, key_id: bytes, limit: int) -> list[Conversation]:
        """Conversations not indexed under ``key_id`` (new, changed, or another key's)."""
        ...

    def index_conversation(
        self,
        conversation_id: str,
        tokens: set[bytes],
        key_id: bytes,
        seen: datetime | None,
        heading: bytes,
    ) -> bool:
        """Replace the conversation's tokens and heading (core.heading) and mark it
        indexed under ``key_id``, if its last message is still the one at ``seen``; else
        leave it marked for next time."""
        ...

    def forget_index_except(self, key_id: bytes) -> int:
        """Every conversation not indexed under ``key_id``: its tokens and heading
        deleted, and marked for the next index round; how many. What the end of a
        mailbox key rotation does, so that the old key opens and tests nothing."""
        ...
