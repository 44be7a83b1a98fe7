"""Staff's second factor: TOTP (RFC 6238) with replay prevention, as SecureDrop's
``two_factor.py`` does it.

The secret is 160 bits from ``secrets`` (RFC 4226 §4), shown once at ``veilig init``
and sealed at rest with the server secret, bound to its staff member: a copy of the
database yields no secret, and a sealed secret moved to another staff row does not
open. A code counts within +-``totp_valid_window`` steps of clock drift, is compared
in constant time, and only for a step later than the last one accepted: each code
(and any older one) works once.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

from core import labels
from core.policy import Policy
from core.server_secret import ServerSecret


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits from `secrets` (RFC 4226 §4)


def provisioning_uri(secret: str, *, account: str, issuer: str, policy: Policy) -> str:
    """The ``otpauth://`` URI an authenticator app reads (``veilig init`` shows it as QR)."""
    totp = pyotp.TOTP(secret, digits=policy.totp_digits, interval=policy.totp_interval_seconds)
    return totp.provisioning_uri(name=account, issuer_name=issuer)


def seal_secret(server: ServerSecret, secret: str, staff_id: str) -> bytes:
    return server.seal(secret.encode(), labels.totp(staff_id))


def open_secret(server: ServerSecret, sealed: bytes, staff_id: str) -> str:
    return server.open(sealed, labels.totp(staff_id)).decode()


_ASCII_DIGITS = frozenset("0123456789")


def matching_step(secret: str, code: str, now: datetime, policy: Policy) -> int | None:
    """The time step ``code`` belongs to (within +-window steps), compared in constant time.

    Only exactly ``totp_digits`` ASCII digits (spaces aside) are compared at all; anything
    else is a wrong code. ``str.isdigit`` also accepts "١٢٣٤٥٦", and comparing that raised
    TypeError for a right password only: an oracle for the password, neither counted nor
    audited."""
    interval, window = policy.totp_interval_seconds, policy.totp_valid_window
    totp = pyotp.TOTP(secret, interval=interval)
    current = int(now.timestamp()) // interval
    typed = "".join(code.split())
    if len(typed) != policy.totp_digits or not set(typed) <= _ASCII_DIGITS:
        return None
    match = None
    for step in range(current - window, current + window + 1):
        if hmac.compare_digest(totp.generate_otp(step), typed):
            match = step
    return match


def is_replay(step: int, last_step: int | None) -> bool:
    """A step at or before the last accepted one: that code, or an older one, again."""
    return last_step is not None and step <= last_step
