"""A guest's receipt (flow 1): what they sent, committed to in the confirmation e-mail.

When a guest's message is stored, the confirmation e-mail lists, for the text and each
attachment, ``HMAC-SHA256(receipt code, content)``; the receipt code (160 random bits,
like a reference) is shown on the guest's screen only, and kept inside the sealed
message for staff. With their files and the code the guest checks the e-mail
(``openssl dgst -sha256 -hmac CODE FILE`` or ``veilig receipt CODE FILE``), and the
office's proof for that message (``veilig proof``) shows the same values computed from
what it stored: equal values show that the office stored exactly what the guest sent.

Why keyed, and not a plain SHA-256 in the e-mail (docs/SECURITY.md): an e-mail passes
mail servers and sits in a mailbox that others may read (a provider, an employer, a
shared practice account). A plain hash there lets anyone who holds a candidate file —
a standard form, a letter they wrote themselves, a short text like "yes, agreed" —
confirm that this guest sent exactly that to a care office. Without the code the keyed
values are random to them. The price: the guest must keep the code, as they keep the
e-mail; without it the e-mail still says *that* something arrived, and the office's
proof (signed, with plain hashes) still says *what*.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.errors import InvalidInput
from core.i18n import _

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

CODE_BYTES = 20  # 160 bits, as a reference: not guessable, typeable in groups of four
_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
_LENGTH = 32


def new_receipt_code() -> str:
    text = base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode()
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def parse_receipt_code(typed: str) -> str:
    """The code as it was shown (groups of four, upper case), from what people type."""
    compact = "".join(ch for ch in typed.upper() if ch not in " -\t\r\n")
    compact = compact.replace("0", "O").replace("1", "I").replace("8", "B")
    if len(compact) != _LENGTH or not set(compact) <= _ALPHABET:
        raise InvalidInput(
            _("That does not look like a receipt code. It is 8 groups of 4 letters and digits.")
        )
    return "-".join(compact[i : i + 4] for i in range(0, _LENGTH, 4))


def commitment(code: str, data: bytes) -> str:
    """``HMAC-SHA256(code, data)`` in hex: what ``openssl dgst -sha256 -hmac CODE`` prints."""
    return hmac.new(code.encode("ascii"), data, hashlib.sha256).hexdigest()


@dataclass
class Commitments:
    """The receipt of one message while it is sealed: an HMAC per item, fed as it is read."""

    code: str = field(repr=False)
    _macs: list[tuple[str, hmac.HMAC]] = field(default_factory=list, repr=False)

    @classmethod
    def new(cls) -> Commitments:
        return cls(new_receipt_code())

    def item(self, label: str) -> hmac.HMAC:
        """A new HMAC for the item ``label`` ("text", "attachment 1", …), in order."""
        mac = hmac.new(self.code.encode("ascii"), digestmod=hashlib.sha256)
        self._macs.append((label, mac))
        return mac

    def values(self) -> list[tuple[str, str]]:
        return [(label, mac.hexdigest()) for label, mac in self._macs]


class Observed(io.RawIOBase):
    """A reader that shows every byte it passes on to ``seen`` (an HMAC or hash)."""

    def __init__(self, source: io.RawIOBase, seen: hmac.HMAC) -> None:
        self.source = source
        self.seen = seen

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        n = self.source.readinto(buffer) or 0
        if n:
            self.seen.update(memoryview(buffer)[:n])
        return n
