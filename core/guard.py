"""The wrong-recipient guard: before a secure message goes to an outside address this
office never wrote to, or to a near miss of one it knows (``j.janssen@praktijk.nl``
for ``j.jansen@praktijk.nl``), the desk asks once.

Misdirected mail is the most reported data breach in Dutch care; this catches it where
it happens. What the office knows is the search index's ``address`` tokens
(core.search): a keyed tag of every outside address in a conversation, the people
staff wrote to and the guests and recipients who wrote; and a ``written`` tag of the
addresses the office wrote to. Nothing more is stored:

- *known*: the office wrote to the typed address (its ``written`` tag is in the index);
- *near miss*: not known, but a tag of an address one edit away is (a character left
  out, added, changed, or two swapped: Damerau–Levenshtein distance 1). Those
  addresses are made here from the typed one (for 25 characters about 2,000) and
  their tags looked up in one query; the match names the known address, so nothing
  is decrypted. A neighbourhood stored per known address would have found the same,
  at ~25 more rows per address, and would have shown anyone with a copy of the
  database which known addresses lie one edit apart;
- *heard from*: neither, but the address wrote to the office (a guest, a reply). Still
  asked: someone who writes in from a look-alike address (``j.jansen@praktjik.nl``)
  must not make it an address the desk sends to without a question;
- *new*: none of these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from core.context import Context
from core.search import SearchKey, normal_address

# What people mistype in an address: letters, digits and the marks addresses use.
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789.-_+@"


class Known(StrEnum):
    KNOWN = "known"  # the office wrote to this address: no question
    NEAR = "near"  # one edit away from an address it knows: did they mean that one?
    HEARD = "heard"  # it wrote to the office, the office never to it
    NEW = "new"  # never seen


@dataclass(frozen=True)
class RecipientCheck:
    address: str = field(repr=False)  # as checked (normalised)
    known: Known
    # For a near miss, the known addresses one edit away (to show): never in a repr.
    near: tuple[str, ...] = field(default=(), repr=False)

    @property
    def ask(self) -> bool:
        return self.known is not Known.KNOWN


def one_edit_away(address: str) -> set[str]:
    """Every string one deletion, insertion, substitution or swap of neighbours away."""
    splits = [(address[:i], address[i:]) for i in range(len(address) + 1)]
    deleted = {a + b[1:] for a, b in splits if b}
    swapped = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    changed = {a + c + b[1:] for a, b in splits if b for c in _ALPHABET}
    added = {a + c + b for a, b in splits for c in _ALPHABET}
    return (deleted | swapped | changed | added) - {address}


def check_recipient(ctx: Context, key: SearchKey, address: str) -> RecipientCheck:
    """Is ``address`` (checked already: core.contact.check_email) one the office knows?"""
    typed = normal_address(address)
    written, heard = key.written(typed), key.address(typed)
    neighbours = {key.address(other): other for other in one_edit_away(typed)}
    with ctx.repo.transaction() as tx:
        found = tx.tokens_present([written, heard, *neighbours])
    if written in found:
        return RecipientCheck(typed, Known.KNOWN)
    near = tuple(sorted(neighbours[token] for token in found if token in neighbours))
    if near:
        return RecipientCheck(typed, Known.NEAR, near)
    return RecipientCheck(typed, Known.HEARD if heard in found else Known.NEW)
