"""Ciphertext attacks: whatever is changed, moved or cut, one domain error, no plaintext.

The stream format itself has its own tests (tests/test_stream.py: every flipped byte,
truncation, reordering, header swaps). Here: the wrapped keys (HPKE to the mailbox,
thread keys, password and recovery wraps) region by region, shares an attacker
chooses, and the stored message as a whole, changed on disk under a real desk.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyotp
import pytest

from core import labels
from core.clock import FrozenClock
from core.errors import CannotOpen, KeyDamaged
from core.i18n import _
from core.keys import (
    MailboxPrivateKey,
    MailboxPublicKey,
    Password,
    invitation_key,
    new_recovery_key,
    new_thread_key,
)
from core.policy import Argon2Cost, Policy
from core.sealing import Draft
from core.server_secret import ServerSecret
from core.starter import Starter, VerifiedGuest
from core.stream import CHUNK_SIZE, HEADER_SIZE, SEALED_CHUNK_SIZE, new_content_key
from tests.conftest import make_settings, staff_desk
from tests.test_flows23_tui import log_in
from tests.tui_helpers import screen_text, wait_for_workers
from tui.base import explain
from tui.factory import make_context, make_desk_app

PRIVATE = MailboxPrivateKey.generate()
PUBLIC = PRIVATE.public_key()

# The HPKE wrap of a content key (ML-KEM-768 + X25519, AES-256-GCM), region by region.
MLKEM_CIPHERTEXT = slice(0, 1088)
X25519_SHARE = slice(1088, 1120)
SEALED_KEY = slice(1120, 1152)
TAG = slice(1152, 1168)

# X25519 points an attacker would pick: zero, one, and points of small order
# (https://cr.yp.to/ecdh.html#validate); a naive implementation derives a
# predictable shared secret from them.
LOW_ORDER_POINTS = [
    bytes(32),
    (1).to_bytes(32, "little"),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
]


def flipped(data: bytes, position: int) -> bytes:
    changed = bytearray(data)
    changed[position] ^= 0x80
    return bytes(changed)


@pytest.mark.parametrize(
    "region",
    [MLKEM_CIPHERTEXT, X25519_SHARE, SEALED_KEY, TAG],
    ids=["mlkem", "x25519", "key", "tag"],
)
def test_a_flipped_byte_in_each_region_of_a_wrapped_key_does_not_unwrap(region: slice) -> None:
    wrapped = PUBLIC.wrap(new_content_key(), labels.content_key("message-1"))
    assert len(wrapped) == TAG.stop
    for position in (region.start, (region.start + region.stop) // 2, region.stop - 1):
        with pytest.raises(CannotOpen):
            PRIVATE.unwrap(flipped(wrapped, position), labels.content_key("message-1"))


def test_a_cut_or_lengthened_wrapped_key_does_not_unwrap() -> None:
    wrapped = PUBLIC.wrap(new_content_key(), labels.content_key("message-1"))
    for changed in (b"", wrapped[:1], wrapped[:1120], wrapped[:-1], wrapped + b"\0"):
        with pytest.raises(CannotOpen):
            PRIVATE.unwrap(changed, labels.content_key("message-1"))


def test_a_wrapped_key_moved_to_another_message_or_mailbox_does_not_unwrap() -> None:
    key = new_content_key()
    wrapped = PUBLIC.wrap(key, labels.content_key("message-1"))
    assert PRIVATE.unwrap(wrapped, labels.content_key("message-1")) == key
    with pytest.raises(CannotOpen):
        PRIVATE.unwrap(wrapped, labels.content_key("message-2"))
    with pytest.raises(CannotOpen):
        MailboxPrivateKey.generate().unwrap(wrapped, labels.content_key("message-1"))
    thread = PUBLIC.wrap(new_thread_key(), labels.thread_key("participant-1"))
    with pytest.raises(CannotOpen):
        PRIVATE.unwrap(thread, labels.thread_key("participant-2"))
    with pytest.raises(CannotOpen):  # a content-key wrap passed off as a thread-key wrap
        PRIVATE.unwrap(wrapped, labels.thread_key("message-1"))


@pytest.mark.parametrize("point", LOW_ORDER_POINTS, ids=lambda p: p[:2].hex())
def test_an_all_zero_or_low_order_x25519_share_does_not_unwrap(point: bytes) -> None:
    wrapped = PUBLIC.wrap(new_content_key(), labels.content_key("message-1"))
    forged = wrapped[: X25519_SHARE.start] + point + wrapped[X25519_SHARE.stop :]
    with pytest.raises(CannotOpen):
        PRIVATE.unwrap(forged, labels.content_key("message-1"))
    thread = PUBLIC.wrap(new_thread_key(), labels.thread_key("participant-1"))
    forged = thread[: X25519_SHARE.start] + point + thread[X25519_SHARE.stop :]
    with pytest.raises(CannotOpen):
        PRIVATE.unwrap(forged, labels.thread_key("participant-1"))


@pytest.mark.parametrize("point", LOW_ORDER_POINTS, ids=lambda p: p[:2].hex())
def test_a_mailbox_public_key_with_a_low_order_share_refuses_to_seal(point: bytes) -> None:
    """Someone who can write the database swaps in a weak mailbox key: nothing is sealed
    to it, and the sender hears why instead of a crash."""
    weak = MailboxPublicKey(PUBLIC.raw[:1184] + point)
    with pytest.raises(KeyDamaged):
        weak.wrap(new_content_key(), labels.content_key("message-1"))
    with pytest.raises(KeyDamaged):
        weak.wrap(new_thread_key(), labels.thread_key("participant-1"))
    assert "nothing was sent" in explain(KeyDamaged("x")).lower()


def test_thread_key_and_recovery_wraps_refuse_tampering_and_garbage() -> None:
    thread_key, reference, share = new_thread_key(), b"r" * 20, b"s" * 32
    unlock = invitation_key(reference, share, "invitation-1")
    bound = labels.invitation_thread_key("invitation-1")
    sealed = unlock.wrap(thread_key, bound)
    assert unlock.unwrap(sealed, bound) == thread_key
    content = new_content_key()
    for_thread = thread_key.wrap(content, labels.thread_content("message-1"))
    recovery = new_recovery_key()
    recovered = recovery.wrap(b"mailbox key", b"binding")
    garbage = [b"", b"\0", b"short", bytes(11), bytes(12), bytes(27)]
    for changed in [flipped(sealed, 0), flipped(sealed, len(sealed) - 1), *garbage]:
        with pytest.raises(CannotOpen):
            unlock.unwrap(changed, bound)
    other = invitation_key(reference, share, "invitation-2")
    with pytest.raises(CannotOpen):
        other.unwrap(sealed, labels.invitation_thread_key("invitation-2"))
    for changed in [flipped(for_thread, 12), *garbage]:
        with pytest.raises(CannotOpen):
            thread_key.unwrap(changed, labels.thread_content("message-1"))
    with pytest.raises(CannotOpen):
        thread_key.unwrap(for_thread, labels.thread_content("message-2"))
    for changed in [flipped(recovered, 5), *garbage]:
        with pytest.raises(CannotOpen):
            recovery.unwrap(changed, b"binding")


CHEAP = Argon2Cost(iterations=1, memory_kib=8, lanes=1)
PEPPER = ServerSecret(bytes(range(32))).pepper()


def test_a_password_wrap_refuses_tampering_and_a_forged_cost() -> None:
    """The Argon2 cost travels in the wrap's header. A forged header must not make the
    desk allocate terabytes or run for hours: out-of-range costs are refused unread."""
    wrapped = Password("pw").wrap(b"mailbox key", b"staff-1", CHEAP, PEPPER)
    assert Password("pw").unwrap(wrapped, b"staff-1", PEPPER) == b"mailbox key"
    for position in range(0, len(wrapped), 7):
        with pytest.raises(CannotOpen):
            Password("pw").unwrap(flipped(wrapped, position), b"staff-1", PEPPER)
    huge_memory = wrapped[:5] + (2**32 - 1).to_bytes(4, "big") + wrapped[9:]
    many_rounds = wrapped[:1] + (2**32 - 1).to_bytes(4, "big") + wrapped[5:]
    no_lanes = wrapped[:9] + b"\0" + wrapped[10:]
    for forged in (huge_memory, many_rounds, no_lanes, b"", wrapped[:20]):
        with pytest.raises(CannotOpen):
            Password("pw").unwrap(forged, b"staff-1", PEPPER)


# --- the stored message, changed on disk, opened by the real desk ----------------------


@pytest.fixture
def stored(tmp_path: Path, home: Path, policy: Policy, totp: pyotp.TOTP):
    """Two guest messages in a real home, with a 2-chunk-and-a-bit attachment each,
    and the staff desk logged in. Returns (ctx, desk, [newest, older conversation])."""
    clock = FrozenClock()
    ctx = make_context(make_settings(home), policy=policy, clock=clock)
    for n in (1, 2):
        scan = tmp_path / f"scan{n}.bin"
        scan.write_bytes(bytes([n]) * (2 * CHUNK_SIZE + 100))
        Starter(ctx).send(
            VerifiedGuest(name=f"Guest {n}", email=f"guest{n}@example.nl"),
            Draft(f"Subject {n}", f"Body {n}", (ctx.attachment(scan),)),
        )
        clock.advance(minutes=1)
    desk = staff_desk(ctx, totp)
    return ctx, desk, [row.conversation.id for row in desk.inbox()]


def blob_path(home: Path, blob_id: str) -> Path:
    [path] = home.rglob(blob_id)
    return path


def message_items(home: Path, conversation_id: str) -> tuple[str, dict[str, Path]]:
    """(message id, {role: blob file}) read straight from the database file."""
    with sqlite3.connect(home / "veilig.db") as db:
        [(message_id,)] = db.execute(
            "SELECT id FROM message WHERE conversation_id = ?", (conversation_id,)
        ).fetchall()
        items = db.execute(
            "SELECT role, blob_id FROM message_item WHERE message_id = ?", (message_id,)
        ).fetchall()
    return message_id, {role: blob_path(home, blob_id) for role, blob_id in items}


def assert_damaged(desk, conversation_id: str) -> None:
    """The desk opens what it can; the message that does not open is set apart,
    its content nowhere (CannotOpen inside, caught per message)."""
    view = desk.thread(conversation_id)
    assert view.messages == [] and len(view.damaged) == 1


def opened_in(desk, conversation_id: str):
    [(opened, key)] = desk.thread(conversation_id).messages
    return opened, key


BLOB_REGIONS = {
    "magic": 0,
    "salt": HEADER_SIZE - 1,
    "first chunk": HEADER_SIZE + 10,
    "last tag": -1,
}


@pytest.mark.parametrize("role", ["meta", "body"])
@pytest.mark.parametrize("where", BLOB_REGIONS)
def test_a_flipped_byte_in_a_stored_message_gives_one_error(
    stored, home: Path, role: str, where: str
) -> None:
    _ctx, desk, (conversation, other) = stored
    path = message_items(home, conversation)[1][role]
    path.write_bytes(flipped(path.read_bytes(), BLOB_REGIONS[where]))
    assert_damaged(desk, conversation)
    opened_in(desk, other)  # the other conversation still opens


@pytest.mark.parametrize("where", [*BLOB_REGIONS, "second chunk"])
def test_a_flipped_byte_in_a_stored_attachment_gives_one_error_and_no_file(
    stored, tmp_path: Path, home: Path, where: str
) -> None:
    _ctx, desk, (conversation, _other) = stored
    path = message_items(home, conversation)[1]["attachment"]
    position = BLOB_REGIONS.get(where, HEADER_SIZE + SEALED_CHUNK_SIZE)
    path.write_bytes(flipped(path.read_bytes(), position))
    opened, key = opened_in(desk, conversation)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(CannotOpen):
        desk.save_attachment(opened, key, 0, out)
    assert list(out.iterdir()) == []  # not even a partial or temporary file


def test_cut_deleted_and_swapped_blobs_and_keys_give_one_error(
    stored, tmp_path: Path, home: Path
) -> None:
    _ctx, desk, (first, second) = stored
    first_id, first_items = message_items(home, first)
    second_id, second_items = message_items(home, second)
    out = tmp_path / "out"
    out.mkdir()

    attachment = first_items["attachment"]
    original = attachment.read_bytes()
    for cut in (HEADER_SIZE + SEALED_CHUNK_SIZE, HEADER_SIZE + 2 * SEALED_CHUNK_SIZE, 10, 0):
        attachment.write_bytes(original[:cut])  # at a chunk boundary, in the header, empty
        opened, key = opened_in(desk, first)
        with pytest.raises(CannotOpen):
            desk.save_attachment(opened, key, 0, out)
    attachment.write_bytes(original)
    assert list(out.iterdir()) == []  # no half-written file left behind

    # The body blobs of the two messages swapped: each is whole, but not its own.
    one, two = first_items["body"].read_bytes(), second_items["body"].read_bytes()
    first_items["body"].write_bytes(two)
    second_items["body"].write_bytes(one)
    for conversation in (first, second):
        assert_damaged(desk, conversation)
    first_items["body"].write_bytes(one)
    second_items["body"].write_bytes(two)

    # The wrapped content keys swapped between the two message rows.
    with sqlite3.connect(home / "veilig.db") as db:
        keys = dict(db.execute("SELECT id, wrapped_key FROM message").fetchall())
        for mine, theirs in ((first_id, second_id), (second_id, first_id)):
            db.execute("UPDATE message SET wrapped_key = ? WHERE id = ?", (keys[theirs], mine))
    for conversation in (first, second):
        assert_damaged(desk, conversation)
    with sqlite3.connect(home / "veilig.db") as db:
        for message_id, wrapped in keys.items():
            db.execute("UPDATE message SET wrapped_key = ? WHERE id = ?", (wrapped, message_id))
    opened_in(desk, first)  # restored: it opens again, so the checks above were the swap

    # A blob deleted from disk.
    first_items["meta"].unlink()
    assert_damaged(desk, first)


async def test_the_desk_says_a_damaged_message_cannot_be_opened(
    stored, home: Path, policy: Policy, totp: pyotp.TOTP
) -> None:
    ctx, _desk, (first, _second) = stored
    path = message_items(home, first)[1]["meta"]  # the sender's name is in it, too
    path.write_bytes(flipped(path.read_bytes(), HEADER_SIZE + 3))
    ctx.clock.advance(seconds=30)  # a new TOTP step: the fixture's log-in used this one
    app = make_desk_app(make_settings(home), ctx=ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await log_in(pilot, totp, ctx.clock)  # type: ignore[arg-type]
        inbox = screen_text(app)
        assert _("(cannot be opened)") in inbox and "Guest 1" in inbox  # the rest still there
        await pilot.press("enter")  # the newest conversation: the damaged one
        await wait_for_workers(pilot)
        shown = screen_text(app).replace("\n", " ")
    assert explain(CannotOpen("x"))[:40] in shown
    assert "Body 2" not in shown and "Subject 2" not in shown and "Traceback" not in shown
