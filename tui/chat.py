"""The chat-like dialog of the guest's starter, the recipient and the desk's conversation.

A scrolling conversation of bubbles above, one answer area below. The answer area
holds every kind of input a step may need; each step shows only its own
(``WIDGETS``, ``show_only``). The step machine is the same for every dialog:
``show_step`` shows a step's widgets and (normally) asks its question, Enter on the
line goes to ``answer``, the send button to ``press``, Escape follows ``BACK``, and
the footer shows only the keys ``allowed`` in the step. Each layer of screens handles
its own steps in ``enter``/``answer``/``press``/``allowed`` and passes the rest on
with ``super()``: :mod:`tui.writing` the writing steps, :mod:`tui.reading` the reading
steps, the dialogs their own.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, TypeVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from core.context import Context
from core.dialog import Step
from core.display import human_size, literal
from core.errors import InvalidInput
from core.i18n import _, format_datetime
from tui.base import BaseScreen
from tui.widgets import AttachmentList, ChatLog, LiteralInput, footer_after_first_frame

if TYPE_CHECKING:
    from core.drafts import OpenedMessage
    from core.models import Direction
    from tui.text_area import LiteralTextArea

# The first question shows the line only. The text area (Textual's TextArea, slow to
# import), the progress bar and the models are imported when a step first needs them
# (part(), show_message): tests/test_startup.py fails if they come back up here.

ANSWER_WIDGETS = ("line", "body", "files", "progress", "buttons")

W = TypeVar("W", bound=Widget)

BACK_KEY = Binding("escape", "back", _("Back"), id="back")


class ChatScreen(BaseScreen):
    """Base for guided dialogs: the parts, and the step machine the dialogs fill in."""

    WIDGETS: ClassVar[dict[Step, tuple[str, ...]]] = {}  # the answer widgets of each step
    BACK: ClassVar[dict[Step, Step]] = {}  # where Escape leads from a step
    ASK_AGAIN_ON_BACK: ClassVar[bool] = False  # Escape repeats the step's question

    step: Step

    def __init__(self, ctx: Context, title: str) -> None:
        super().__init__()
        self.ctx = ctx
        self.title_text = title

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, id="title", markup=False)
        yield ChatLog(id="chat")
        with Vertical(id="answer"):
            # The other answer widgets are made when a step first needs them (part()):
            # mounting them all, hidden, delayed the first question.
            yield LiteralInput(id="line")

    @on(events.Mount)
    def _key_bar(self) -> None:
        footer_after_first_frame(self)  # after the dialog's on_mount has asked its question

    # --- parts ----------------------------------------------------------------------

    @property
    def chat(self) -> ChatLog:
        return self.query_one("#chat", ChatLog)

    @property
    def line(self) -> Input:
        return self.query_one("#line", Input)

    @property
    def body(self) -> LiteralTextArea:
        from tui.text_area import LiteralTextArea

        return self.part("body", LiteralTextArea)

    @property
    def files(self) -> AttachmentList:
        return self.part("files", AttachmentList)

    @property
    def send_button(self) -> Button:
        self.part("buttons", Vertical)
        return self.query_one("#send", Button)

    def part(self, widget_id: str, kind: type[W]) -> W:
        """The answer widget ``widget_id`` (one of ANSWER_WIDGETS), made and mounted,
        hidden, in its place below the others the first time it is asked for."""
        answer = self.query_one("#answer", Vertical)
        later = ANSWER_WIDGETS[ANSWER_WIDGETS.index(widget_id) + 1 :]
        before = None
        for child in answer.children:
            if child.id == widget_id:
                assert isinstance(child, kind)
                return child
            if before is None and child.id in later:
                before = child
        widget: Widget
        if widget_id == "body":
            from tui.text_area import LiteralTextArea

            widget = LiteralTextArea(id="body", soft_wrap=True, tab_behavior="focus")
        elif widget_id == "files":
            widget = AttachmentList(id="files")
        elif widget_id == "progress":
            from textual.widgets import ProgressBar

            widget = ProgressBar(id="progress", show_eta=False)
        elif widget_id == "buttons":
            widget = Vertical(id="buttons")
        else:
            raise ValueError(widget_id)
        widget.display = False
        answer.mount(widget, before=before)
        if widget_id == "buttons":
            widget.mount(Button(_("Send securely"), id="send", variant="success"))
        assert isinstance(widget, kind)
        return widget

    def show_only(self, *widget_ids: str) -> None:
        for widget_id in ANSWER_WIDGETS:
            if widget_id in widget_ids:
                self.part(widget_id, Widget).display = True
            else:
                for widget in self.query_one("#answer", Vertical).children:
                    if widget.id == widget_id:
                        widget.display = False

    def ask_line(self, placeholder: str, value: str = "", *, password: bool = False) -> None:
        self.line.placeholder = placeholder
        self.line.value = value
        self.line.password = password
        self.line.focus()

    def show_error(self, text: str) -> None:
        """Say what went wrong; whatever was typed stays where it was."""
        self.chat.say(text, "error")
        if self.line.display:
            self.line.focus()
            self.line.select_all()  # kept, but selected: typing replaces it

    def show_failure(self, text: str) -> None:
        self.show_error(text)

    def clear_errors(self) -> None:
        """The person tries again or goes on: what went wrong before is no longer news
        (a wrong code said three times stood above the message being written)."""
        self.chat.query(".bubble.error").remove()

    # --- the step machine -------------------------------------------------------------

    def show_step(self, step: Step, *, ask: bool = True) -> None:
        """Show the widgets of ``step`` and (normally) ask its question."""
        self.step = step
        self.show_only(*self.WIDGETS[step])
        self.enter(step, ask=ask)
        self.refresh_bindings()

    def enter(self, step: Step, *, ask: bool) -> None:
        """What ``step`` says and where the focus goes; each layer handles its own steps."""

    def answer(self, step: Step, text: str) -> None:
        """Enter on the line in ``step``. Raise InvalidInput to have the reason said."""

    def press(self, step: Step) -> None:
        """The button below the dialog in ``step`` (send, or get the code)."""

    def allowed(self) -> dict[str, bool]:
        """Which actions do something in this step (the footer shows only those)."""
        return {"back": self.step in self.BACK}

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.allowed().get(action, True)

    def action_back(self) -> None:
        if self.step in self.BACK:
            self.show_step(self.BACK[self.step], ask=self.ASK_AGAIN_ON_BACK)

    def take_answer(self, text: str) -> None:
        """``text`` as the answer to the step on screen; a refusal is said, the text kept."""
        self.clear_errors()
        try:
            self.answer(self.step, text)
        except InvalidInput as exc:
            self.show_error(str(exc))

    @on(Input.Submitted, "#line")
    def _answered(self, event: Input.Submitted) -> None:
        self.take_answer(event.value)

    @on(Button.Pressed, "#send")
    def _pressed(self) -> None:
        self.clear_errors()
        self.press(self.step)

    # --- showing a message ------------------------------------------------------------

    def show_message(self, opened: OpenedMessage, mine: Direction) -> None:
        """One message as a bubble: sender, time, subject, body, numbered attachments.
        The reader's own messages stand on the right, like their answers in the dialog."""
        sent = datetime.fromisoformat(opened.sent_at)
        # Names, subject and file names are one line each: made literal here, a newline
        # in them shows as ␊ instead of starting a fake "Subject:" line in the bubble.
        lines = [
            _("From {name} <{email}> · {when}").format(
                name=literal(opened.sender.name),
                email=literal(opened.sender.email),
                when=format_datetime(sent),
            ),
            _("Subject: {subject}").format(subject=literal(opened.subject)),
            "",
            opened.body,
        ]
        for n, attachment in enumerate(opened.attachments, 1):
            size = human_size(attachment.size)
            lines.append(f"📎 {n}. {literal(attachment.name)}  ({size})")
        kind = "user" if opened.message.direction == mine else "bot"
        self.chat.say("\n".join(lines), kind)
