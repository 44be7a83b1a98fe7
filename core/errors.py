"""Domain errors. Their messages are safe to show: they never carry secrets."""

from __future__ import annotations


class VeiligError(Exception):
    """Base class for errors the user interface explains to a person."""


class CannotOpen(VeiligError):
    """Ciphertext was altered, truncated, reordered, swapped or the key is wrong.

    One error for all of these on purpose: telling them apart helps an attacker,
    not the person at the keyboard.
    """


class KeyDamaged(VeiligError):
    """A stored public key cannot be sealed to (altered or not a valid key): nothing
    is sealed and nothing is sent."""


class InvalidInput(VeiligError):
    """Input that cannot be used (an e-mail address, a file); the message says why."""


class CodeRejected(VeiligError):
    """A code was not accepted: ``reason`` says why, ``attempts_left`` how often more."""

    WRONG = "wrong"
    MALFORMED = "malformed"  # not 6 digits: no attempt counted
    EXPIRED = "expired"
    USED_UP = "used_up"  # too many attempts or already used: ask for a new code

    def __init__(self, reason: str, attempts_left: int = 0, *, counted: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts_left = attempts_left
        self.counted = counted  # a guess was judged wrong (and counted against the code)


class RateLimited(VeiligError):
    """Too many codes or attempts within a window. ``retry_after`` says how long to wait."""

    def __init__(self, reason: str, retry_after_seconds: int = 0) -> None:
        super().__init__(reason)
        self.retry_after_seconds = retry_after_seconds


class StorageFailed(VeiligError):
    """The message could not be written (disk full, not writable). Nothing was sent."""


class NotInitialised(VeiligError):
    """The data directory holds no organisation yet: run ``veilig init``."""


class AlreadyInitialised(VeiligError):
    """``veilig init`` on a home that already has an organisation."""


class LoginFailed(VeiligError):
    """Wrong e-mail, password or TOTP code. Deliberately does not say which."""
