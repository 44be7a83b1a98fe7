"""Make text from other people safe to show in a terminal, without losing information.

Names, subjects, bodies and file names come from strangers. Shown raw, a control
character can move the cursor, an OSC 52 sequence can write the clipboard, OSC 8
can hide a link, and U+202E can make ``evil\u202efdp.exe`` look like ``evilexe.pdf``.
We never drop such characters (that would hide the attempt); we show each as a
visible placeholder. Markup is not our concern here: the TUI renders the result as
plain content, never as Rich/Textual markup.
"""

from __future__ import annotations

import unicodedata

from core.i18n import format_decimal

# Bidirectional controls (UAX #9) and invisible formatting characters.
_INVISIBLE = {
    0x200B,
    0x200C,
    0x200D,
    0x200E,
    0x200F,  # zero width space/joiners, LRM/RLM
    0x202A,
    0x202B,
    0x202C,
    0x202D,
    0x202E,  # LRE RLE PDF LRO RLO
    0x2060,
    0x2061,
    0x2062,
    0x2063,
    0x2064,  # word joiner, invisible operators
    0x2066,
    0x2067,
    0x2068,
    0x2069,  # LRI RLI FSI PDI
    0xFEFF,  # zero width no-break space / BOM
}


def _placeholder(ch: str) -> str:
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # Unicode "control pictures": ␛ for ESC, ␇ for BEL
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


def literal(text: str, *, multiline: bool = False) -> str:
    """``text`` with every control, bidi and invisible character made visible.

    With ``multiline`` newlines and tabs are kept (bodies); otherwise they are shown
    too (names, subjects, file names must stay on one line).
    """
    if multiline:
        text = text.replace("\r\n", "\n")  # CRLF from e-mail clients is a line break
    out: list[str] = []
    for ch in text:
        if multiline and ch in "\n\t":
            out.append(ch)
            continue
        code = ord(ch)
        category = unicodedata.category(ch)
        if (
            code in _INVISIBLE
            or category in ("Cc", "Cf", "Cs", "Co")
            or category == "Zl"
            or (category == "Zp")
        ):
            out.append(_placeholder(ch))
        else:
            out.append(ch)
    return "".join(out)


def human_size(size: int) -> str:
    """Bytes for people, in binary units with their IEC names, as the limits are set
    (2 GiB a file): 10 B, 1.5 KiB, 30 MiB, 2 GiB. One decimal below 10 (not for whole
    numbers), none from 10 on; the language's decimal mark."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            if unit == "B" or value >= 10 or value == int(value):
                number = str(round(value))
            else:
                number = format_decimal(value)
            # A no-break space: "30 MiB" never splits across two lines.
            return f"{number}\u00a0{unit}"
        value /= 1024
    raise AssertionError("unreachable")
