"""Driving the real TUI under Pilot: typing, pasting, reading the rendered screen."""

from __future__ import annotations

import asyncio
import html
import re
from collections import defaultdict

from textual import events
from textual.app import App
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.widgets import Input

from tests.conftest import SmsGateway, sms_code
from tui.widgets import KEY_BAR_PENDING

_TEXT = re.compile(r'<text[^>]*\by="([\d.]+)"[^>]*>(.*?)</text>', re.DOTALL)


def screen_text(app: App) -> str:
    """The screen as a person sees it: the rendered SVG's text, line by line."""
    svg = app.export_screenshot()
    lines: dict[float, list[str]] = defaultdict(list)
    for y, content in _TEXT.findall(svg):
        lines[float(y)].append(html.unescape(re.sub(r"<[^>]+>", "", content)))
    return "\n".join("".join(parts).replace("\xa0", " ") for _, parts in sorted(lines.items()))


def flat(app: App) -> str:
    """The screen's words on one line, as a sentence reads: bubbles wrap it across lines
    between their borders."""
    return " ".join(screen_text(app).replace("▊", " ").replace("▎", " ").split())


async def type_text(pilot: Pilot, text: str) -> None:
    """Type ``text`` key by key (printable characters only), in one burst as a fast typist
    or a terminal's paste-less key repeat would: each key is the Key event a terminal
    gives, in order, through the app's own key handling; the app settles once after the
    last key. (``pilot.press`` waits for the app to go idle twice after every key, at
    least 40 ms a key; for typed words that was most of a TUI test's time.)"""
    app = pilot.app
    for ch in text:
        key = "space" if ch == " " else _character_to_key(ch)
        app.post_message(events.Key(key, ch))
    await pilot.pause()


async def paste(pilot: Pilot, text: str) -> None:
    """Paste ``text`` into the focused widget, as a terminal's bracketed paste does: the
    driver gives the app the Paste event, and the app hands it to the focused widget
    (posted to the widget itself, a paste that bubbles up came back a second time).
    Terminals end pasted lines with CR; tests/test_paste.py pastes that way."""
    assert pilot.app.focused is not None
    pilot.app.post_message(events.Paste(text))
    await pilot.pause()


async def wait_for_workers(pilot: Pilot, group: str = "core") -> None:
    """Wait until the core worker finished (the TUI runs core calls in threads), with
    its result or with an error: a worker lets a refusal (a wrong code, a damaged
    message) out, and its screen says what it means (tui/base.py). First the app's
    first frame and what waits for it (the key bar: tui.app.after_first_frame), so that
    a screen is never read half-built."""
    app = pilot.app
    await wait_until(pilot, lambda: not getattr(app.screen, KEY_BAR_PENDING, False), "the key bar")
    await pilot.pause()
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
