"""References: the secret in a notification that lets one person open one conversation.

160 random bits (more than the 128 asked for), written in base32 in groups of four so
it survives being read aloud, retyped or pasted with spaces. Only a keyed tag of it is
stored; the reference itself also feeds the thread key, so it is half of the key.

The check group (format 2, docs/SECURITY.md "References")::

    ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567-CHEK
    └──────── 32 characters: 160 random bits ────────┘ └ check ┘

A new reference ends with four check characters, as an IBAN carries check digits: the
first 20 bits of SHA-256(``labels.REFERENCE_CHECK`` ‖ the 32 characters), in base32. A typed
reference is checked before anything is looked up, so a typo is told as a typo
("check the reference") instead of leading to a made-up number and a code that never
comes. The check is a public function of what was typed: it says nothing about which
references exist, and everyone gets the same answer for the same text. A mistyped
character, a swap, one character too many or too few: each is caught (a wrong length
is never a reference; a wrong character passes the check with a chance of 2^-20).
Format 1 references (the 32 characters alone, sent before the check existed) keep
working as they did: they are told apart by their length.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import NewType

from core import labels
from core.errors import InvalidInput
from core.i18n import _

Reference = NewType("Reference", str)

REFERENCE_BYTES = 20
_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
_RANDOM = 32  # base32 characters for 20 bytes, no padding
_CHECK = 4  # base32 characters of check: 20 bits


class ReferenceMistyped(InvalidInput):
    """A reference with check characters that do not match: a typo, said as one."""


def check_characters(random_part: str) -> str:
    """The four check characters of the 32 random characters of a reference."""
    digest = hashlib.sha256(labels.REFERENCE_CHECK + random_part.encode("ascii")).digest()
    return base64.b32encode(digest[:5]).decode()[:_CHECK]  # 5 bytes: 8 chars, first 4 used


def _grouped(compact: str) -> Reference:
    return Reference("-".join(compact[i : i + 4] for i in range(0, len(compact), 4)))


def new_reference() -> Reference:
    text = base64.b32encode(secrets.token_bytes(REFERENCE_BYTES)).decode()
    return _grouped(text + check_characters(text))


def parse_reference(typed: str) -> Reference:
    """Accept what people paste: any case, spaces, dashes, a ``veilig open`` prefix.
    Raises :class:`ReferenceMistyped` when the check characters do not match."""
    text = typed.strip()
    if text.lower().startswith("veilig open"):
        text = text[len("veilig open") :]
    compact = "".join(ch for ch in text.upper() if ch not in " -\t\r\n")
    # Letters people confuse with digits that base32 does not use.
    compact = compact.replace("0", "O").replace("1", "I").replace("8", "B")
    if len(compact) not in (_RANDOM, _RANDOM + _CHECK) or not set(compact) <= _ALPHABET:
        raise InvalidInput(
            _(
                "That does not look like a reference. Please copy it again from the e-mail: "
                "it is 9 groups of 4 letters and digits (older e-mails: 8 groups)."
            )
        )
    if len(compact) > _RANDOM and check_characters(compact[:_RANDOM]) != compact[_RANDOM:]:
        raise ReferenceMistyped(
            _(
                "This reference is not right: a letter or digit is mistyped or missing. "
                "Please check it against the e-mail, or copy and paste it."
            )
        )
    return _grouped(compact)


def reference_bytes(reference: Reference) -> bytes:
    """The 160 random bits: what feeds the thread key (the check adds nothing secret)."""
    return base64.b32decode(reference.replace("-", "")[:_RANDOM])
