"""One-time verification codes: issued, delivered elsewhere, checked once.

At rest a code is only a keyed tag bound to its challenge id and purpose, so a
database copy neither shows codes nor lets one tag be moved to another challenge.
Checks compare tags in constant time; checks of one code take turns, and attempts and
consumption are atomic updates, so two racing verifications cannot both use one code,
nor guess past its attempts, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from core.clock import Clock
from core.errors import CodeRejected, RateLimited
from core.models import Challenge, Purpose
from core.policy import Policy
from core.ports import ChallengeRecords
from core.server_secret import ServerSecret


def normalise_code(typed: str) -> str:
    """People paste codes with spaces or dashes ("123 456"); only digits count."""
    return "".join(ch for ch in typed if not ch.isspace() and ch != "-")


@dataclass(frozen=True)
class IssuedCode:
    challenge: Challenge
    # Goes into the outbox (sealed), never into a log; repr=False keeps it out of
    # tracebacks that show locals (Textual's crash screen, pytest --showlocals).
    code: str = field(repr=False)


class CodeIssuer:
    def __init__(self, policy: Policy, secret: ServerSecret, clock: Clock) -> None:
        self.policy = policy
        self.secret = secret
        self.clock = clock

    def destination_tag(self, purpose: Purpose, destination: str) -> str:
        return self.secret.tag("destination", purpose, destination.casefold()).hex()

    def _code_tag(self, challenge_id: str, purpose: Purpose, code: str) -> bytes:
        return self.secret.tag("code", challenge_id, purpose, code)

    def issue(self, tx: ChallengeRecords, purpose: Purpose, destination: str) -> IssuedCode:
        now = self.clock()
        tag = self.destination_tag(purpose, destination)
        # Counted, then issued: requests for one destination take turns, or several
        # (other sessions, other hosts) would all count the same room.
        tx.lock_for_destination(tag)
        recent = tx.challenges_since(tag, now - timedelta(hours=1))
        if len(recent) >= self.policy.codes_per_destination_per_hour:
            oldest = min(c.created_at for c in recent)
            wait = oldest + timedelta(hours=1) - now
            raise RateLimited("too many codes for this destination", int(wait.total_seconds()) + 1)
        newest = max((c.created_at for c in recent), default=None)
        if newest is not None and now - newest < self.policy.code_resend_cooldown:
            wait = newest + self.policy.code_resend_cooldown - now
            raise RateLimited("wait before asking for another code", int(wait.total_seconds()) + 1)
        code = f"{secrets.randbelow(10**self.policy.code_digits):0{self.policy.code_digits}d}"
        challenge = Challenge(
            purpose=purpose,
            destination_tag=tag,
            code_tag=b"",
            created_at=now,
            expires_at=now + self.policy.code_lifetime,
        )
        challenge.code_tag = self._code_tag(challenge.id, purpose, code)
        tx.add(challenge)
        return IssuedCode(challenge, code)

    def looks_like_a_code(self, typed: str) -> bool:
        """A typo in the format (letters, too short) is not a guess: it costs no attempt."""
        code = normalise_code(typed)
        return len(code) == self.policy.code_digits and code.isascii() and code.isdigit()

    def check(self, tx: ChallengeRecords, challenge_id: str, typed: str) -> None:
        """Accept the code once, or raise :class:`CodeRejected` saying why.

        Two guards for single use, each needed: checks of one code take turns (its
        lock), so the attempts and use read here are current and a used or used-up code
        answers so before any comparison; and the use itself is a conditional update,
        which holds even for a check that read a stale copy."""
        tx.lock_challenge(challenge_id)
        challenge = tx.challenge(challenge_id)
        if challenge is None or challenge.consumed_at is not None:
            raise CodeRejected(CodeRejected.USED_UP)
        if challenge.attempts >= self.policy.code_attempts:
            raise CodeRejected(CodeRejected.USED_UP)
        if self.clock() >= challenge.expires_at:
            raise CodeRejected(CodeRejected.EXPIRED)
        candidate = self._code_tag(challenge.id, challenge.purpose, normalise_code(typed))
        if not hmac.compare_digest(candidate, challenge.code_tag):
            attempts = tx.count_failed_attempt(challenge.id)
            left = max(self.policy.code_attempts - attempts, 0)
            reason = CodeRejected.WRONG if left else CodeRejected.USED_UP
            raise CodeRejected(reason, left, counted=True)
        if not tx.consume_challenge(challenge.id, self.clock()):
            raise CodeRejected(CodeRejected.USED_UP)
