"""The desk's search index: keyed tokens per conversation (``core.search``), and the
conversations that hold all of a typed term's tokens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Subquery, and_, delete, insert, intersect, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from core.models import Conversation
from storage.repository import rows
from storage.repository.rows import SessionBound, rowcount
from storage.tables import ConversationRow, SearchTokenRow

_CHUNK = 500  # bound values per IN (…): far below SQLite's and PostgreSQL's limits


def _chunks(values: list[bytes]) -> Iterator[list[bytes]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _joined(groups: list[list[bytes]]) -> Subquery:
    """The conversations holding a token of every group, as one join of the token table
    with itself per group. On PostgreSQL, where an INTERSECT of the groups built a hash
    of every arm, the common ones too (an office's mail domain: nearly every
    conversation), the planner orders a join by its statistics: the rarest group first,
    then an index probe per candidate (docs/PERFORMANCE.md, *PostgreSQL beside SQLite*).
    SQLite keeps the INTERSECT, which it runs with temporary B-trees at 0.5× the inbox."""
    aliases = [aliased(SearchTokenRow, name=f"t{n}") for n in range(len(groups))]
    first = aliases[0]
    query = select(col(first.conversation_id)).where(col(first.token).in_(groups[0]))
    for alias, group in zip(aliases[1:], groups[1:], strict=True):
        query = query.join(
            alias,
            and_(
                col(alias.conversation_id) == col(first.conversation_id),
                col(alias.token).in_(group),
            ),
        )
    return query.subquery()


class SearchQueries(SessionBound):
    def search_conversations(
        self, groups: list[list[bytes]], limit: int = 50, offset: int = 0
    ) -> list[Conversation]:
        # Per typed word the conversations holding one of its tokens; those of every
        # word, joined to their rows and paged in the inbox's order.
        if len(groups) > 1 and rows.is_postgresql(self.session):
            matching = _joined(groups)
        else:
            token = col(SearchTokenRow.token)
            conversation_id = col(SearchTokenRow.conversation_id)
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
        self,
        conversation_id: str,
        tokens: set[bytes],
        key_id: bytes,
        seen: datetime | None,
        heading: bytes,
    ) -> bool:
        last = col(ConversationRow.last_message_at)
        marked = self.session.execute(
            update(ConversationRow)
            .where(
                col(ConversationRow.id) == conversation_id,
                last.is_(None) if seen is None else last == seen,
            )
            .values(indexed_under=key_id, heading=heading)
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

    def forget_index_except(self, key_id: bytes) -> int:
        other = col(ConversationRow.indexed_under) != key_id  # not yet indexed (b"") too
        self.session.execute(
            delete(SearchTokenRow).where(
                col(SearchTokenRow.conversation_id).in_(select(ConversationRow.id).where(other))
            )
        )
        forgotten = self.session.execute(
            update(ConversationRow).where(other).values(indexed_under=b"", heading=b"")
        )
        return rowcount(forgotten)
