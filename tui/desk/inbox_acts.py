"""Take, close and reopen the conversation under the inbox's cursor (T, C, O).

A mixin of the inbox screen (tui.desk.inbox): it asks first when a colleague handles
the conversation, stores the change in a worker, and says when it is stored
(``Acted``), after which the inbox shows the page again. A colleague who was quicker
is the inbox's to say (``InboxScreen.explain``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.message import Message

from core.i18n import _
from core.models import ConversationState
from tui.confirm import ConfirmScreen

if TYPE_CHECKING:
    from textual.app import App

    from core.desk import Desk, InboxRow


class ConversationActs:
    """The inbox's T, C and O (the bindings and check_action are the inbox's)."""

    if TYPE_CHECKING:  # what the screen that mixes this in has
        desk: Desk
        app: App[object]

        def current(self) -> InboxRow | None: ...
        def post_message(self, message: Message) -> bool: ...

    class Acted(Message):
        """A take, close or reopen is stored: show the page again."""

    def action_take(self) -> None:
        row = self.current()
        if row is None or row.conversation.assignee_id == self.desk.staff.id:
            return
        holder = row.conversation.assignee_id
        if holder is None:
            self.act("take", row.conversation.id, None)
            return

        def decided(yes: bool | None) -> None:
            if yes:
                self.act("take", row.conversation.id, holder)

        question = _("{staff} handles this conversation. Take it over?").format(staff=row.handler)
        self.app.push_screen(ConfirmScreen(question), decided)

    def action_close_conversation(self) -> None:
        row = self.current()
        if row is not None and row.conversation.state is not ConversationState.CLOSED:
            self.act("close", row.conversation.id)

    def action_reopen(self) -> None:
        row = self.current()
        if row is not None and row.conversation.state is ConversationState.CLOSED:
            self.act("reopen", row.conversation.id)

    # Not exclusive, and not in "core": loading the page again (when the question over it
    # closes) must not cancel a take before it ran.
    @work(thread=True, group="act", exit_on_error=False)
    def act(self, what: str, conversation_id: str, holder: str | None = None) -> None:
        if what == "take":
            self.desk.take(conversation_id, expected=holder)
        elif what == "close":
            self.desk.close(conversation_id)
        else:
            self.desk.reopen(conversation_id)
        self.post_message(self.Acted())
