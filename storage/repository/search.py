"""The desk's search index: keyed tokens per conversation (``core.search``), and the
conversations that hold all of a typed term's tokens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import delete, insert, intersect, or_, update
from sqlmodel import col, select

from core.models import Conversation
from storage.repository import rows
from storage.repository.rows import SessionBound, rowcount
from storage.tables import ConversationRow, SearchTokenRow

_CHUNK = 500  # bound values per IN (…): far below SQLite's and PostgreSQL's limits


def _chunks(values: list[bytes]) -> Iterator[list[bytes]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


class SearchQueries(SessionBound):
    def search_conversations(
        self, groups: list[list[bytes]], limit: int = 50, offset: int = 0
    ) -> list[Conversation]:
        # Per typed word the conversations holding one of its tokens; those of every
        # word (INTERSECT), joined to their rows and paged in the inbox's order.
        token, conversation_id = col(SearchTokenRow.token), col(SearchTokenRow.conversation_id)
        each = [select(conversation_id).where(token.in_(group)) for group in groups]
        matching = (each[0] if len(each) == 1 else intersect(*each)).subquery()
        found = self.session.exec(
            select(ConversationRow)
            .where(col(ConversationRow.id).in_(select(matching.c.conversation_id)))
            .order_by(col(ConversationRow.last_message_at).desc(), col(ConversationRow.id))
            .offset(offset)
            .limit(limit)
        ).all()
        return [rows.conversation(r) for r in found]

    def tokens_present(self, tokens: list[bytes]) -> set[bytes]:
        present: set[bytes] = set()
        for chunk in _chunks(tokens):
            present.update(
                self.session.exec(
                    select(SearchTokenRow.token)
                    .where(col(SearchTokenRow.token).in_(chunk))
                    .distinct()
                ).all()
            )
        return present

    def conversations_to_index(self, key_id: bytes, limit: int) -> list[Conversation]:
        # "Not under this key" as two ranges of the index on indexed_under, so that the
        # usual answer (nothing) costs one look into the index, not a scan.
        under = col(ConversationRow.indexed_under)
        found = self.session.exec(
            select(ConversationRow).where(or_(under < key_id, under > key_id)).limit(limit)
        ).all()
        return [rows.conversation(r) for r in found]

    def index_conversation(
        self, conversation_id: str, tokens: set[bytes], key_id: bytes, seen: datetime | None
    ) -> bool:
        last = col(ConversationRow.last_message_at)
        marked = self.session.execute(
            update(ConversationRow)
            .where(
                col(ConversationRow.id) == conversation_id,
                last.is_(None) if seen is None else last == seen,
            )
            .values(indexed_under=key_id)
        )
        if rowcount(marked) != 1:
            return False  # a message came in meanwhile: indexed again next time
        self.session.execute(
            delete(SearchTokenRow).where(col(SearchTokenRow.conversation_id) == conversation_id)
        )
        if tokens:
            self.session.execute(
                insert(SearchTokenRow),
                [{"token": t, "conversation_id": conversation_id} for t in sorted(tokens)],
            )
        return True
