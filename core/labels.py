"""Every label that veilig derives a key with or binds a ciphertext to, in one place.

These bytes are part of the format of every home: change one and existing homes stop
opening (their keys derive differently, their bindings no longer match). So they
change only with a new version prefix, never in place; tests pin them
(tests/test_key_format.py, tests/test_stream.py's known-answer vector).

Two kinds:

- *Derivation labels* are HKDF ``info`` strings: one root secret gives unrelated keys
  for unrelated jobs (NIST SP 800-108's "label").
- *Bindings* are AES-GCM associated data or HPKE ``info``: they tie a ciphertext to the
  row it belongs to, so that a wrapped key or a sealed record copied onto another row
  (by someone who can write the database) does not open there.

One more is neither: the prefix of a plain SHA-256 that is no key (a reference's check
characters), kept here all the same because it too is a format detail.
"""

from __future__ import annotations

_V1 = b"veilig/v1/"
_V2 = b"veilig/v2/"

# --- derivation labels (HKDF info) ------------------------------------------------

TAGS = _V1 + b"tags"  # server secret -> the key of keyed hashes (codes, references, …)
AT_REST = _V1 + b"at-rest"  # server secret -> the key that seals records in the database
RECOVERY = _V1 + b"recovery"  # recovery key -> the key that wraps the mailbox key
# server secret -> the pepper that password wraps of format 2 mix into their key, so that
# a copy of the database alone does not let anyone guess staff passwords offline
PEPPER = _V2 + b"pepper"
# Argon2id(password) with the pepper as salt -> the key of a password wrap of format 2
PEPPERED_PASSWORD = _V2 + b"peppered-password"
# server secret -> the seed of the organisation's Ed25519 signing key (core.signing)
ORG_SIGNING = _V1 + b"org-signing"
# the mailbox private key -> the key of the desk's search index (core.search): only who
# holds the mailbox key can make or test its tokens, not the host with server.key
SEARCH = _V2 + b"search"
# the mailbox private key -> the key that seals each conversation's heading for the desk's
# rows (core.heading): as the search key, only who holds the mailbox key
HEADING = _V2 + b"heading"
# SHA-256 prefix, no key: the check characters of a reference (core.references; pinned by
# tests/test_references.py's known answer)
REFERENCE_CHECK = _V1 + b"reference-check|"


def stream(context: bytes) -> bytes:
    """A stream's item key, from the content key (see core.stream's format)."""
    return _V1 + b"stream|" + context


def stream_item(message_id: str, role: str, position: int = 0) -> bytes:
    """The ``context`` of one item of a message: a blob swapped between messages or
    between items of one message derives another key and does not open."""
    return f"{message_id}|{role}|{position}".encode()


def invitation(invitation_id: str) -> bytes:
    """The key made of reference and server share, for one invitation."""
    return _V1 + b"invitation|" + invitation_id.encode()


# --- bindings: what a wrapped key belongs to ----------------------------------------


def content_key(message_id: str) -> bytes:
    """A content key wrapped to the mailbox (HPKE info), for one message (format 1)."""
    return _V1 + b"content-key|" + message_id.encode()


def content_key_v2(
    message_id: str, conversation_id: str, direction: str, author_id: str | None
) -> bytes:
    """Format 2: also bound to its conversation, direction and author, so a message
    moved to another conversation or passed off as the other side's does not open."""
    return _v2(b"content-key", message_id, conversation_id, direction, author_id or "")


def thread_key(participant_id: str) -> bytes:
    """A thread key wrapped to the mailbox (HPKE info), for one participant."""
    return _V1 + b"thread-key|" + participant_id.encode()


def thread_content(message_id: str) -> bytes:
    """A content key wrapped under a thread key, for one message."""
    return _V1 + b"thread-content|" + message_id.encode()


def invitation_thread_key(invitation_id: str) -> bytes:
    """A thread key wrapped under an invitation's key. Format v1 bound it to the bare
    id (the key itself is already derived with the ``invitation`` label)."""
    return invitation_id.encode()


def staff_key(staff_id: str, mailbox_id: str) -> bytes:
    """The mailbox key wrapped under one staff member's password."""
    return _V1 + f"staff-key|{staff_id}|{mailbox_id}".encode()


def staff_own_key(staff_id: str) -> bytes:
    """Format 3 of a staff password wrap: that person's own private key (not the mailbox
    key itself, as :func:`staff_key`), under their password."""
    return _v2(b"staff-own-key", staff_id)


def staff_mailbox_key(staff_id: str, mailbox_id: str) -> bytes:
    """The mailbox private key HPKE-wrapped to one staff member's own public key."""
    return _v2(b"staff-mailbox-key", staff_id, mailbox_id)


def staff_invitation(invitation_id: str) -> bytes:
    """The key made of an invitation's two codes and the pepper (HKDF info)."""
    return _v2(b"staff-invitation", invitation_id)


def staff_invitation_wrap(invitation_id: str, staff_id: str, mailbox_id: str, role: str) -> bytes:
    """The mailbox private key wrapped for an invitation: bound to the invitation, the
    person and the role it was made for (a role flipped in the database does not open)."""
    return _v2(b"staff-invitation-wrap", invitation_id, staff_id, mailbox_id, role)


def rotation_old_key(rotation_id: str, mailbox_id: str) -> bytes:
    """The old mailbox private key HPKE-wrapped to the new public key while a rotation
    is under way (core.rotation)."""
    return _v2(b"rotation-old-key", rotation_id, mailbox_id)


def recovery_wrap(mailbox_id: str) -> bytes:
    """The mailbox key wrapped under the recovery key."""
    return _V1 + f"recovery|{mailbox_id}".encode()


# --- bindings: records sealed with a key of the mailbox key ----------------------------


def heading(conversation_id: str, first_message_id: str) -> bytes:
    """A conversation's heading (core.heading), sealed under the heading key: bound to
    the conversation and to the first message it was read from, so that a heading moved
    to another conversation, or left after its first message was swapped, does not open."""
    return _v2(b"heading", conversation_id, first_message_id)


# --- bindings: records sealed with the server secret ---------------------------------


def totp(staff_id: str) -> bytes:
    return _V1 + f"totp|{staff_id}".encode()


def contact(participant_id: str) -> bytes:
    return _V1 + f"contact|{participant_id}".encode()


def share(invitation_id: str) -> bytes:
    """Format 1 of a server share's binding (read only by the upgrade to format 2)."""
    return _V1 + f"share|{invitation_id}".encode()


def share_v2(
    invitation_id: str, participant_id: str, conversation_id: str, method: str, expires_at: int
) -> bytes:
    """A server share, bound to its invitation, the person it was sent to, their
    conversation, how they verify and until when (epoch seconds): an invitation
    re-pointed, a method flipped or an expiry moved in the database does not open."""
    fields = (invitation_id, participant_id, conversation_id, method, str(expires_at))
    return _v2(b"share", *fields)


def outbox(item_id: str) -> bytes:
    return _V1 + b"outbox|" + item_id.encode()


def hold(conversation_id: str) -> bytes:
    """The reason staff gave for keeping a conversation from the purge."""
    return _V1 + b"hold|" + conversation_id.encode()


def _v2(name: bytes, *fields: str) -> bytes:
    """A format-2 binding or label: the prefix, its name, then each field length-prefixed."""
    return _V2 + name + b"".join(_field(f) for f in fields)


def _field(value: str) -> bytes:
    """One length-prefixed field of a format-2 binding: unambiguous whatever it holds."""
    raw = value.encode("utf-8")
    return len(raw).to_bytes(4, "big") + raw


# --- tags under the server secret (ServerSecret.tag's first part) --------------------

MAILBOX_PIN = "mailbox-public-key"  # the mailbox public key, pinned (core.pins)
MESSAGE_ORIGIN = "message-origin"  # a message stored by veilig itself (core.pins)
PSEUDONYM = "pseudonym"  # a person's address -> whom audit entries are about (core.audit)
AUDIT = "audit"  # an audit entry of version 1, chained to the one before (core.audit)
AUDIT_V2 = "audit-v2"  # version 2: also about whom, from where, the outcome
STAFF_PIN = "staff-key"  # a staff member's role and own public key (core.staff)
STAFF_INVITATION_CODE = "staff-invitation-code"  # the lookup tag of an invitation code
