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


NEXT: dict[StarterStep, StarterStep] = {
    StarterStep.NAME: StarterStep.EMAIL,
    StarterStep.EMAIL: StarterStep.CODE,
    StarterStep.CODE: StarterStep.SUBJECT,
    StarterStep.SUBJECT: StarterStep.BODY,
    StarterStep.BODY: StarterStep.ATTACHMENTS,
    StarterStep.ATTACHMENTS: StarterStep.CONFIRM,
    StarterStep.CONFIRM: StarterStep.SENDING,
    StarterStep.SENDING: StarterStep.DONE,
}

BACK: dict[StarterStep, StarterStep] = {
    StarterStep.EMAIL: StarterStep.NAME,
    StarterStep.CODE: StarterStep.EMAIL,
    StarterStep.BODY: StarterStep.SUBJECT,
    StarterStep.ATTACHMENTS: StarterStep.BODY,
    StarterStep.CONFIRM: StarterStep.ATTACHMENTS,
}
