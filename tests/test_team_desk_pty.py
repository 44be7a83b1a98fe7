"""Two real ``veilig desk`` processes on one home, each in its own pseudo-terminal, two
staff members logged in at once: what one takes or closes, the other's inbox shows
without a restart, by its own timer (issue 14). The screens are read with a VT
emulator (pyte); the test waits for what the terminal shows, never for time."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from pathlib import Path

import pyotp
import pyte
import pytest

from core.policy import Policy
from core.sealing import Draft
from core.starter import Starter, VerifiedGuest
from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD, make_settings
from tests.team_helpers import COLLEAGUE_EMAIL, COLLEAGUE_PASSWORD, add_colleague
from tui.factory import make_context

pytestmark = pytest.mark.slow  # real processes in ptys

WIDTH, HEIGHT = 120, 30
TIMEOUT = 60.0  # a whole Python/Textual start-up on a busy machine
ROOT = Path(__file__).resolve().parent.parent


class Desk:
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
        self.screen = pyte.Screen(WIDTH, HEIGHT)
        self.stream = pyte.ByteStream(self.screen)

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def line_with(self, text: str) -> str:
        return next((line for line in self.screen.display if text in line), "")

    def read_until(self, condition, what: str) -> None:
        """Read what the desk draws until ``condition()`` holds: waits for output."""
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} never came; the screen:\n{self.text()}")
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if ready:
                self.stream.feed(os.read(self.fd, 65536))

    def wait_for(self, text: str) -> None:
        self.read_until(lambda: text in self.text(), repr(text))

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

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

    def log_in(self, email: str, password: str, totp: pyotp.TOTP) -> None:
        """Each field typed once it has the focus: keys sent before the focus moved would
        land in the field before (Textual handles them ahead of the focus change)."""
        fields = ("E-mail", "Password", "Code from your authenticator app")
        self.read_until(
            lambda: None is not self.border(fields[0]) != self.border(fields[1]) is not None,
            "the log-in form, the focus on its first field",
        )
        focused = self.border(fields[0])  # the colour of a focused input's border
        for label, text in zip(fields, (email, password, totp.now()), strict=True):
            self.read_until(lambda label=label: self.border(label) == focused, f"{label!r}")
            self.send(text + "\r")
        self.wait_for(f"Inbox · {email}")

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
        mine.log_in(STAFF_EMAIL, STAFF_PASSWORD, totp)
        theirs.log_in(COLLEAGUE_EMAIL, COLLEAGUE_PASSWORD, colleague_totp)
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
