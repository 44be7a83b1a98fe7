"""The one screen base: every worker's failure is said here, and the outbox is asked for.

Every core call runs in a worker (``@work(thread=True, exclusive=True, group="core",
exit_on_error=False)``). A worker posts its result back as a message; it catches
nothing. What it raises ends here, in ``on_worker_state_changed``: a domain error
(:class:`VeiligError`) in the words of :func:`explain`, anything else as "something
went wrong" (its kind in the log, never its text: that could quote what was typed).
Either way the screen first puts itself back where the person can try again
(``recover``) and keeps what it shows; it is never left empty or half-way.
"""

from __future__ import annotations

import logging

from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from core.errors import (
    CannotOpen,
    CodeRejected,
    KeyDamaged,
    RateLimited,
    SessionEnded,
    VeiligError,
)
from core.i18n import _, ngettext

log = logging.getLogger(__name__)

NOTICE_SECONDS = 10.0  # a failure said as a notification stays this long


class BaseScreen(Screen[None]):
    """Base of every veilig screen that runs workers."""

    class OutboxDue(Message):
        """Something was queued for delivery (a code, a notification): send it now.
        Posted up; the app delivers (never two rounds at once)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, SessionEnded):
            # Removed, reset, a new password elsewhere, a new mailbox key: the key is
            # gone (core.session); back to the log-in, nothing unlocked left on screen.
            lock_up = getattr(self.app, "lock_up", None)
            if callable(lock_up):
                lock_up()
            self.app.notify(str(error), severity="warning", timeout=NOTICE_SECONDS, markup=False)
            return
        if isinstance(error, VeiligError):
            text = self.explain(error)
        else:
            # The kind only: an exception's text or traceback could quote what was typed.
            log.error("unexpected %s in %s", type(error).__name__, event.worker.name)
            text = _(
                "Something went wrong on our side. Nothing you typed is lost; please try again."
            )
        self.recover()
        self.show_failure(text)

    def explain(self, error: VeiligError) -> str:
        """A domain error in words for the person at the keyboard (screens may say more)."""
        return explain(error)

    def recover(self) -> None:
        """Put the screen back in a state where the person can try again."""

    def unsent(self) -> bool:
        """Whether the screen holds a message being written (quitting asks first)."""
        return False

    def show_failure(self, text: str) -> None:
        """Say what went wrong, leaving on screen whatever is there."""
        self.notify(text, severity="error", timeout=NOTICE_SECONDS, markup=False)

    def outbox_due(self) -> None:
        # To the app itself, not up through this screen: a screen that closes right
        # after (a sent message) would take the message with it.
        self.app.post_message(self.OutboxDue())


def explain(exc: VeiligError) -> str:
    """A domain error in words for the person at the keyboard."""
    if isinstance(exc, CannotOpen):
        return _(
            "This message cannot be opened: it was changed or damaged. Please tell the sender."
        )
    if isinstance(exc, KeyDamaged):
        return _(
            "The organisation's key is damaged, so nothing was sent. "
            "Please tell the organisation's administrator."
        )
    if isinstance(exc, RateLimited):
        return rate_message(exc)
    if isinstance(exc, CodeRejected):
        return code_message(exc)
    return str(exc)


def rate_message(exc: RateLimited) -> str:
    minutes = max(1, -(-exc.retry_after_seconds // 60))
    if exc.retry_after_seconds <= 60:
        return _("A code was sent a moment ago. Please wait {s} seconds for a new one.").format(
            s=exc.retry_after_seconds
        )
    return ngettext(
        "Too many codes were asked for. Try again in {n} minute.",
        "Too many codes were asked for. Try again in {n} minutes.",
        minutes,
    ).format(n=minutes)


def code_message(exc: CodeRejected) -> str:
    if exc.reason == CodeRejected.MALFORMED:
        return _("A code is 6 digits. Please check what you typed.")
    if exc.reason == CodeRejected.EXPIRED:
        return _("This code has expired. Press Ctrl+R for a new code.")
    if exc.reason == CodeRejected.USED_UP:
        return _("This code can no longer be used. Press Ctrl+R for a new code.")
    return ngettext(
        "That code is not right. You can try {n} more time.",
        "That code is not right. You can try {n} more times.",
        exc.attempts_left,
    ).format(n=exc.attempts_left)
