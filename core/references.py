"""References: the secret in a notification that lets one person open one conversation.

160 random bits (more than the 128 asked for), written in base32 in groups of four so
it survives being read aloud, retyped or pasted with spaces. Only a keyed tag of it is
stored; the reference itself also feeds the thread key, so it is half of the key.
"""

from __future__ import annotations

import base64
import secrets
from typing import NewType

from core.errors import InvalidInput
from core.i18n import _

Reference = NewType("Reference", str)

REFERENCE_BYTES = 20
_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
_LENGTH = 32  # base32 characters for 20 bytes, no padding


def new_reference() -> Reference:
    text = base64.b32encode(secrets.token_bytes(REFERENCE_BYTES)).decode()
    return Reference("-".join(text[i : i + 4] for i in range(0, len(text), 4)))


def parse_reference(typed: str) -> Reference:
    """Accept what people paste: any case, spaces, dashes, a ``veilig open`` prefix."""
    text = typed.strip()
    if text.lower().startswith("veilig open"):
        text = text[len("veilig open") :]
    compact = "".join(ch for ch in text.upper() if ch not in " -\t\r\n")
    # Letters people confuse with digits that base32 does not use.
    compact = compact.replace("0", "O").replace("1", "I").replace("8", "B")
    if len(compact) != _LENGTH or not set(compact) <= _ALPHABET:
        raise InvalidInput(
            _("That does not look like a reference. It is 8 groups of 4 letters and digits.")
        )
    return Reference("-".join(compact[i : i + 4] for i in range(0, _LENGTH, 4)))


def reference_bytes(reference: Reference) -> bytes:
    return base64.b32decode(reference.replace("-", ""))
