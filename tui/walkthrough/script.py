"""Scripted walkthroughs: plain files of steps, played on the real apps.

A desk writes its own training demos in this format; the three seed flows ship as
such files (``tui/walkthrough/scripts``). One step per line, ``#`` starts a comment::

    app start | app desk | app open       run that screen (ends the one before)
    say TEXT                              narration, shown as a notice
    type TEXT                             type at human speed
    paste TEXT                            paste at once (long paths)
    press KEY [KEY…]                      keys: enter, escape, ctrl+s, tab…
    insert TEXT                           text into the focused editor (\\n for new lines)
    focus ID                              move the focus to the widget with that id
    expect TEXT                           wait until TEXT is on screen, or fail here
    screenshot NAME                       an SVG of the screen (with --screenshots)
    pause SECONDS                         wait (scaled by --speed)
    deliver                               let the outbox send what is queued
    file NAME KIB                         make a demo file; {files} is its folder
    code email ADDRESS | code sms         read the newest code, as the person would: {code}
    reference ADDRESS                     read the reference from the notification: {reference}
    totp                                  the staff member's authenticator code: {totp}

``{name}`` in a step is replaced by what an earlier step read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WALKTHROUGHS = Path(__file__).with_name("scripts")
SEED_NAMES = ["seed-1-guest-writes.txt", "seed-2-staff-sends.txt", "seed-3-recipient-replies.txt"]


def seed_scripts(language: str) -> list[Path]:
    """The seed's walkthroughs in ``language`` (their expectations are screen text)."""
    folder = WALKTHROUGHS / language if (WALKTHROUGHS / language).is_dir() else WALKTHROUGHS
    return [folder / name for name in SEED_NAMES]


SEED_SCRIPTS = seed_scripts("en")
VERBS = {
    "app", "say", "type", "paste", "press", "insert", "focus", "expect", "screenshot",
    "pause", "deliver", "file", "code", "reference", "totp",
}  # fmt: skip


class ScriptError(Exception):
    """A step that cannot run or whose expectation did not hold; names the step."""


@dataclass(frozen=True)
class Step:
    source: str  # file:line, for messages
    verb: str
    argument: str

    def __str__(self) -> str:
        return f"{self.source}: {self.verb} {self.argument}".rstrip()


def parse(path: Path) -> list[Step]:
    steps = []
    for number, raw in enumerate(path.read_text("utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        verb, _sep, argument = line.partition(" ")
        if verb not in VERBS:
            raise ScriptError(f"{path.name}:{number}: unknown step {verb!r}")
        steps.append(Step(f"{path.name}:{number}", verb, argument.strip()))
    return steps


def sections(steps: list[Step]) -> list[tuple[Step, list[Step]]]:
    """Split a script at its ``app`` steps: (the app step, the steps played on it)."""
    result: list[tuple[Step, list[Step]]] = []
    for step in steps:
        if step.verb == "app":
            result.append((step, []))
        elif not result:
            raise ScriptError(
                f"{step}: the script must start with 'app start', 'app desk' or 'app open'"
            )
        else:
            result[-1][1].append(step)
    return result
