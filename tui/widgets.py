"""Chat bubbles and the attachment list. Text from people is always plain content.

The text area for writing (``LiteralTextArea``) is in :mod:`tui.text_area`: Textual's
TextArea takes long to import, and no first screen shows one (tests/test_startup.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual import events
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Label, ListItem, ListView, Static

from core.attachments import Attachment, check_attachments
from core.display import human_size, literal
from core.errors import InvalidInput
from core.i18n import _
from core.policy import DEFAULT_POLICY, Policy

# Set on a screen while its key bar waits for the first frame (tests read a screen only
# once it is whole: tests/tui_helpers.wait_for_workers).
KEY_BAR_PENDING = "key_bar_pending"


def footer_after_first_frame(screen: Screen[Any], also: Callable[[], object] | None = None) -> None:
    """The key bar (tui.footer.QuietFooter, docked below), mounted once the app's first frame
    is on the terminal (``VeiligApp.after_first_frame``). Its widgets' CSS takes about
    20 ms to parse, as long as all the rest of a first screen; the first question does
    not wait for it (docs/PERFORMANCE.md, *Start-up*). The keys work before it shows:
    it only names them. ``also``: what else the screen mounts then."""

    def mount() -> None:
        from textual.widgets import Footer

        from tui.footer import QuietFooter

        if not screen.is_attached:
            return
        if also is not None:
            also()
        if not screen.query(Footer):
            screen.mount(QuietFooter())
        setattr(screen, KEY_BAR_PENDING, False)

    setattr(screen, KEY_BAR_PENDING, True)

    after = getattr(screen.app, "after_first_frame", None)
    if callable(after):
        after(mount)
    else:  # hosted by another app (a test's): after the screen's next refresh
        screen.call_after_refresh(mount)


def plain(text: str, *, multiline: bool = False) -> Content:
    """Text from a person as a Content object: no markup parsed, no escapes passed on."""
    return Content(literal(text, multiline=multiline))


class LiteralInput(Input):
    """An Input that never puts a control or bidi character on the terminal.

    Input and TextArea draw what they hold as it is: pasted text copied from a hostile
    page or e-mail could carry an OSC 52 or U+202E straight to the terminal. Here every
    such character becomes its visible placeholder as it comes in (not dropped: the
    person sees what they pasted). Passwords use a plain masked Input: they are never
    drawn and must stay exactly as typed.

    It also takes at most ``max_length`` characters (a policy number): a paste beyond
    that is cut where the field is full, instead of a megabyte redrawn at every blink.
    """

    def __init__(
        self, *args: object, max_length: int = DEFAULT_POLICY.field_max_chars, **kwargs: object
    ) -> None:
        super().__init__(*args, max_length=max_length, **kwargs)  # type: ignore[arg-type]

    def replace(self, text: str, start: int, end: int) -> None:
        text = literal(text)
        if self.max_length:
            start, end = sorted((max(0, start), min(len(self.value), end)))
            text = text[: max(self.max_length - len(self.value) + (end - start), 0)]
        super().replace(text, start, end)

    def on_paste(self, event: events.Paste) -> None:
        """All of a paste, in order. Textual's Input keeps only its first line; here the
        line breaks at its end go (a copied line often brings one), and those inside
        become a space: a name or a reference copied across two lines stays whole."""
        event.stop()
        event.prevent_default()  # not Input's own handler as well
        text = LINE_BREAKS.sub(" ", event.text.rstrip("\r\n"))
        if text:
            self.replace(text, *self.selection)


# A line break as terminals (CR), Unix (LF) and e-mail (CRLF) write it.
LINE_BREAKS = re.compile(r"\r\n|\r|\n")


class Bubble(Static):
    """One turn in the dialog. ``kind`` is bot, user, error or notice (a CSS class)."""

    def __init__(self, text: str, kind: str = "bot", *, multiline: bool = True) -> None:
        super().__init__(plain(text, multiline=multiline), classes=f"bubble {kind}")


class Notice(Static):
    """One line that says what went wrong (``#error``); not there while all is well."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.display = False

    def say(self, text: str) -> None:
        """Say ``text`` (other people's words may be in it: shown literally); "" hides."""
        self.update(plain(text))
        self.display = bool(text)


class ChatLog(VerticalScroll):
    """The scrolling conversation; it sticks to the newest bubble."""

    # A click or tap on the conversation (natural in a browser) must not take the focus
    # from the answer: what is typed next would go nowhere. Tab still reaches the log.
    FOCUS_ON_CLICK = False

    def on_mount(self) -> None:
        self.anchor()

    def say(self, text: str, kind: str = "bot", *, multiline: bool = True) -> Bubble:
        bubble = Bubble(text, kind, multiline=multiline)
        self.mount(bubble)
        return bubble


class AttachmentList(ListView):
    """Files chosen to send, with sizes; Delete removes the highlighted one."""

    BINDINGS = [("delete", "remove_selected", _("Remove file"))]

    @dataclass
    class Changed(Message):
        attachment_list: AttachmentList

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.files: list[Attachment] = []

    def take(self, attachment: Attachment, policy: Policy) -> bool:
        """Add ``attachment``, an opened file. False (and closed) when the same file is
        here already; over the policy's limits it is closed and InvalidInput says why:
        refused now, not after the others were encrypted."""
        if any(f.path.resolve() == attachment.path.resolve() for f in self.files):
            attachment.close()
            return False
        try:
            check_attachments((*self.files, attachment), policy)
        except InvalidInput:
            attachment.close()
            raise
        self.add_file(attachment)
        return True

    def add_file(self, attachment: Attachment) -> None:
        self.files.append(attachment)
        self.append(ListItem(Label(self._label(attachment))))
        self.post_message(self.Changed(self))

    def close_all(self) -> None:
        """Close every file and empty the list (a draft sent or thrown away)."""
        for attachment in self.files:
            attachment.close()
        self.files.clear()
        self.clear()

    @staticmethod
    def _label(attachment: Attachment) -> Content:
        return plain(f"{attachment.name}  ({human_size(attachment.size)})")

    def on_focus(self) -> None:
        if self.files and self.index is None:
            self.index = 0  # something is always visibly selected for Delete

    def action_remove_selected(self) -> None:
        index = self.index
        if index is None or not self.files:
            return
        self.files.pop(index).close()
        self.children[index].remove()
        self.index = min(index, len(self.files) - 1) if self.files else None
        self.post_message(self.Changed(self))
