"""Search across every conversation, as staff type, with nothing searchable in the clear.

Names, addresses and subjects rest sealed (contacts under server.key, subjects and
guests' names inside messages sealed to the mailbox), so the database cannot search
them. Instead each conversation has a *blind index*: for every word of the outside
person's name and address and of every subject, keyed tokens

- ``prefix``: HMAC(key, the word's first 3, 4, …, 12 characters), for words of 3
  characters or more: what a person types is found as they type it;
- ``word``: HMAC(key, the word) for words of 1 or 2 characters ("de", "nl");
- ``address``: HMAC(key, the whole address), also what the wrong-recipient guard asks
  (core.guard);
- ``written``: HMAC(key, the whole address) under another label, for the addresses the
  office wrote to (the conversation's participants): the guard's *known*;

each row one token and its conversation (``search_token``). Each typed word becomes
the tokens of the words it begins (its prefix token; for a word of one or two
characters, also every such word and three-letter prefix it begins, as people type
"j", "ja", "jan"), and the conversations holding a token of every typed word are the
results. A typed reference is looked up by its keyed tag, as ``veilig open`` does.

The key comes from the mailbox private key (HKDF, :data:`core.labels.SEARCH`), so only
a logged-in desk can make or test tokens: not the host with server.key, nor a copy of
the database. Who writes a message without the mailbox key (a guest, a recipient's
reply) leaves the conversation marked *not indexed* (``indexed_under = b""``); the next
desk indexes it (:func:`index_pending`). A new mailbox key (rotation) gives a new search
key, and every conversation is indexed again under it. What the tokens still reveal
is in docs/SECURITY.md (*What the search index reveals*).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime

from core import labels
from core.access import reference_tag
from core.contact import Contact
from core.context import Context
from core.errors import CannotOpen, InvalidInput
from core.heading import HeadingKey
from core.keys import MailboxPrivateKey
from core.models import Conversation, Direction
from core.references import parse_reference
from core.sealing import open_summary

PREFIX_FROM = 3  # shorter words are indexed whole: "de", "nl", "j"
PREFIX_UNTIL = 12  # longer typed words match on their first 12 characters
TOKEN_BYTES = 16  # 128 bits: no two words collide among billions of tokens
INDEX_BATCH = 200  # conversations indexed per transaction (index_pending)

_WORD = re.compile(r"[^\W_]+")  # letters and digits, in any script
_FOLDED = "abcdefghijklmnopqrstuvwxyz0123456789"  # what most folded words are made of


class SearchKey:
    """The search index's key, derived from the unlocked mailbox key: in memory for one
    desk session only, never stored."""

    def __init__(self, raw: bytes) -> None:
        self._key = raw
        self.key_id = self._tag("key-id", "")[:8]  # which key a conversation's tokens are under

    @classmethod
    def of(cls, mailbox_key: MailboxPrivateKey) -> SearchKey:
        return cls(mailbox_key.derive(labels.SEARCH))

    def __repr__(self) -> str:
        return "SearchKey(<secret>)"

    def _tag(self, kind: str, text: str) -> bytes:
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for part in (kind, text):
            raw = part.encode("utf-8")
            mac.update(len(raw).to_bytes(4, "big"))  # unambiguous: kind and text apart
            mac.update(raw)
        return mac.digest()[:TOKEN_BYTES]

    def typed(self, word: str) -> list[bytes]:
        """The tokens a typed word is looked up by, any one of which matches: the tokens
        of the words that start with it."""
        if len(word) >= PREFIX_FROM:
            return [self._tag("prefix", word[:PREFIX_UNTIL])]
        # Shorter than a prefix token: the word itself, and every longer word it begins,
        # by its words of two characters and its prefixes of three (≤ 1,333 tokens).
        tokens = [self._tag("word", word)]
        for more in _extensions(PREFIX_FROM - len(word)):
            kind = "prefix" if len(word + more) == PREFIX_FROM else "word"
            tokens.append(self._tag(kind, word + more))
        return tokens

    def address(self, address: str) -> bytes:
        """An address the office wrote to or heard from."""
        return self._tag("address", normal_address(address))

    def written(self, address: str) -> bytes:
        """An address the office wrote to (not only heard from)."""
        return self._tag("written", normal_address(address))

    def document(
        self, texts: Iterable[str], addresses: Iterable[str], written: Iterable[str] = ()
    ) -> set[bytes]:
        """Every token of a conversation: the words of ``texts`` (names, subjects) and of
        ``addresses``, each address whole, and each address the office ``written`` to."""
        tokens: set[bytes] = set()
        addresses = list(addresses)
        tokens.update(self.written(a) for a in written if a)
        for text in [*texts, *addresses]:
            for word in words(text):
                if len(word) < PREFIX_FROM:
                    tokens.add(self._tag("word", word))
                for end in range(PREFIX_FROM, min(len(word), PREFIX_UNTIL) + 1):
                    tokens.add(self._tag("prefix", word[:end]))
        tokens.update(self.address(a) for a in addresses if a)
        return tokens


def words(text: str) -> list[str]:
    """The words of ``text`` as the index holds them: case and accents folded
    ("Ünal" and "unal" are one word), split at everything but letters and digits."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _WORD.findall(plain)


def normal_address(address: str) -> str:
    return unicodedata.normalize("NFC", address.strip()).casefold()


def _extensions(up_to: int) -> list[str]:
    """Every string of 1 to ``up_to`` letters or digits (folded, as :func:`words`)."""
    found = [""]
    for _n in range(up_to):
        found += [s + c for s in found if len(s) == _n for c in _FOLDED]
    return found[1:]


def query_tokens(key: SearchKey, term: str) -> list[list[bytes]]:
    """Per typed word, the tokens of which a conversation must hold one to match
    ``term`` (no words: no search)."""
    groups = {word: key.typed(word) for word in words(term)}
    return list(groups.values())


def find(
    ctx: Context, key: SearchKey, term: str, limit: int = 50, offset: int = 0
) -> list[Conversation]:
    """The conversations matching ``term``, newest activity first: by its words, or, if
    it is a whole reference, the one conversation that reference opens."""
    try:
        reference = parse_reference(term)
    except InvalidInput:
        reference = None
    with ctx.repo.transaction() as tx:
        if reference is not None:
            invitation = tx.invitation_by_tag(reference_tag(ctx.secret, reference))
            participant = tx.participant(invitation.participant_id) if invitation else None
            found = tx.conversation(participant.conversation_id) if participant else None
            return [found] if found is not None and offset == 0 else []
        groups = query_tokens(key, term)
        return tx.search_conversations(groups, limit, offset) if groups else []


def index_pending(
    ctx: Context, mailbox_key: MailboxPrivateKey, key: SearchKey, headings: HeadingKey
) -> int:
    """Index up to :data:`INDEX_BATCH` conversations not indexed under ``key`` yet (new
    ones, ones with a new message, all of them after the mailbox key changed); how many.
    Each gets its sealed heading too (core.heading), from the first message opened here.

    Reads in one transaction, decrypts outside any, writes in another: a conversation
    that got a message in between stays marked and is indexed again next time."""
    with ctx.repo.transaction() as tx:
        pending = tx.conversations_to_index(key.key_id, INDEX_BATCH)
        ids = [c.id for c in pending]
        messages = tx.messages_of(ids)
        people = tx.participants_of(ids)
    documents: list[tuple[Conversation, set[bytes], bytes]] = []
    for conversation in pending:
        heading = b""  # the first message would not open: its row says so, as before
        texts: list[str] = []
        addresses: list[str] = []
        written: list[str] = []  # the participants: the people the office wrote to
        for participant in people.get(conversation.id, []):
            try:
                contact = Contact.unseal(ctx.secret, participant)
            except CannotOpen:
                continue  # a damaged record: the rest of the conversation is still found
            texts.append(contact.name)
            addresses.append(contact.email)
            written.append(contact.email)
        for position, message in enumerate(messages.get(conversation.id, [])):
            try:
                sender, subject = open_summary(
                    blobs=ctx.blobs, mailbox_key=mailbox_key, message=message, secret=ctx.secret
                )
            except CannotOpen:
                continue
            if position == 0:
                heading = headings.seal(conversation.id, message.id, sender, subject)
            texts.append(subject)
            if message.direction is Direction.INBOUND:  # outbound: the office itself
                texts.append(sender.name)
                addresses.append(sender.email)
        documents.append((conversation, key.document(texts, addresses, written), heading))
    with ctx.repo.transaction() as tx:
        for conversation, tokens, heading in documents:
            seen: datetime | None = conversation.last_message_at
            tx.index_conversation(conversation.id, tokens, key.key_id, seen, heading)
    return len(pending)
