"""What the evidence tests share: the real CLI with a staff log-in on stdin, an
authenticator that never offers a TOTP step twice, the public key as a file, and
the flows that put people's data in a home."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pyotp

from core.attachments import Attachment
from core.sealing import Draft
from core.starter import Starter
from core.store import Receipt
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD, SmtpServer, code_in, deliver
from tests.test_cli import veilig

TOTP_STEP = 30


class Authenticator:
    """The staff member's app, for log-ins in other processes (real time): each log-in
    takes the next TOTP step that is not a replay, from the current one on. The server
    accepts one step back to one ahead, so two log-ins fit in one step's 30 seconds,
    and a step boundary passed while the process starts does not void the code."""

    def __init__(self, totp: pyotp.TOTP, after: float | None = None) -> None:
        self.totp = totp
        self.last = int(after // TOTP_STEP) if after is not None else None

    def code(self) -> str:
        now = int(time.time() // TOTP_STEP)
        step = now if self.last is None else max(now, self.last + 1)
        assert step <= now + 1, "more log-ins than the TOTP window allows: wait a step"
        self.last = step
        return self.totp.at(step * TOTP_STEP)

    def stdin(self) -> str:
        return f"{STAFF_EMAIL}\n{STAFF_PASSWORD}\n{self.code()}\n"


def logged_in(home: Path, app: Authenticator, *args: str):
    """``veilig ARGS`` by a staff member who logs in on stdin."""
    return veilig(home, *args, stdin=app.stdin())


def public_key_file(home: Path, folder: Path) -> Path:
    """The organisation's public key as an auditor gets it: `veilig keys show --pem`."""
    shown = veilig(home, "keys", "show", "--pem")
    assert shown.returncode == 0, shown.stderr
    path = folder / "declacare.pem"
    path.write_text(shown.stdout)
    return path


def guest_writes(
    ctx, smtp: SmtpServer, name: str, email: str, subject: str, body: str, files: list[Path]
) -> Receipt:
    """Flow 1 through the core: a code by e-mail, then a message with attachments."""
    starter = Starter(ctx)
    pending = starter.request_code(name, email)
    deliver(ctx)
    guest = starter.verify(pending, code_in(smtp.bag.next_to(email, "code")))
    draft = Draft(subject, body, tuple(Attachment.from_path(f, ctx.policy) for f in files))
    receipt = starter.send(guest, draft)
    deliver(ctx)
    return receipt


def receipt_values(mail_body: str) -> dict[str, str]:
    """The receipt lines of a confirmation e-mail: item -> HMAC."""
    return dict(re.findall(r"^\s+(text|attachment \d+): ([0-9a-f]{64})$", mail_body, re.M))
