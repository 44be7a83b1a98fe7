"""The starter screen's own behaviour: attachments, resend, a full disk, keys in the footer."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.policy import Policy
from storage.blobs import FileBlobStore
from tests.conftest import SmtpServer, code_in, make_settings
from tests.test_flow1_faults import unlock
from tests.tui_helpers import ask_for_code, paste, screen_text, wait_for_workers, wait_until
from tui.factory import make_context, make_starter_app
from tui.starter import StarterScreen
from tui.widgets import AttachmentList

GUEST = "karin@huidtherapiex.nl"


async def to_body(pilot, smtp: SmtpServer, subject: str = "Onderwerp") -> None:
    """Unlocked, the subject given: the guest is at the body."""
    await unlock(pilot, smtp)
    await paste(pilot, subject)
    await pilot.press("enter")


async def to_attachments(pilot, smtp: SmtpServer) -> StarterScreen:
    await to_body(pilot, smtp)
    pilot.app.screen.query_one("#body").insert("Tekst")
    await pilot.press("ctrl+s")
    screen = pilot.app.screen
    assert isinstance(screen, StarterScreen)
    return screen


async def test_attachments_are_listed_with_sizes_and_can_be_removed(
    tmp_path: Path, home: Path, policy: Policy, smtp_server: SmtpServer
) -> None:
    first, second = tmp_path / "a-brief.pdf", tmp_path / "b-scan.pdf"
    first.write_bytes(b"x" * 2048)
    second.write_bytes(b"y" * 10)
    settings = make_settings(home, smtp_server.url)
    app = make_starter_app(settings, ctx=make_context(settings, policy=policy))
    async with app.run_test(size=(110, 40)) as pilot:
        screen = await to_attachments(pilot, smtp_server)
        for path in (first, second):
            await paste(pilot, str(path))
            await pilot.press("enter")
        shown = screen_text(app)
        assert "a-brief.pdf  (2 KiB)" in shown and "b-scan.pdf  (10 B)" in shown
        files = screen.query_one("#files", AttachmentList)
        files.focus()
        files.index = 0
        await pilot.press("delete")
        assert [f.name for f in files.files] == ["b-scan.pdf"]
        assert "a-brief.pdf" not in screen_text(app)


async def test_resend_asks_for_a_new_code_and_is_limited(
    home: Path, policy: Policy, smtp_server: SmtpServer
) -> None:
    settings = make_settings(home, smtp_server.url)
    app = make_starter_app(settings, ctx=make_context(settings, policy=policy))
    async with app.run_test(size=(110, 40)) as pilot:
        await ask_for_code(pilot, GUEST, "Karin")
        await asyncio.to_thread(smtp_server.bag.next_to, GUEST)
        assert "Ctrl+R New code" in screen_text(app)  # the footer names the key as the text does
        await pilot.press("ctrl+r")  # at once: inside the cool-down
        await wait_for_workers(pilot)
        assert "A code was sent a moment ago. Please wait 30 seconds" in screen_text(app)


async def test_back_and_forward_with_the_same_address_keeps_the_code(
    home: Path, policy: Policy, smtp_server: SmtpServer
) -> None:
    settings = make_settings(home, smtp_server.url)
    app = make_starter_app(settings, ctx=make_context(settings, policy=policy))
    async with app.run_test(size=(110, 40)) as pilot:
        await ask_for_code(pilot, GUEST, "Karin")
        code = code_in(await asyncio.to_thread(smtp_server.bag.next_to, GUEST))
        await pilot.press("escape", "enter")  # back to the address, and on again
        await wait_for_workers(pilot)
        assert "We already sent a code to karin@huidtherapiex.nl" in screen_text(app)
        await paste(pilot, code)
        await pilot.press("enter")
        await wait_for_workers(pilot)
        assert "Unlocked" in screen_text(app)
    assert smtp_server.bag.received.empty()  # no second code was mailed


async def test_file_picker_shows_hostile_names_literally(
    tmp_path: Path, home: Path, policy: Policy, smtp_server: SmtpServer, monkeypatch
) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "esc\x1b[31mred\x1b]52;c;aGk=\x07.txt").write_bytes(b"x")
    (folder / "evil\u202efdp.exe").write_bytes(b"x")
    (folder / "[red]x.pdf").write_bytes(b"x")
    (folder / ".hidden").write_bytes(b"x")
    monkeypatch.chdir(folder)
    settings = make_settings(home, smtp_server.url)
    app = make_starter_app(settings, ctx=make_context(settings, policy=policy))
    async with app.run_test(size=(110, 40)) as pilot:
        await to_attachments(pilot, smtp_server)
        await pilot.press("ctrl+o")
        await pilot.pause()
        tree = app.screen.query_one("#tree")
        await wait_until(pilot, lambda: len(tree.root.children) == 3, "the folder to load")
        await pilot.pause()
        shown = screen_text(app)
        assert "esc\u241b[31mred\u241b]52;c;aGk=\u2407.txt" in shown
        assert "evil<U+202E>fdp.exe" in shown and "[red]x.pdf" in shown
        assert ".hidden" not in shown and "\x1b" not in shown
        await pilot.press("escape")


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB filesystem (tmpfs), so that the disk really fills up."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
        ).returncode
    ):
        pytest.skip("cannot mount a small tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


async def test_a_full_disk_says_so_keeps_the_draft_and_leaves_no_half_blob(
    tmp_path: Path, home: Path, policy: Policy, smtp_server: SmtpServer, tiny_disk: Path
) -> None:
    big = tmp_path / "scan.tiff"
    big.write_bytes(os.urandom(3 * 1024 * 1024))
    settings = make_settings(home, smtp_server.url)
    ctx = make_context(settings, policy=policy)
    ctx.blobs = FileBlobStore(tiny_disk / "blobs")
    app = make_starter_app(settings, ctx=ctx)
    async with app.run_test(size=(110, 40)) as pilot:
        screen = await to_attachments(pilot, smtp_server)
        await paste(pilot, str(big))
        await pilot.press("enter", "enter", "enter")
        await wait_for_workers(pilot)
        assert "The disk is full" in screen_text(app)
        assert screen.step == "confirm"  # back at the send button, draft intact
        assert [f.name for f in screen.query_one("#files", AttachmentList).files] == ["scan.tiff"]
    assert [p for p in (tiny_disk / "blobs").rglob("*") if p.is_file()] == []
    with ctx.repo.transaction() as tx:
        assert tx.messages() == []
