"""Driving the real TUI under Pilot: typing, pasting, reading the rendered screen."""

from __future__ import annotations

import asyncio
import html
import re
from collections import defaultdict

from textual import events
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input

from tests.conftest import SmsGateway, sms_code

_TEXT = re.compile(r'<text[^>]*\by="([\d.]+)"[^>]*>(.*?)</text>', re.DOTALL)


def screen_text(app: App) -> str:
    """The screen as a person sees it: the rendered SVG's text, line by line."""
    svg = app.export_screenshot()
    lines: dict[float, list[str]] = defaultdict(list)
    for y, content in _TEXT.findall(svg):
        lines[float(y)].append(html.unescape(re.sub(r"<[^>]+>", "", content)))
    return "\n".join("".join(parts).replace("\xa0", " ") for _, parts in sorted(lines.items()))


async def type_text(pilot: Pilot, text: str) -> None:
    """Type ``text`` key by key, as a person would (printable characters only)."""
    await pilot.press(*["space" if ch == " " else ch for ch in text])


async def paste(pilot: Pilot, text: str) -> None:
    """Paste ``text`` into the focused widget, as a terminal's bracketed paste does."""
    focused = pilot.app.focused
    assert focused is not None
    focused.post_message(events.Paste(text))
    await pilot.pause()


async def wait_for_workers(pilot: Pilot, group: str = "core") -> None:
    """Wait until the core worker finished (the TUI runs core calls in threads), with
    its result or with an error: a worker lets a refusal (a wrong code, a damaged
    message) out, and its screen says what it means (tui/base.py)."""
    workers = [w for w in pilot.app.workers if w.group == group]
    await asyncio.gather(*(worker.wait() for worker in workers), return_exceptions=True)
    await pilot.pause()


async def wait_until(pilot: Pilot, condition, what: str, rounds: int = 500) -> None:
    """Let the app run until ``condition()`` holds (for work we cannot await directly,
    like a DirectoryTree's loader). Bounded, and each round yields to the app."""
    for _ in range(rounds):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def ask_for_code(pilot: Pilot, email: str, name: str = "Karin Janssen") -> None:
    """The starter's first two questions answered, and the code asked for: the name
    pasted (it may hold anything), the address typed."""
    await paste(pilot, name)
    await pilot.press("enter")
    await type_text(pilot, email)
    await pilot.press("enter")
    await wait_for_workers(pilot)


async def save_attachments_to(pilot: Pilot, folder: object) -> None:
    """Ctrl+D in a conversation, the suggested folder replaced by ``folder``, Enter."""
    await pilot.press("ctrl+d")
    pilot.app.screen.query_one("#line", Input).value = ""
    await paste(pilot, str(folder))
    await pilot.press("enter")
    await wait_for_workers(pilot)


async def unlock_by_sms(pilot: Pilot, reference: str, gateway: SmsGateway) -> None:
    """The recipient's way in: the reference pasted, the code asked for by SMS (the
    outbox sends it), the code from the SMS gateway typed, unlocked."""
    app = pilot.app
    await paste(pilot, reference)
    await pilot.press("enter")
    await wait_for_workers(pilot)
    await pilot.press("enter")  # get the code
    await wait_for_workers(pilot)
    await app.workers.wait_for_complete([w for w in app.workers if w.group == "outbox"])
    await type_text(pilot, sms_code(await asyncio.to_thread(gateway.next)))
    await pilot.press("enter")
    await wait_for_workers(pilot)
