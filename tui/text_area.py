"""The text area for writing a message: :class:`LiteralTextArea`.

Apart from :mod:`tui.widgets` because Textual's TextArea (with its document and
syntax modules) takes long to import and no first question needs it: the dialogs
import this module when the write step first mounts its text area
(docs/PERFORMANCE.md, *Start-up*; tests/test_startup.py guards it).
"""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import TextArea
from textual.widgets.text_area import Edit, EditResult

from core.display import literal
from core.policy import DEFAULT_POLICY
from tui.widgets import LINE_BREAKS


class LiteralTextArea(TextArea):
    """A TextArea with the same rules as :class:`tui.widgets.LiteralInput` (line breaks
    and tabs stay), and at most ``max_length`` characters.

    Terminals send a pasted line break as CR (the Enter key's character): every CR and
    CRLF that comes in is a line break here, as in an editor."""

    def __init__(
        self, *args: object, max_length: int = DEFAULT_POLICY.body_max_chars, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.max_length = max_length

    def edit(self, edit: Edit) -> EditResult:
        text = literal(LINE_BREAKS.sub("\n", edit.text), multiline=True)
        if self.max_length:
            top, bottom = sorted((edit.from_location, edit.to_location))
            kept = len(self.text) - len(self.get_text_range(top, bottom))
            text = text[: max(self.max_length - kept, 0)]
        return super().edit(replace(edit, text=text))
