"""File attacks: names chosen by a stranger, and files too large for the limits.

A sender controls the name an attachment travels under (our TUI sends the file's own
name, but a forged client can put anything in the sealed metadata). Saving it must
never leave the folder the reader chose, never replace a file that is there, and
never carry a control character to disk. Limits are checked as a file is added,
before anything is encrypted.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pyotp
import pytest

from core.clock import FrozenClock
from core.display import human_size
from core.errors import InvalidInput
from core.i18n import _
from core.policy import Policy
from core.sealing import Draft
from core.starter import Starter, VerifiedGuest
from storage.blobs import FileBlobStore
from tests.conftest import SmtpServer, make_settings, staff_desk
from tests.test_flows23_tui import fill, log_in
from tests.test_starter_screen import to_attachments
from tests.tui_helpers import flat, paste
from tui.factory import make_context, make_desk_app, make_starter_app
from tui.widgets import AttachmentList

# Name as sent -> name as saved.
HOSTILE_NAMES = {
    "../../escape.txt": "escape.txt",
    "/etc/cron.d/evil": "evil",
    "C:\\Windows\\System32\\evil.exe": "evil.exe",
    "..": "attachment",
    "": "attachment (1)",  # the second nameless one goes beside the first
    ".bashrc": "bashrc",
    "nul\x00byte.pdf": "nulbyte.pdf",
    "CON.txt": "_CON.txt",
    "lpt1": "_lpt1",
    "rtl\u202efdp.exe": "rtlfdp.exe",
    "esc\x1b]52;c;aGk=\x07.txt": "esc]52;c;aGk=.txt",
    "brief.pdf": "brief (1).pdf",  # a brief.pdf is already in the folder
}
DUPLICATE = "brief.pdf"  # sent twice in the same message


def all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_hostile_attachment_names_stay_in_the_chosen_folder_and_replace_nothing(
    tmp_path: Path, home: Path, policy: Policy, totp: pyotp.TOTP
) -> None:
    ctx = make_context(make_settings(home), policy=policy, clock=FrozenClock())
    source = tmp_path / "source.bin"
    source.write_bytes(b"payload")
    checked = ctx.attachment(source)
    names = [*HOSTILE_NAMES, DUPLICATE, "a" * 300 + ".pdf"]
    # A forged client: the same checked file, under names of the attacker's choosing.
    forged = tuple(replace(checked, name=name) for name in names)
    Starter(ctx).send(VerifiedGuest("Guest", "guest@example.nl"), Draft("s", "b", forged))

    out = tmp_path / "out"
    out.mkdir()
    (out / "brief.pdf").write_bytes(b"mine")
    before = all_files(tmp_path)
    desk = staff_desk(ctx, totp)
    [row] = desk.inbox()
    [(opened, key)] = desk.thread(row.conversation.id).messages
    saved = [desk.save_attachment(opened, key, n, out) for n in range(len(names))]

    assert all(path.parent == out for path in saved)
    assert {path.name for path in saved[: len(HOSTILE_NAMES)]} == set(HOSTILE_NAMES.values())
    assert saved[len(HOSTILE_NAMES)].name == "brief (2).pdf"  # the duplicate: beside, not over
    long_name = saved[-1].name
    assert long_name.endswith(".pdf") and len(long_name.encode()) <= 200
    assert (out / "brief.pdf").read_bytes() == b"mine"
    # Nothing appeared anywhere but in the folder: not in tmp_path, not in home.
    assert all_files(tmp_path) - before == set(saved)
    assert all(path.read_bytes() == b"payload" for path in saved)


@pytest.fixture
def small(policy: Policy) -> Policy:
    return replace(policy, max_attachment_bytes=1000, max_message_bytes=1500, max_attachments=3)


def blob_count(home: Path) -> int:
    return len(list(FileBlobStore(home / "blobs").ids()))


async def test_the_guest_hears_about_limits_as_a_file_is_added_before_any_work(
    tmp_path: Path, home: Path, small: Policy, smtp_server: SmtpServer
) -> None:
    too_big, half, other_half = (tmp_path / n for n in ("scan.tiff", "a.pdf", "b.pdf"))
    too_big.write_bytes(os.urandom(1001))
    half.write_bytes(os.urandom(800))
    other_half.write_bytes(os.urandom(800))
    settings = make_settings(home, smtp_server.url)
    app = make_starter_app(settings, ctx=make_context(settings, policy=small))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await to_attachments(pilot, smtp_server)
        files = screen.query_one("#files", AttachmentList)

        await paste(pilot, str(too_big))
        await pilot.press("enter")
        limit = _("{name} is too large: a file can be at most {limit}.")
        said = limit.format(name="scan.tiff", limit=human_size(small.max_attachment_bytes))
        assert said.replace("\xa0", " ") in flat(app)  # the limit, with its number
        assert files.files == [] and screen.line.value == str(too_big)  # the path kept

        for path in (half, other_half):
            screen.line.value = ""
            await paste(pilot, str(path))
            await pilot.press("enter")
        together = _("Together the attachments are too large: at most {limit} per message.").format(
            limit=human_size(small.max_message_bytes)
        )
        assert together.replace("\xa0", " ") in flat(app)
        assert [f.name for f in files.files] == ["a.pdf"]
    assert blob_count(home) == 0  # nothing was encrypted for a refused file


async def test_staff_hear_about_limits_as_a_file_is_added(
    tmp_path: Path, home: Path, small: Policy, totp: pyotp.TOTP
) -> None:
    first, second = tmp_path / "a.pdf", tmp_path / "b.pdf"
    first.write_bytes(os.urandom(800))
    second.write_bytes(os.urandom(800))
    clock = FrozenClock()
    settings = make_settings(home)
    app = make_desk_app(settings, ctx=make_context(settings, policy=small, clock=clock))
    async with app.run_test(size=(120, 45)) as pilot:
        await log_in(pilot, totp, clock)
        await pilot.press("ctrl+n")
        for path in (first, second):
            await fill(pilot, "attach", str(path))
            await pilot.press("enter")
        together = _("Together the attachments are too large: at most {limit} per message.").format(
            limit=human_size(small.max_message_bytes)
        )
        assert together.replace("\xa0", " ") in flat(app)
        assert [f.name for f in app.screen.query_one("#files", AttachmentList).files] == ["a.pdf"]
    assert blob_count(home) == 0


def test_limits_hold_in_core_too(tmp_path: Path, home: Path, small: Policy) -> None:
    """A caller that skips the screens' checks still cannot seal past the limits."""
    ctx = make_context(make_settings(home), policy=small)
    parts = []
    for n in range(4):
        path = tmp_path / f"{n}.txt"
        path.write_bytes(b"x" * 10)
        parts.append(ctx.attachment(path))
    with pytest.raises(InvalidInput):
        Starter(ctx).send(VerifiedGuest("G", "g@example.nl"), Draft("s", "b", tuple(parts)))
    assert blob_count(home) == 0
