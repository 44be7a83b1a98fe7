"""Plays walkthrough steps (:mod:`tui.walkthrough.script`) on a running app through its
Pilot, as a person at the keyboard would; reads codes and references as they would."""

from __future__ import annotations

import json
import mailbox
import os
import re
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
from textual import events
from textual.app import App
from textual.pilot import Pilot

from core.config import Settings
from core.display import literal
from core.i18n import _
from tui.walkthrough.script import ScriptError, Step


def screen_text(app: App) -> str:
    """What is on screen as plain text (from the same SVG a screenshot would save)."""
    import html

    svg = app.export_screenshot()
    rows: dict[float, list[str]] = {}
    for y, content in re.findall(r'<text[^>]*\by="([\d.]+)"[^>]*>(.*?)</text>', svg, re.DOTALL):
        rows.setdefault(float(y), []).append(html.unescape(re.sub(r"<[^>]+>", "", content)))
    return "\n".join("".join(parts).replace("\xa0", " ") for _, parts in sorted(rows.items()))


_BORDERS = str.maketrans("", "", "▊▎▍▌▋▔▁│")


def flat(text: str) -> str:
    """Screen text without borders and line wraps: a sentence is found however the
    terminal's width wrapped it."""
    return " ".join(text.translate(_BORDERS).replace("\u00a0", " ").split())


@dataclass
class Tally:
    """What the walkthrough did, for the summary."""

    codes: int = 0
    screenshots: list[Path] = field(default_factory=list)
    steps: int = 0


@dataclass
class Player:
    """Plays steps on a running app through its Pilot, as a person at the keyboard."""

    settings: Settings  # the demo home's: where its mail and text messages land
    totp_secret: str
    files: Path  # where ``file`` steps make demo files: outside the home (never attachable)
    speed: float = 1.0
    screenshots: Path | None = None
    deliver: Callable[[], Awaitable[object]] | None = None  # the app's outbox, now
    variables: dict[str, str] = field(default_factory=dict)
    tally: Tally = field(default_factory=Tally)
    logins: int = 0
    current: Step | None = None  # the step being played, to name it when something breaks

    def _wait(self, seconds: float) -> float:
        return seconds / self.speed if self.speed > 0 else 0.0

    def expand(self, text: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: self.variables.get(m.group(1), m.group(0)), text)

    async def play(self, pilot: Pilot, steps: list[Step]) -> None:
        for step in steps:
            self.current = step
            self.tally.steps += 1
            await self.run(pilot, step)

    async def run(self, pilot: Pilot, step: Step) -> None:  # one branch per verb
        app = pilot.app
        argument = self.expand(step.argument)
        if step.verb == "say":
            app.notify(
                literal(argument),
                title=_("Walkthrough"),
                timeout=max(2.0, self._wait(4.0)),
                markup=False,
            )
            await pilot.pause(self._wait(1.2))
        elif step.verb == "type":
            for char in argument:
                await pilot.press("space" if char == " " else char)
                await pilot.pause(self._wait(0.06))
        elif step.verb == "paste":
            focused = app.focused
            if focused is None:
                raise ScriptError(f"{step}: nothing has the focus to paste into")
            focused.post_message(events.Paste(argument))
            await pilot.pause(self._wait(0.3))
        elif step.verb == "press":
            for key in argument.split():
                await pilot.press(key)
                await pilot.pause(self._wait(0.25))
        elif step.verb == "insert":
            focused = app.focused
            if focused is None or not hasattr(focused, "insert"):
                raise ScriptError(f"{step}: the focus is not in a text editor")
            focused.insert(argument.replace("\\n", "\n"))
            await pilot.pause(self._wait(0.5))
        elif step.verb == "focus":
            app.screen.query_one(f"#{argument}").focus()
            await pilot.pause()
        elif step.verb == "expect":
            await self.expect(pilot, step, argument)
        elif step.verb == "screenshot":
            if self.screenshots is not None:
                self.screenshots.mkdir(parents=True, exist_ok=True)
                name = re.sub(r"[^\w.-]", "_", argument) + ".svg"
                app.save_screenshot(name, str(self.screenshots))
                self.tally.screenshots.append(self.screenshots / name)
        elif step.verb == "pause":
            await pilot.pause(self._wait(float(argument)))
        elif step.verb == "deliver":
            if self.deliver is not None:
                await self.deliver()
        elif step.verb == "file":
            name, kib = shlex.split(argument)
            self.files.mkdir(parents=True, exist_ok=True)
            (self.files / name).write_bytes(os.urandom(int(kib) * 1024))
            self.variables["files"] = str(self.files)
        elif step.verb == "code":
            self.variables["code"] = self.read_code(step, argument)
            self.tally.codes += 1
        elif step.verb == "reference":
            self.variables["reference"] = self.read_reference(step, argument)
        elif step.verb == "totp":
            # A code is accepted once: a second log-in in the same half minute uses the
            # next step's code (the window allows one step of drift, RFC 6238).
            totp = pyotp.TOTP(self.totp_secret)
            import time

            self.variables["totp"] = totp.at(time.time() + 30 * self.logins)
            self.logins += 1
        elif step.verb == "app":
            raise ScriptError(f"{step}: 'app' must start a section")

    async def expect(self, pilot: Pilot, step: Step, text: str) -> None:
        """Wait for ``text`` on screen: bounded (10 s of app time), never a blind sleep."""
        wanted = flat(text)
        for _round in range(400):
            if wanted in flat(screen_text(pilot.app)):
                return
            if self.deliver is not None and _round % 20 == 19:
                await self.deliver()
            await pilot.pause(0.025)
        raise ScriptError(f"{step}: expected {text!r} on screen, but it is not there")

    def _mails(self, to: str) -> list[mailbox.MaildirMessage]:
        folder = self.settings.maildir
        if not (folder / "new").exists():
            return []
        box = mailbox.Maildir(folder, create=False)
        found = [
            ((folder / "new" / key).stat().st_mtime_ns, box[key])
            for key in box.keys()
            if box[key]["To"] == to and (folder / "new" / key).exists()
        ]
        return [message for _time, message in sorted(found, key=lambda pair: pair[0])]

    @staticmethod
    def _body(message: mailbox.MaildirMessage) -> str:
        payload = message.get_payload(decode=True)
        return (
            payload.decode(message.get_content_charset() or "utf-8")
            if isinstance(payload, bytes)
            else ""
        )

    def read_code(self, step: Step, argument: str) -> str:
        kind, _sep, address = argument.partition(" ")
        if kind == "sms":
            log = self.settings.sms_log
            lines = log.read_text("utf-8").splitlines() if log.exists() else []
            bodies = [json.loads(line)["body"] for line in lines]
        elif kind == "email":
            bodies = [self._body(m) for m in self._mails(address.strip())]
        else:
            raise ScriptError(f"{step}: say 'code email ADDRESS' or 'code sms'")
        for body in reversed(bodies):
            match = re.search(r"(?<!\d)(\d{6})(?!\d)", body)
            if match:
                return match.group(1)
        raise ScriptError(f"{step}: no code has arrived yet")

    def read_reference(self, step: Step, address: str) -> str:
        for message in reversed(self._mails(address)):
            match = re.search(r"veilig open ([A-Z2-7]{4}(?:-[A-Z2-7]{4}){7})", self._body(message))
            if match:
                return match.group(1)
        raise ScriptError(f"{step}: no notification with a reference for {address}")
