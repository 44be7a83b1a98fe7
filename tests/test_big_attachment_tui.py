"""A 200 MiB attachment through the real desk and recipient TUIs (real SMTP and SMS):
sealed and opened by the overlapped pipeline, saved byte for byte, the send's progress
on screen as it goes, and the process's memory flat while it does.

Memory is the process's peak resident set (VmHWM, reset before each step through
/proc/self/clear_refs): what the file costs, whatever allocates it — Python, OpenSSL or
the kernel's pages mapped into the process. Times are not asserted.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pyotp
import pytest
from textual.widgets import ProgressBar

from core.clock import FrozenClock
from core.policy import Policy
from tests.conftest import SmsGateway, SmtpServer, make_settings, reference_in, said
from tests.test_flows23_tui import PRACTITIONER, fill, log_in
from tests.tui_helpers import (
    paste,
    save_attachments_to,
    screen_text,
    unlock_by_sms,
    wait_for_workers,
)
from tui.factory import make_context, make_desk_app, make_recipient_app

pytestmark = pytest.mark.slow  # 200 MiB sealed and opened twice

MiB = 1024**2
SIZE = 200 * MiB + 12_345  # not a multiple of a chunk or a segment
# Growth of the peak resident set allowed per step: the pipeline's buffers are ~20 MiB
# and the blob reader's 36 MiB (52 MiB measured when opening, 21 when sealing); a step
# that held the file, or even a third of it, would cross this.
FLAT = 64 * MiB


def make_file(path: Path) -> str:
    """A file of random bytes, written a mebibyte at a time; its SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as f:
        left = SIZE
        while left:
            block = os.urandom(min(left, MiB))
            digest.update(block)
            f.write(block)
            left -= len(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(MiB):
            digest.update(block)
    return digest.hexdigest()


class PeakMemory:
    """Growth of this process's peak resident set over a step (Linux: VmHWM)."""

    def __enter__(self) -> PeakMemory:
        try:
            Path("/proc/self/clear_refs").write_text("5")  # peak := current
        except OSError:
            pytest.skip("needs Linux's /proc/self/clear_refs to measure peak memory")
        self.start = self._read("VmHWM")
        return self

    def __exit__(self, *exc: object) -> None:
        self.growth = self._read("VmHWM") - self.start

    @staticmethod
    def _read(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no {field} in /proc/self/status")


@pytest.fixture
def progress_shown(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every update of a progress bar while it is on the screen: (done, total)."""
    shown: list[tuple[int, int]] = []
    update = ProgressBar.update

    def recording(self: ProgressBar, **values: object) -> None:
        update(self, **values)  # type: ignore[arg-type]
        if self.display and self.is_mounted and self.total:
            shown.append((int(self.progress), int(self.total)))

    monkeypatch.setattr(ProgressBar, "update", recording)
    return shown


def assert_progress_moved(seen: list[tuple[int, int]], total: int) -> None:
    values = sorted({done for done, _total in seen})
    assert values == [done for done, _ in sorted(set(seen))], "progress went backwards"
    assert {t for _done, t in seen} == {total}
    between = [v for v in values if 0 < v < total]
    assert len(between) >= 3, f"progress shown only at {values}"


async def test_a_200_mib_attachment_both_ways_byte_identical_with_progress_and_flat_memory(
    tmp_path: Path,
    home: Path,
    policy: Policy,
    totp: pyotp.TOTP,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    progress_shown: list[tuple[int, int]],
) -> None:
    clock = FrozenClock()
    settings = make_settings(home, smtp_server.url, sms_gateway.url)
    ctx = make_context(settings, policy=policy, clock=clock)
    scan = tmp_path / "ct-scan-4471.dcm"
    digest = make_file(scan)

    # Staff sends the scan to the practitioner.
    desk = make_desk_app(settings, ctx=ctx)
    async with desk.run_test(size=(120, 45)) as pilot:
        await log_in(pilot, totp, clock)
        await pilot.press("ctrl+n")
        await fill(pilot, "to", PRACTITIONER)
        await fill(pilot, "phone", "06 12345127")
        await fill(pilot, "subject", "CT-scan cliënt 4471")
        await fill(pilot, "attach", str(scan))
        await pilot.press("enter")
        with PeakMemory() as sealing:
            await pilot.press("ctrl+s")
            await wait_for_workers(pilot)
            await pilot.press("y")  # the guard: a new address, send anyway
            await wait_for_workers(pilot)
        assert "Inbox" in screen_text(desk)
    await ctx.outbox.deliver_due()
    reference = reference_in(await asyncio.to_thread(smtp_server.bag.next_to, PRACTITIONER))

    # The practitioner opens it by SMS code, saves the scan, and replies with it.
    clock.advance(minutes=3)
    recipient = make_recipient_app(settings, ctx=ctx)
    saved = tmp_path / "saved"
    saved.mkdir()
    async with recipient.run_test(size=(120, 45)) as pilot:
        await unlock_by_sms(pilot, reference, sms_gateway)
        assert scan.name in screen_text(recipient)
        with PeakMemory() as opening:
            await save_attachments_to(pilot, saved)
        assert sha256_of(saved / scan.name) == digest

        clock.advance(minutes=2)
        await pilot.press("ctrl+e")
        recipient.screen.query_one("#body").insert("Gezien, retour met verslag.")
        await pilot.press("ctrl+s")
        await paste(pilot, str(scan))
        await pilot.press("enter")
        await pilot.press("enter")  # done with attachments
        with PeakMemory() as replying:
            await pilot.press("enter")  # send
            await wait_for_workers(pilot)
        assert said("Your reply was sent to {org}, encrypted.", org="DeclaCare") in screen_text(
            recipient
        )
    assert_progress_moved(progress_shown, SIZE)

    # Staff opens the reply and saves its scan.
    clock.advance(seconds=60)
    desk = make_desk_app(settings, ctx=ctx)
    back = tmp_path / "desk"
    back.mkdir()
    async with desk.run_test(size=(140, 45)) as pilot:
        await log_in(pilot, totp, clock)
        await pilot.press("enter")
        await wait_for_workers(pilot)
        with PeakMemory() as saving:
            await save_attachments_to(pilot, back)
    assert sha256_of(back / scan.name) == digest

    for step, memory in (
        ("sealing (desk)", sealing),
        ("opening (recipient)", opening),
        ("sealing (recipient)", replying),
        ("opening (desk)", saving),
    ):
        assert memory.growth < FLAT, f"{step}: peak memory grew {memory.growth / MiB:.0f} MiB"
    assert not [p for p in (home / "blobs").rglob(".*")]  # no temporary blob left
    assert sorted(p.name for p in saved.iterdir()) == [scan.name]  # nor a temporary file
