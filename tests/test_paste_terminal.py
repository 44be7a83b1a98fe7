"""The real ``veilig start`` in a pseudo-terminal, pasted into as tmux's ``paste-buffer -p``
pastes: a bracketed paste, line ends sent as CR, an escape sequence inside (issue #20,
items 1 and 2). What the terminal shows is read with a VT emulator (pyte)."""

from __future__ import annotations

import email
import fcntl
import os
import pty
import re
import signal
import struct
import sys
import termios
from pathlib import Path

import pytest

from tests.conftest import code_in, maildir_of
from tests.pty_screen import PtyScreen

pytestmark = pytest.mark.slow  # a real process in a pty

WIDTH, HEIGHT = 100, 36
TIMEOUT = 60.0  # a whole Python/Textual start-up on a busy machine


class Terminal(PtyScreen):
    def __init__(self, fd: int) -> None:
        super().__init__(fd, WIDTH, HEIGHT, TIMEOUT)

    def paste(self, text: str) -> None:
        """As ``tmux paste-buffer -p``: line feeds become CR, inside a bracketed paste."""
        self.send("\x1b[200~" + text.replace("\n", "\r") + "\x1b[201~")


def start(home: Path) -> tuple[int, Terminal]:
    pid, fd = pty.fork()
    if pid == 0:  # the child: veilig start in a terminal of WIDTH x HEIGHT
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "VEILIG_HOME": str(home),
            "VEILIG_LANG": "en",
            "TERM": "xterm-256color",
        }
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", HEIGHT, WIDTH, 0, 0))
        os.execve(sys.executable, [sys.executable, "-m", "tui.cli", "start"], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", HEIGHT, WIDTH, 0, 0))
    return pid, Terminal(fd)


def code_mail(home: Path) -> str | None:
    new = maildir_of(home) / "new"
    for path in sorted(new.iterdir()) if new.exists() else []:
        return code_in(email.message_from_bytes(path.read_bytes()))
    return None


def test_a_paste_into_the_real_starter_keeps_order_controls_and_lines(home: Path) -> None:
    pid, term = start(home)
    try:
        term.wait_for("What is your name?")
        term.paste("AAA\x1b]52;c;X\x07BBB")
        term.send("\r")
        # In order, the controls as their pictures (␛, ␇), nothing interpreted.
        term.wait_for("Thank you, AAA␛]52;c;X␇BBB.")
        term.send("karin@example.nl\r")
        term.read_until(lambda: code_mail(home) is not None, "the code e-mail")
        term.send(str(code_mail(home)) + "\r")
        term.wait_for("What is the subject")
        term.send("Onderwerp\r")
        term.wait_for("Write your message below")
        term.paste("line one\nline two\nline three")
        term.send("\x13")  # Ctrl+S: the body shows as the guest's own bubble
        term.wait_for("line three")
        shown = term.text()
        assert "␍" not in shown and "^]" not in shown
        lines = [line for line in shown.splitlines() if re.search(r"line (one|two|three)", line)]
        assert len(lines) == 3, shown
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
        os.close(term.fd)
