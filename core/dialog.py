"""The guided dialogs as state machines: which steps there are, and where Escape leads.

The TUI shows one step at a time. Three dialogs write a message (the guest's starter,
the recipient's reply, the desk's reply) in the same four steps (``WriteStep``); two
show a conversation whose attachments can be saved (the recipient after the code,
the desk's conversation: ``ReadStep``). Each dialog's own steps come before those.
Escape follows the dialog's ``…_BACK``. Steps after a code is accepted never lead back
to it: once unlocked, a person is not asked again.
"""

from __future__ import annotations

from enum import StrEnum


class WriteStep(StrEnum):
    """Writing a message: body, attachments, confirm, send (and back to confirm on failure)."""

    BODY = "body"
    ATTACHMENTS = "attachments"
    CONFIRM = "confirm"
    SENDING = "sending"


class ReadStep(StrEnum):
    """A conversation on screen: read it, or say where to save its attachments."""

    READ = "read"
    SAVE = "save"  # which folder to save attachments in


class StarterStep(StrEnum):
    """``veilig start``: seed steps 1A–1H, before and after writing."""

    NAME = "name"
    EMAIL = "email"
    CODE = "code"
    SUBJECT = "subject"
    DONE = "done"


class RecipientStep(StrEnum):
    """``veilig open``: seed steps 2B–2C, before reading (2D) and replying (3A)."""

    REFERENCE = "reference"
    DESTINATION = "destination"  # "is this your number?" -> get the code
    CODE = "code"


Step = WriteStep | ReadStep | StarterStep | RecipientStep

WRITE_BACK: dict[Step, Step] = {
    WriteStep.ATTACHMENTS: WriteStep.BODY,
    WriteStep.CONFIRM: WriteStep.ATTACHMENTS,
}

STARTER_BACK: dict[Step, Step] = {
    StarterStep.EMAIL: StarterStep.NAME,
    StarterStep.CODE: StarterStep.EMAIL,
    WriteStep.BODY: StarterStep.SUBJECT,
    **WRITE_BACK,
}

# The desk's conversation; Escape while reading leaves it (back to the inbox).
READ_BACK: dict[Step, Step] = {
    ReadStep.SAVE: ReadStep.READ,
    WriteStep.BODY: ReadStep.READ,
    **WRITE_BACK,
}

RECIPIENT_BACK: dict[Step, Step] = {
    RecipientStep.DESTINATION: RecipientStep.REFERENCE,
    RecipientStep.CODE: RecipientStep.DESTINATION,
    **READ_BACK,
}
