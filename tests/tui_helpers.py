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
    first frame and what waits for it (the key bar: tui.app.after_first_frame); last,
    what the worker's result set going (``settle``): a screen is never read half-built."""
    app = pilot.app
    await wait_until(pilot, lambda: not getattr(app.screen, KEY_BAR_PENDING, False), "the key bar")
    await pilot.pause()
    workers = [w for w in pilot.app.workers if w.group == group]
    await asyncio.gather(*(worker.wait() for worker in workers), return_exceptions=True)
    await pilot.pause()
    await settle(pilot)


async def settle(pilot: Pilot, rounds: int = 1000) -> None:
    """Let the app finish what it started for the screen, then return: every widget on
    the screen mounted, everything queued for it and for the app handled, and the
    screen laid out after. No sleeping: it goes round until two rounds in a row found
    nothing left to do.

    ``pilot.pause()`` is not enough to read a screen. It handles what was queued for the
    widgets there when it began, then waits until the process *looks* idle (its CPU time
    against the wall clock). What those messages start (a worker's result mounts bubbles,
    their Mount, the key bar's keys after the key bar) runs in later turns of the event
    loop, and a process that the other test workers keep from the CPU looks idle at once:
    the screen was read with messages still queued (tests/test_startup.py: once in some
    700 runs with both cores kept busy, the bubble's log and the key bar with messages
    waiting).

    A round waits until the app and every widget now on the screen have handled all
    they had queued (and whatever handler was running), as pilot.pause() does first,
    then lays the screen out as pilot.pause() does last. A round found nothing left when
    the widgets are the ones it began with, all mounted, and nothing is queued for any;
    the second such round in a row also lets a handler that began late in the first
    finish. (Private Textual names: Pilot's own wait and refresh, and the queues; Textual
    is pinned to a minor version, and a rename fails here loudly.)"""
    app = pilot.app
    quiet = 0
    for _ in range(rounds):
        screen = app.screen
        before = [app, *screen.walk_children(with_self=True)]
        if not await pilot._wait_for_screen():
            return  # the app failed; run_test raises its error on the way out
        app.screen._on_timer_update()
        after = [app, *app.screen.walk_children(with_self=True)]
        if after == before and all(
            node._message_queue.empty() and (node is app or node.is_mounted) for node in after
        ):
            quiet += 1
            if quiet == 2:
                return
        else:
            quiet = 0
    raise AssertionError(f"the screen was still changing after {rounds} rounds")


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
