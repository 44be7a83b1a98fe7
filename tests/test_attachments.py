"""Attachments: checked when attached, and again while they are sealed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.context import Context
from core.errors import InvalidInput
from core.filenames import safe_name, unused_path
from core.policy import Policy
from core.sealing import Draft
from core.starter import Starter, VerifiedGuest
from tests.conftest import make_settings
from tui.factory import make_context


@pytest.fixture
def ctx(home: Path, policy: Policy) -> Context:
    return make_context(make_settings(home), policy=policy)


def test_a_file_that_grows_after_attaching_is_refused_and_leaves_nothing(
    tmp_path: Path, ctx: Context, home: Path
) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(os.urandom(100_000))
    attachment = ctx.attachment(path)
    with path.open("ab") as f:
        f.write(b"more")
    guest = VerifiedGuest("Karin", "karin@huidtherapiex.nl")
    with pytest.raises(InvalidInput, match="changed after it was attached"):
        Starter(ctx).send(guest, Draft("s", "b", (attachment,)))
    assert list(ctx.blobs.ids()) == []
    with ctx.repo.transaction() as tx:
        assert tx.messages() == []


def test_proc_files_that_claim_zero_bytes_are_refused(ctx: Context) -> None:
    attachment = ctx.attachment(Path("/proc/self/environ"))
    guest = VerifiedGuest("Karin", "karin@huidtherapiex.nl")
    with pytest.raises(InvalidInput, match="changed after it was attached"):
        Starter(ctx).send(guest, Draft("s", "b", (attachment,)))


def test_veiligs_own_files_cannot_be_attached(ctx: Context, home: Path) -> None:
    elsewhere = home.parent / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "innocent.pdf").symlink_to(home / "server.key")
    os.link(home / "veilig.db", elsewhere / "hardlink.db")
    for path in (
        home / "server.key",
        home / "veilig.db",
        home / "." / "server.key",
        elsewhere / "innocent.pdf",
        elsewhere / "hardlink.db",
    ):
        with pytest.raises(InvalidInput, match="Files of veilig itself"):
            ctx.attachment(path)


def test_swapping_the_file_after_attaching_changes_nothing_that_is_sent(
    tmp_path: Path, ctx: Context, home: Path, totp
) -> None:
    from tests.conftest import only_message, staff_desk

    path = tmp_path / "swap.txt"
    original = os.urandom(32)
    path.write_bytes(original)
    attachment = ctx.attachment(path)
    path.unlink()
    path.symlink_to(home / "server.key")  # same size as the original: 32 bytes
    guest = VerifiedGuest("Karin", "karin@huidtherapiex.nl")
    Starter(ctx).send(guest, Draft("s", "b", (attachment,)))
    desk = staff_desk(ctx, totp)
    opened, key = only_message(desk)
    out = tmp_path / "out"
    out.mkdir()
    saved = desk.save_attachment(opened, key, 0, out)
    assert saved.read_bytes() == original


def test_attachments_are_never_saved_into_the_data_folder(
    tmp_path: Path, ctx: Context, home: Path, totp
) -> None:
    from tests.conftest import only_message, staff_desk

    path = tmp_path / "brief.pdf"
    path.write_bytes(b"x" * 100)
    guest = VerifiedGuest("Karin", "karin@huidtherapiex.nl")
    Starter(ctx).send(guest, Draft("s", "b", (ctx.attachment(path),)))
    desk = staff_desk(ctx, totp)
    opened, key = only_message(desk)
    for folder in (home, home / "blobs"):
        with pytest.raises(InvalidInput, match="data folder"):
            desk.save_attachment(opened, key, 0, folder)


def test_files_over_the_limit_are_refused_before_any_work(tmp_path: Path, home: Path) -> None:
    from dataclasses import replace

    from core.policy import DEFAULT_POLICY

    small = replace(DEFAULT_POLICY.with_cheap_kdf(), max_attachment_bytes=10, max_message_bytes=15)
    ctx = make_context(make_settings(home), policy=small)
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 11)
    with pytest.raises(InvalidInput, match="too large: a file can be at most"):
        ctx.attachment(big)
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"x" * 8)
    b.write_bytes(b"x" * 8)
    with pytest.raises(InvalidInput, match="Together the attachments are too large: at most 15"):
        Draft("s", "b", (ctx.attachment(a), ctx.attachment(b))).check(small)


@pytest.mark.parametrize(
    ("hostile", "saved"),
    [
        ("../../etc/passwd", "passwd"),
        ("/etc/shadow", "shadow"),
        ("C:\\Windows\\evil.exe", "evil.exe"),
        ("..", "attachment"),
        (".bashrc", "bashrc"),
        ("nul\x00byte.pdf", "nulbyte.pdf"),
        ("CON.txt", "_CON.txt"),
        ("evil\u202efdp.exe", "evilfdp.exe"),
        ("esc\x1b[31m.txt", "esc[31m.txt"),
        ("", "attachment"),
    ],
)
def test_safe_names(hostile: str, saved: str) -> None:
    assert safe_name(hostile) == saved


def test_very_long_names_keep_their_extension() -> None:
    name = safe_name("a" * 500 + ".pdf")
    assert name.endswith(".pdf") and len(name.encode()) <= 200


def test_existing_files_are_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "brief.pdf").write_bytes(b"mine")
    (tmp_path / "brief (1).pdf").write_bytes(b"mine too")
    assert unused_path(tmp_path, "brief.pdf") == tmp_path / "brief (2).pdf"
