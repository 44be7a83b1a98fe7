"""Chat bubbles and the attachment list. Text from people is always plain content."""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, Label, ListItem, ListView, Static, TextArea
from textual.widgets.text_area import Edit, EditResult

from core.display import human_size, literal
from core.i18n import _
from core.sealing import Attachment


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
    """

    def replace(self, text: str, start: int, end: int) -> None:
        super().replace(literal(text), start, end)


class LiteralTextArea(TextArea):
    """A TextArea with the same rule as :class:`LiteralInput`; line breaks and tabs stay."""

    def edit(self, edit: Edit) -> EditResult:
        return super().edit(replace(edit, text=literal(edit.text, multiline=True)))


class Bubble(Static):
    """One turn in the dialog. ``kind`` is bot, user, error or notice (a CSS class)."""

    def __init__(self, text: str, kind: str = "bot", *, multiline: bool = True) -> None:
        super().__init__(plain(text, multiline=multiline), classes=f"bubble {kind}")


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

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.files: list[Attachment] = []

    def add_file(self, attachment: Attachment) -> None:
        self.files.append(attachment)
        self.append(ListItem(Label(self._label(attachment))))
        self.post_message(self.Changed(self))

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
