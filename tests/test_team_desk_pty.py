"""Two real ``veilig desk`` processes on one home, each in its own pseudo-terminal, two
staff members logged in at once: what one takes or closes, the other's inbox shows
without a restart, by its own timer (issue 14). The screens are read with a VT
emulator (pyte); the test waits for what the terminal shows, never for time.

The last test is a team's whole story with the real commands only: ``veilig init``,
``staff add`` (the invitation through a real SMTP server), ``staff enrol``, two desks at
work, ``staff remove``."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import sys
import termios
from collections.abc import Callable
from pathlib import Path

import pyotp
import pytest

from core.policy import Policy
from core.sealing import Draft
from core.starter import Starter, VerifiedGuest
from tests.conftest import MAILBOX, STAFF_EMAIL, STAFF_PASSWORD, SmtpServer, body_of, make_settings
from tests.pty_screen import PtyScreen
from tests.staff_helpers import (
    INVITATION_CODE,
    Authenticator,
    assert_wraps_gone,
    enrol_by_command,
    handover_in,
    ok,
    veilig,
    wraps_of,
)
from tests.team_helpers import COLLEAGUE_EMAIL, COLLEAGUE_PASSWORD, add_colleague
from tui.factory import make_context

pytestmark = pytest.mark.slow  # real processes in ptys

WIDTH, HEIGHT = 120, 30
TIMEOUT = 60.0  # a whole Python/Textual start-up on a busy machine
ROOT = Path(__file__).resolve().parent.parent


class Desk(PtyScreen):
    """A ``veilig desk`` process and what its terminal shows."""

    def __init__(self, home: Path) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the desk in a terminal of WIDTH x HEIGHT
            env = {
                "PATH": os.environ.get("PATH", ""),
                "HOME": str(home),
                "VEILIG_HOME": str(home),
                "VEILIG_LANG": "en",
                "TERM": "xterm-256color",
                "PYTHONPATH": str(ROOT),
            }
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", HEIGHT, WIDTH, 0, 0))
            os.execve(sys.executable, [sys.executable, "-m", "tui.cli", "desk"], env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", HEIGHT, WIDTH, 0, 0))
        super().__init__(self.fd, WIDTH, HEIGHT, TIMEOUT)

    def line_with(self, text: str) -> str:
        return next((line for line in self.screen.display if text in line), "")

    def border(self, label: str) -> tuple[str, str] | None:
        """The colours of the top left corner of the input under ``label``."""
        lines = self.screen.display
        # The label's line, inside the log-in box's own border: "▊  E-mail      ▎".
        rows = [n for n, line in enumerate(lines) if line.strip(" ▊▎") == label]
        if not rows or rows[0] + 1 >= len(lines):
            return None
        x = lines[rows[0]].index(label)  # the input's corner is below the label's start
        if lines[rows[0] + 1][x : x + 1] != "▊":
            return None
        corner = self.screen.buffer[rows[0] + 1][x]
        return corner.fg, corner.bg

    def log_in(self, email: str, password: str, code: Callable[[], str]) -> None:
        self.fill_log_in(email, password, code)
        self.wait_for(f"Inbox · {email}")

    def fill_log_in(self, email: str, password: str, code: Callable[[], str]) -> None:
        """Each field typed once it has the focus: keys sent before the focus moved would
        land in the field before (Textual handles them ahead of the focus change). The
        code is asked of the app when its field is reached, as a person reads it."""
        fields = ("E-mail", "Password", "Code from your authenticator app")
        self.read_until(
            lambda: None is not self.border(fields[0]) != self.border(fields[1]) is not None,
            "the log-in form, the focus on its first field",
        )
        focused = self.border(fields[0])  # the colour of a focused input's border
        for label, text in zip(fields, (lambda: email, lambda: password, code), strict=True):
            self.read_until(lambda label=label: self.border(label) == focused, f"{label!r}")
            self.send(text() + "\r")

    def end(self) -> None:
        os.kill(self.pid, signal.SIGTERM)  # our own child, by its pid
        os.waitpid(self.pid, 0)
        os.close(self.fd)


def test_two_desk_processes_see_each_others_take_and_close(
    home: Path, initialised, policy: Policy, totp: pyotp.TOTP
) -> None:
    ctx = make_context(make_settings(home), policy=policy)
    colleague_totp = add_colleague(ctx, initialised[1])
    for name in ("Karin Janssen", "Piet Bakker"):
        Starter(ctx).send(VerifiedGuest(name, "guest@example.nl"), Draft("Vraag", "Hallo."))
    mine, theirs = Desk(home), Desk(home)
    try:
        mine.log_in(STAFF_EMAIL, STAFF_PASSWORD, totp.now)
        theirs.log_in(COLLEAGUE_EMAIL, COLLEAGUE_PASSWORD, colleague_totp.now)
        mine.wait_for("Karin Janssen")
        assert COLLEAGUE_EMAIL not in mine.text()

        theirs.wait_for("Karin Janssen")
        theirs.send("t")  # the newest (Piet Bakker), taken with one key
        theirs.read_until(lambda: "you" in theirs.line_with("Piet Bakker"), "taken")
        # My desk gets no key: only its own timer can show the colleague's take.
        mine.read_until(
            lambda: COLLEAGUE_EMAIL in mine.line_with("Piet Bakker"), "the colleague's take"
        )

        mine.send("\x1b[B")  # down: the other conversation
        mine.send("c")
        mine.read_until(lambda: "closed" in mine.line_with("Karin Janssen"), "closed here")
        theirs.read_until(
            lambda: "closed" in theirs.line_with("Karin Janssen"), "the close, at the other desk"
        )
        assert STAFF_EMAIL in theirs.line_with("Karin Janssen")  # closed by me: mine now
        assert "you" in theirs.line_with("Piet Bakker")
    finally:
        mine.end()
        theirs.end()


ANNA, BRAM, CARLA = (f"{n}@declacare.nl" for n in ("anna", "bram", "carla"))
PASSWORDS = {
    ANNA: "correct horse battery staple",
    BRAM: "purple elephant dances slowly",
    CARLA: "seven green kettles whistle",
}


def test_a_team_of_three_invited_enrolled_at_work_in_two_desks_and_one_removed(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    home, mail = tmp_path / "home", {"VEILIG_SMTP_URL": smtp_server.url}

    def as_anna(*args: str) -> str:
        """An admin command, authorised with Anna's password and a fresh code."""
        return ok(
            veilig(home, *args, "--by", ANNA, answers=(PASSWORDS[ANNA], anna.code()), env=mail)
        )

    setup = ("init", "--org", "DeclaCare", "--mailbox", MAILBOX, "--staff", ANNA)
    done = ok(veilig(home, *setup, answers=(PASSWORDS[ANNA],), env=mail))
    anna = Authenticator.from_uri(next(ln for ln in done.splitlines() if ln.startswith("otpauth")))

    # Anna invites two. Each reads the invitation code in their mail and gets the
    # hand-over code from her (it is only on her screen), sets a password, scans the QR.
    apps: dict[str, Authenticator] = {}
    for email, name in ((BRAM, "Bram de Vries"), (CARLA, "Carla Smit")):
        added = as_anna("staff", "add", email, "--name", name)
        assert f"went to {email} by e-mail" in added
        handover, invitation = handover_in(added), body_of(smtp_server.bag.next_to(email))
        assert handover not in invitation
        code = INVITATION_CODE.search(invitation).group(1)  # type: ignore[union-attr]
        apps[email] = enrol_by_command(home, code, handover, PASSWORDS[email], env=mail)

    ctx = make_context(make_settings(home))
    for name in ("Karin Janssen", "Piet Bakker", "Sanne de Wit"):  # the newest shows first
        Starter(ctx).send(VerifiedGuest(name, "guest@example.nl"), Draft("Vraag", "Hallo."))

    bram, carla = Desk(home), Desk(home)
    try:
        bram.log_in(BRAM, PASSWORDS[BRAM], apps[BRAM].code)
        carla.log_in(CARLA, PASSWORDS[CARLA], apps[CARLA].code)
        for desk in (bram, carla):
            desk.wait_for("Karin Janssen")

        # Bram takes the newest; Carla's desk shows it with no key pressed there.
        bram.send("t")
        bram.read_until(lambda: "you" in bram.line_with("Sanne de Wit"), "Bram's take")
        carla.read_until(lambda: BRAM in carla.line_with("Sanne de Wit"), "his take, at hers")
        # Carla takes the next and closes the oldest; Bram's desk shows both by itself.
        carla.send("\x1b[B" + "t")
        carla.read_until(lambda: "you" in carla.line_with("Piet Bakker"), "Carla's take")
        carla.send("\x1b[B" + "c")
        carla.read_until(lambda: "closed" in carla.line_with("Karin Janssen"), "her close")
        bram.read_until(lambda: CARLA in bram.line_with("Piet Bakker"), "her take, at his")
        bram.read_until(lambda: "closed" in bram.line_with("Karin Janssen"), "her close, at his")
        assert CARLA in bram.line_with("Karin Janssen")
        assert "closed" not in bram.line_with("Piet Bakker")

        # Anna removes Carla while Carla's desk is open.
        carla_before = wraps_of(ctx, CARLA)
        removed = as_anna("staff", "remove", CARLA)
        assert f"{CARLA} is removed" in removed
        # Her desk's next action (its own look for changes) finds the key gone: back to
        # the log-in, nothing of the inbox left on the screen.
        carla.read_until(
            lambda: "Your access changed" in carla.text() and "log in again" in carla.text(),
            "the session check's notice",
        )
        carla.wait_for("veilig desk · DeclaCare")
        assert "Inbox ·" not in carla.text() and "Karin Janssen" not in carla.text()
        # What she handled and had not closed goes back to the team, at Bram's desk too.
        bram.read_until(lambda: CARLA not in bram.line_with("Piet Bakker"), "Piet released")
        assert "you" in bram.line_with("Sanne de Wit")  # Bram works on
        # Her password and a code from her app (one never used) open nothing any more ...
        carla.fill_log_in(CARLA, PASSWORDS[CARLA], apps[CARLA].code)
        carla.wait_for("is not right")
        assert "Inbox ·" not in carla.text()
        # ... and her wraps and TOTP secret are in no byte of the database or its log.
        assert_wraps_gone(home, carla_before)
        assert CARLA not in ok(veilig(home, "staff", "list", env=mail))
    finally:
        bram.end()
        carla.end()
