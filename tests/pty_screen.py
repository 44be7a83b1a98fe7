"""What a real program in a pseudo-terminal shows, read with a VT emulator (pyte) as it
draws: the shared part of the tests that drive ``veilig`` in a pty (tests/test_paste_terminal.py,
tests/test_team_desk_pty.py). They wait for what the terminal shows, never for time."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable

import pyte


class PtyScreen:
    def __init__(self, fd: int, width: int, height: int, timeout: float) -> None:
        self.fd = fd
        self.timeout = timeout  # a whole Python/Textual start-up on a busy machine fits
        self.screen = pyte.Screen(width, height)
        self.stream = pyte.ByteStream(self.screen)

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def read_until(self, condition: Callable[[], bool], what: str) -> None:
        """Read what the program draws until ``condition()`` holds: waits for output."""
        deadline = time.monotonic() + self.timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} never came; the screen:\n{self.text()}")
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if ready:
                self.stream.feed(os.read(self.fd, 65536))

    def wait_for(self, text: str) -> None:
        self.read_until(lambda: text in self.text(), repr(text))

    def send(self, data: str) -> None:
        os.write(self.fd, data.encode())
