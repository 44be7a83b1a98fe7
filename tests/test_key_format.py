"""The bytes of every key wrap and sealed record stay what existing homes hold.

Each wrap is made here by hand, from the format as written below and independently of
core.keys, and the code must open it (and the other way round): a changed label,
binding or layout would leave every existing home unreadable, so it must fail here
first. The stream format has its own known-answer vector (tests/test_stream.py).
"""

from __future__ import annotations

import base64
import secrets
import struct

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core import labels
from core.errors import CannotOpen
from core.keys import (
    MailboxPrivateKey,
    Password,
    RecoveryKey,
    ThreadKey,
    invitation_key,
    new_recovery_key,
)
from core.policy import Argon2Cost
from core.server_secret import ServerSecret


def hkdf(secret: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


def nonce_and_gcm(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def test_every_label_is_the_v1_string() -> None:
    assert (labels.TAGS, labels.AT_REST, labels.RECOVERY) == (
        b"veilig/v1/tags",
        b"veilig/v1/at-rest",
        b"veilig/v1/recovery",
    )
    assert labels.stream(b"m|body|0") == b"veilig/v1/stream|m|body|0"
    assert labels.stream_item("m", "attachment", 2) == b"m|attachment|2"
    assert labels.invitation("i") == b"veilig/v1/invitation|i"
    assert labels.content_key("m") == b"veilig/v1/content-key|m"
    assert labels.thread_key("p") == b"veilig/v1/thread-key|p"
    assert labels.thread_content("m") == b"veilig/v1/thread-content|m"
    assert labels.invitation_thread_key("i") == b"i"
    assert labels.staff_key("s", "mb") == b"veilig/v1/staff-key|s|mb"
    assert labels.recovery_wrap("mb") == b"veilig/v1/recovery|mb"
    assert labels.totp("s") == b"veilig/v1/totp|s"
    assert labels.contact("p") == b"veilig/v1/contact|p"
    assert labels.share("i") == b"veilig/v1/share|i"
    assert labels.outbox("o") == b"veilig/v1/outbox|o"


def test_every_format_2_label_is_its_string() -> None:
    """Format 2 (issue 21): length-prefixed fields after the label."""
    assert (labels.PEPPER, labels.PEPPERED_PASSWORD) == (
        b"veilig/v2/pepper",
        b"veilig/v2/peppered-password",
    )
    assert labels.content_key_v2("m", "c", "out", "s") == (
        b"veilig/v2/content-key\0\0\0\1m\0\0\0\1c\0\0\0\3out\0\0\0\1s"
    )
    assert labels.content_key_v2("m", "c", "in", None).endswith(b"\0\0\0\2in\0\0\0\0")
    assert labels.share_v2("i", "p", "c", "sms", 1700000000) == (
        b"veilig/v2/share\0\0\0\1i\0\0\0\1p\0\0\0\1c\0\0\0\3sms\0\0\0\x0a1700000000"
    )
    assert (labels.MAILBOX_PIN, labels.MESSAGE_ORIGIN) == ("mailbox-public-key", "message-origin")
    # A conversation's heading (core.heading): its key's label and its binding.
    assert labels.HEADING == b"veilig/v2/heading"
    assert labels.heading("c", "m") == b"veilig/v2/heading\0\0\0\1c\0\0\0\1m"


def test_a_record_sealed_by_hand_with_the_server_secret_opens() -> None:
    root = secrets.token_bytes(32)
    sealed = nonce_and_gcm(hkdf(root, b"veilig/v1/at-rest"), b"record", b"veilig/v1/totp|s")

    assert ServerSecret(root).open(sealed, labels.totp("s")) == b"record"


def test_a_thread_key_and_an_invitation_wrap_made_by_hand_open() -> None:
    thread_key, content_key = secrets.token_bytes(32), secrets.token_bytes(32)
    reference, share = secrets.token_bytes(20), secrets.token_bytes(32)
    for_thread = nonce_and_gcm(thread_key, content_key, b"veilig/v1/thread-content|m")
    locked = nonce_and_gcm(hkdf(reference, b"veilig/v1/invitation|i", salt=share), thread_key, b"i")

    assert ThreadKey(thread_key).unwrap(for_thread, labels.thread_content("m")) == content_key
    unlock = invitation_key(reference, share, "i")
    assert unlock.unwrap(locked, labels.invitation_thread_key("i")) == thread_key


def test_a_recovery_wrap_made_by_hand_opens_and_the_code_makes_the_same() -> None:
    recovery = new_recovery_key()
    raw = base64.b32decode(recovery.replace("-", "")[:52] + "====")  # 53rd: the check
    key = hkdf(raw, b"veilig/v1/recovery")
    by_hand = nonce_and_gcm(key, b"mailbox key", b"veilig/v1/recovery|mb")

    assert recovery.unwrap(by_hand, labels.recovery_wrap("mb")) == b"mailbox key"
    made = RecoveryKey(recovery).wrap(b"mailbox key", labels.recovery_wrap("mb"))
    assert AESGCM(key).decrypt(made[:12], made[12:], b"veilig/v1/recovery|mb") == b"mailbox key"


def test_a_password_wrap_made_by_hand_opens() -> None:
    """Format 1 (homes before issue 21): header ``>BIIB16s12s`` (version 1, passes, KiB,
    lanes, salt, nonce), then AES-GCM under Argon2id(password) with the header and the
    binding as associated data. Still opens (and is re-wrapped at the next log-in)."""
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    head = struct.pack(">BIIB16s12s", 1, 1, 8, 1, salt, nonce)
    key = Argon2id(salt=salt, length=32, iterations=1, lanes=1, memory_cost=8).derive(b"pw")
    by_hand = head + AESGCM(key).encrypt(nonce, b"mailbox key", head + b"veilig/v1/staff-key|s|mb")
    pepper = ServerSecret(secrets.token_bytes(32)).pepper()

    assert Password("pw").unwrap(by_hand, labels.staff_key("s", "mb"), pepper) == b"mailbox key"


def test_a_peppered_password_wrap_made_by_hand_opens() -> None:
    """Format 2: the same header with version 2; the key is HKDF-SHA256 of Argon2id(password)
    with the pepper (HKDF of server.key, "veilig/v2/pepper") as salt and
    "veilig/v2/peppered-password" as info."""
    root = secrets.token_bytes(32)
    pepper = hkdf(root, b"veilig/v2/pepper")
    cost = Argon2Cost(iterations=1, memory_kib=8, lanes=1)
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    head = struct.pack(">BIIB16s12s", 2, 1, 8, 1, salt, nonce)
    stretched = Argon2id(salt=salt, length=32, iterations=1, lanes=1, memory_cost=8).derive(b"pw")
    key = hkdf(stretched, b"veilig/v2/peppered-password", salt=pepper)
    binding = b"veilig/v1/staff-key|s|mb"
    by_hand = head + AESGCM(key).encrypt(nonce, b"mailbox key", head + binding)
    server = ServerSecret(root)

    assert server.pepper() == pepper
    assert Password("pw").unwrap(by_hand, labels.staff_key("s", "mb"), server.pepper()) == (
        b"mailbox key"
    )
    made = Password("pw").wrap(b"mailbox key", labels.staff_key("s", "mb"), cost, server.pepper())
    assert made[:1] == b"\x02" and len(made) == len(by_hand)
    # Without the pepper (a database copy alone) the right password opens nothing.
    other = ServerSecret(secrets.token_bytes(32)).pepper()
    with pytest.raises(CannotOpen):
        Password("pw").unwrap(made, labels.staff_key("s", "mb"), other)


def test_a_mailbox_wrap_made_by_hand_opens() -> None:
    """HPKE (RFC 9180), ML-KEM-768 + X25519, HKDF-SHA256, AES-256-GCM, the binding as
    info; the private key is the ML-KEM seed (64) followed by the X25519 key (32)."""
    from cryptography.hazmat.primitives import hpke
    from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

    private = MailboxPrivateKey.generate()
    raw = private.raw_bytes()
    by_hand = hpke.MLKEM768X25519PrivateKey(
        mlkem.MLKEM768PrivateKey.from_seed_bytes(raw[:64]),
        x25519.X25519PrivateKey.from_private_bytes(raw[64:]),
    )
    suite = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    content_key = secrets.token_bytes(32)
    wrapped = suite.encrypt(content_key, by_hand.public_key(), info=b"veilig/v1/content-key|m")

    assert len(wrapped) == 1168
    assert private.unwrap(wrapped, labels.content_key("m")) == content_key
    made = private.public_key().wrap(content_key, labels.thread_key("p"))
    assert suite.decrypt(made, by_hand, info=b"veilig/v1/thread-key|p") == content_key


def test_the_pin_and_the_origin_tag_are_keyed_hashes_made_by_hand() -> None:
    """Both are ServerSecret.tag: HMAC-SHA256 under HKDF(server.key, "veilig/v1/tags") over
    length-prefixed UTF-8 parts; the key and the wrapped key go in as hex."""
    import hashlib
    import hmac

    from core.models import Direction, Mailbox, Message
    from core.pins import check_origin, is_pinned, sign_origin

    root = secrets.token_bytes(32)

    def tag(*parts: str) -> bytes:
        mac = hmac.new(hkdf(root, b"veilig/v1/tags"), digestmod=hashlib.sha256)
        for part in parts:
            mac.update(len(part.encode()).to_bytes(4, "big") + part.encode())
        return mac.digest()

    server = ServerSecret(root)
    public = secrets.token_bytes(1216)
    mailbox = Mailbox("o", "info@x.nl", public, b"", created_at=None, id="mb")  # type: ignore[arg-type]
    mailbox.public_key_mac = tag("mailbox-public-key", "mb", public.hex())
    assert is_pinned(server, mailbox)

    message = Message("c", Direction.OUTBOUND, b"wrapped", created_at=None, author_id="s", id="m")  # type: ignore[arg-type]
    sign_origin(server, message)
    digest = hashlib.sha256(b"wrapped").hexdigest()
    assert message.origin_mac == tag("message-origin", "m", "c", "out", "s", "0", "2", digest)
    check_origin(server, message)


def test_a_format_2_content_key_wrap_made_by_hand_opens() -> None:
    """HPKE as format 1, with info ``labels.content_key_v2`` (conversation, direction and
    author bound); a message of format 1 still uses ``labels.content_key``."""
    from core.models import Direction, Message
    from core.sealing import content_binding

    private = MailboxPrivateKey.generate()
    new = Message("c", Direction.INBOUND, b"", created_at=None, id="m")  # type: ignore[arg-type]
    old = Message("c", Direction.INBOUND, b"", created_at=None, binding_format=1, id="m")  # type: ignore[arg-type]
    assert content_binding(old) == b"veilig/v1/content-key|m"
    assert content_binding(new) == labels.content_key_v2("m", "c", "in", None)
    wrapped = private.public_key().wrap(b"k" * 32, content_binding(new))
    assert private.unwrap(wrapped, labels.content_key_v2("m", "c", "in", None)) == b"k" * 32
    with pytest.raises(CannotOpen):
        private.unwrap(wrapped, labels.content_key_v2("m", "other", "in", None))


def test_every_staff_lifecycle_label_is_its_string() -> None:
    """Issue 14: format 3 of a staff row, staff invitations, the rotation row, the pin."""
    assert labels.staff_own_key("s") == b"veilig/v2/staff-own-key\0\0\0\1s"
    assert labels.staff_mailbox_key("s", "mb") == b"veilig/v2/staff-mailbox-key\0\0\0\1s\0\0\0\2mb"
    assert labels.staff_invitation("i") == b"veilig/v2/staff-invitation\0\0\0\1i"
    assert labels.staff_invitation_wrap("i", "s", "mb", "admin") == (
        b"veilig/v2/staff-invitation-wrap\0\0\0\1i\0\0\0\1s\0\0\0\2mb\0\0\0\5admin"
    )
    assert labels.rotation_old_key("r", "mb") == b"veilig/v2/rotation-old-key\0\0\0\1r\0\0\0\2mb"
    assert (labels.STAFF_PIN, labels.STAFF_INVITATION_CODE) == (
        "staff-key",
        "staff-invitation-code",
    )


def test_a_format_3_staff_row_made_by_hand_opens() -> None:
    """Format 3: the password wrap (format 2's envelope) holds the person's own hybrid
    private key, bound to ``staff_own_key``; the mailbox key is HPKE-wrapped to their own
    public key with ``staff_mailbox_key`` as info; role and public key are pinned with
    the tag ("staff-key", id, role, public key in hex)."""
    import hashlib
    import hmac

    from core.models import Role, StaffMember
    from core.pins import is_staff_pinned
    from core.staff_keys import open_mailbox_key

    root = secrets.token_bytes(32)
    server = ServerSecret(root)
    own, mailbox = MailboxPrivateKey.generate(), MailboxPrivateKey.generate()
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    head = struct.pack(">BIIB16s12s", 2, 1, 8, 1, salt, nonce)
    stretched = Argon2id(salt=salt, length=32, iterations=1, lanes=1, memory_cost=8).derive(b"pw")
    key = hkdf(stretched, b"veilig/v2/peppered-password", salt=hkdf(root, b"veilig/v2/pepper"))
    binding = b"veilig/v2/staff-own-key\0\0\0\1s"
    key_wrap = head + AESGCM(key).encrypt(nonce, own.raw_bytes(), head + binding)
    mailbox_wrap = own.public_key().wrap(mailbox.raw_bytes(), labels.staff_mailbox_key("s", "mb"))
    public = own.public_key().raw
    tag = hmac.new(hkdf(root, b"veilig/v1/tags"), digestmod=hashlib.sha256)
    for part in ("staff-key", "s", "admin", public.hex()):
        tag.update(len(part.encode()).to_bytes(4, "big") + part.encode())
    staff = StaffMember(
        "mb",
        "a@x.nl",
        key_wrap,
        b"",
        created_at=None,  # type: ignore[arg-type]
        role=Role.ADMIN,
        public_key=public,
        mailbox_wrap=mailbox_wrap,
        pin=tag.digest(),
        id="s",
    )

    assert open_mailbox_key(staff, Password("pw"), server).raw_bytes() == mailbox.raw_bytes()
    assert is_staff_pinned(server, staff)
    with pytest.raises(CannotOpen):
        open_mailbox_key(staff, Password("pw"), ServerSecret(secrets.token_bytes(32)))


def test_a_staff_invitation_wrap_made_by_hand_opens_with_both_codes_and_the_pepper() -> None:
    """The key: HKDF-SHA256 of (2-byte length of the invitation code ‖ invitation code ‖
    hand-over code), the pepper as salt, ``staff_invitation`` as info; the wrap: nonce ‖
    AES-256-GCM with ``staff_invitation_wrap`` as associated data."""
    from core.keys import staff_invitation_key

    root = secrets.token_bytes(32)
    code, handover = secrets.token_bytes(20), secrets.token_bytes(10)
    key = hkdf(
        b"\0\x14" + code + handover,
        b"veilig/v2/staff-invitation\0\0\0\1i",
        salt=hkdf(root, b"veilig/v2/pepper"),
    )
    binding = labels.staff_invitation_wrap("i", "s", "mb", "staff")
    by_hand = nonce_and_gcm(key, b"mailbox key", binding)

    made = staff_invitation_key(code, handover, ServerSecret(root).pepper(), "i")
    assert made.unwrap(by_hand, binding) == b"mailbox key"
    stranger = ServerSecret(secrets.token_bytes(32)).pepper()
    other = staff_invitation_key(code, handover, stranger, "i")
    with pytest.raises(CannotOpen):
        other.unwrap(by_hand, binding)
