"""A paste from the terminal arrives whole and in order, whatever it holds.

A terminal sends a paste between ``ESC [200~`` and ``ESC [201~`` (bracketed paste).
Textual's input parser (8.2) treats an ESC *inside* the paste as the start of a key
sequence: the characters after it leave the paste as key presses, ahead of the paste
itself, so ``AAA ESC ]52;c;X BEL BBB`` came out as ``^]52;c;XBBBAAA``. Nothing was
interpreted, but the person's text was scrambled.

:class:`PasteKeepingParser` shows such an ESC as its visible placeholder (␛, as
:func:`core.display.literal` would) before the parser sees it, so the parser keeps the
whole paste together; every other control stays in the paste, and the widgets make it
visible (``LiteralInput``, ``LiteralTextArea``). :func:`keep_pastes_whole` puts it in
the driver the app runs with. The driver makes its parser itself, from its module's
name ``XTermParser``, with no public way to choose another: so that name is replaced.
tests/test_paste.py fails if a Textual upgrade stops this from applying.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from textual._xterm_parser import XTermParser
from textual.driver import Driver
from textual.message import Message

ESC = "\x1b"
PASTE_START = ESC + "[200~"
PASTE_END = ESC + "[201~"
SHOWN_ESC = "\u241b"  # ␛, Unicode's picture of ESC


class PasteKeepingParser(XTermParser):
    """Textual's parser, fed with every ESC inside a bracketed paste made visible."""

    def __init__(self, debug: bool = False) -> None:
        super().__init__(debug)
        self._pasting = False
        self._held = ""  # in a paste: the last characters, if they may begin its end
        self._seen = ""  # outside a paste: the last characters, to find a split start

    def feed(self, data: str) -> Iterable[Message]:
        if not data:  # the end of input
            return super().feed(data)
        guarded = self.guard(data)
        # All of it held back (the start of what may be the paste's end): nothing yet.
        return super().feed(guarded) if guarded else ()

    def guard(self, data: str) -> str:
        """``data`` with each ESC inside a paste (not its end marker) shown as ␛.
        Outside a paste nothing changes and nothing waits: a lone ESC is the Escape key."""
        out: list[str] = []
        text, self._held = self._held + data, ""
        while text:
            if not self._pasting:
                window = self._seen + text
                found = window.find(PASTE_START)
                if found < 0:
                    out.append(text)
                    self._seen = window[-(len(PASTE_START) - 1) :]
                    return "".join(out)
                after = found - len(self._seen) + len(PASTE_START)
                out.append(text[:after])
                text, self._pasting, self._seen = text[after:], True, ""
                continue
            found = text.find(PASTE_END)
            if found < 0:
                # The end marker may be split across reads: hold back what could begin it.
                keep = next(
                    (n for n in range(len(PASTE_END) - 1, 0, -1) if text.endswith(PASTE_END[:n])),
                    0,
                )
                if keep:
                    text, self._held = text[:-keep], text[-keep:]
                out.append(text.replace(ESC, SHOWN_ESC))
                return "".join(out)
            out.append(text[:found].replace(ESC, SHOWN_ESC) + PASTE_END)
            text, self._pasting = text[found + len(PASTE_END) :], False
        return "".join(out)


def keep_pastes_whole(driver_class: type[Driver]) -> None:
    """Make the driver's input thread parse with :class:`PasteKeepingParser`.

    Textual's terminal drivers (Linux, the web driver, Windows) build their parser in
    ``run_input_thread`` from the name ``XTermParser`` in their own module."""
    module = sys.modules.get(driver_class.run_input_thread.__module__)
    if module is not None and getattr(module, "XTermParser", None) is XTermParser:
        module.XTermParser = PasteKeepingParser  # type: ignore[attr-defined]
