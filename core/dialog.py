"""The conversation starter's dialog as a state machine: which step follows which.

The TUI shows one step at a time; Escape follows ``BACK``. Steps after the code is
accepted never lead back to it: once unlocked, a guest is not asked again.
"""

from __future__ import annotations

from enum import StrEnum


class StarterStep(StrEnum):
    NAME = "name"
    EMAIL = "email"
    CODE = "code"
    SUBJECT = "subject"
    BODY = "body"
    ATTACHMENTS = "attachments"
    CONFIRM = "confirm"
    SENDING = "sending"
    DONE = "done"


BACK: dict[StarterStep, StarterStep] = {
    StarterStep.EMAIL: StarterStep.NAME,
    StarterStep.CODE: StarterStep.EMAIL,
    StarterStep.BODY: StarterStep.SUBJECT,
    StarterStep.ATTACHMENTS: StarterStep.BODY,
    StarterStep.CONFIRM: StarterStep.ATTACHMENTS,
}


class RecipientStep(StrEnum):
    """``veilig open``: seed steps 2B–2D and 3A."""

    REFERENCE = "reference"
    DESTINATION = "destination"  # "is this your number?" -> get the code
    CODE = "code"
    READ = "read"
    SAVE = "save"  # which folder to save attachments in
    BODY = "body"
    ATTACHMENTS = "attachments"
    CONFIRM = "confirm"
    SENDING = "sending"


RECIPIENT_BACK: dict[RecipientStep, RecipientStep] = {
    RecipientStep.DESTINATION: RecipientStep.REFERENCE,
    RecipientStep.CODE: RecipientStep.DESTINATION,
    RecipientStep.SAVE: RecipientStep.READ,
    RecipientStep.BODY: RecipientStep.READ,
    RecipientStep.ATTACHMENTS: RecipientStep.BODY,
    RecipientStep.CONFIRM: RecipientStep.ATTACHMENTS,
}
