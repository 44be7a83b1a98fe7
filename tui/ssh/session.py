"""One terminal session of ``veilig serve ssh``: a real PTY and its own ``veilig``
process, relayed byte for byte between the SSH channel and the app.

The process gets the client's terminal type and size (and every change of it) and
language (``VEILIG_LANG`` or ``LANG``, sent with OpenSSH's ``SendEnv``; only ``nl`` or
``en`` is taken), runs in the session's file area, and is hung up (then killed, after
a grace period) when the client goes away. Its start and end are logged, with who.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import pty
import re
import signal
import struct
import subprocess
import termios
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import asyncssh

from core.i18n import LANGUAGES, _, current_language, speaking
from core.transfer import ENV_DIR, ENV_LOGIN, ENV_PORT
from tui.ssh.files import SessionArea

if TYPE_CHECKING:
    from tui.ssh.server import Hub

log = logging.getLogger(__name__)

TERM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
# The server's own environment goes to the sessions (their configuration), but not what
# describes the server's terminal: COLUMNS/LINES would override the PTY's size (the app
# drew at the server's 80x24 until the first resize), COLORTERM the client's colours.
NOT_PASSED_ON = frozenset({ENV_DIR, ENV_LOGIN, ENV_PORT, "COLUMNS", "LINES", "COLORTERM"})
MAX_PENDING_INPUT = 64 * 1024  # typed/pasted bytes the app has not read: then stop reading
HANGUP_GRACE_SECONDS = 2.0


def _no_pty_message() -> str:
    return _("veilig needs a terminal: connect with ssh -t (or without a command).")


def _busy_message() -> str:
    return _("veilig is busy: too many people are connected. Please try again in a few minutes.")


def client_language(env: Mapping[str, str]) -> str | None:
    """The language the client asked for, as ``veilig`` itself reads it: ``VEILIG_LANG``,
    then ``LANG`` (``nl_NL.UTF-8`` is Dutch); None when neither names one we speak."""
    for name in ("VEILIG_LANG", "LANG"):
        value = env.get(name, "")
        if value:
            return value[:2] if value[:2] in LANGUAGES else None
    return None


class PtySession(asyncssh.SSHServerSession[bytes]):
    """A real PTY and its own ``veilig`` process, relayed byte for byte."""

    def __init__(
        self,
        hub: Hub,
        args: list[str],
        *,
        who: str = "",
        address: str = "",
        ended: Callable[[], None] = lambda: None,
    ) -> None:
        self.hub = hub
        self.args = args
        self.who = who or args[0]  # for the log: "guest", "staff desk@…"
        self.address = address  # the client's, for the log (and a firewall that reads it)
        self.ended = ended  # told once the terminal is gone
        self.chan: asyncssh.SSHServerChannel[bytes] | None = None
        self.term_type: str | None = None
        self.size = (80, 24)
        self.master = -1
        self.process: subprocess.Popen[bytes] | None = None
        self.area: SessionArea | None = None
        self.pending = b""  # typed bytes the PTY did not take yet
        self.closed = False
        self.language: str | None = None

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:  # type: ignore[override]
        self.chan = chan

    def pty_requested(
        self, term_type: str, term_size: tuple[int, int, int, int], term_modes: object
    ) -> bool:
        # TERM goes into the app's environment: a name, nothing else.
        self.term_type = term_type if TERM_NAME.fullmatch(term_type) else "xterm-256color"
        self.size = (term_size[0] or 80, term_size[1] or 24)
        return True

    def shell_requested(self) -> bool:
        return True  # refused below when there is no PTY: with one line that says why

    def exec_requested(self, command: str) -> bool:
        return False

    def subsystem_requested(self, subsystem: str) -> bool:
        return False

    def session_started(self) -> None:
        assert self.chan is not None
        self.language = client_language(self.chan.get_environment())
        if self.term_type is None:
            self._refuse(_no_pty_message, 2)
            return
        if self.full():
            log.warning(
                "ssh: refused a session for %s from %s: %d running",
                self.who,
                self.address,
                len(self.hub.sessions),
            )
            self._refuse(_busy_message, 1)
            return
        self.area = self.hub.areas.create()
        self.start_process()

    def full(self) -> bool:
        """Whether this session would go beyond the limits: all sessions, or (for a
        guest) the places guests may take."""
        policy, sessions = self.hub.policy, self.hub.sessions
        if len(sessions) >= policy.ssh_sessions_total:
            return True
        guests = sum(1 for session in sessions if session.guest)
        return self.guest and guests >= policy.ssh_guest_sessions_total

    @property
    def guest(self) -> bool:
        return self.args[0] == "guest"

    def _refuse(self, message: Callable[[], str], status: int) -> None:
        """One line, in the client's language, and the exit status; no process."""
        assert self.chan is not None
        with speaking(self.language or current_language()):
            text = message()
        self.chan.write((text + "\r\n").encode())
        self.chan.exit(status)
        self.ended()

    # --- the process ---------------------------------------------------------------

    def start_process(self) -> None:
        assert self.area is not None and self.term_type is not None
        master, slave = pty.openpty()
        self.master = master
        self._set_size(*self.size)
        transfer = self.area.transfer(self.hub.public_host, self.hub.port)
        env = {k: v for k, v in os.environ.items() if k not in NOT_PASSED_ON}
        env |= transfer.env() | {"TERM": self.term_type}
        env["VEILIG_HOME"] = str(self.hub.home)
        if self.language:  # the client's choice goes before the server's default
            env["VEILIG_LANG"] = self.language
        peer = self.chan.get_extra_info("peername") or ("?",)
        env["VEILIG_CLIENT"] = f"ssh {peer[0]}"  # for the audit log (NEN 7513)
        try:
            self.process = subprocess.Popen(  # our own interpreter and module
                [*self.hub.veilig, *self.args],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                cwd=transfer.upload,
                start_new_session=True,
                # Make the PTY the controlling terminal: only then does a window change
                # reach the app as SIGWINCH, and a hang-up as SIGHUP.
                preexec_fn=_controlling_terminal,
            )
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self.hub.sessions.append(self)
        asyncio.get_running_loop().add_reader(master, self._from_app)
        log.info("ssh: session %s for %s from %s started", self.process.pid, self.who, self.address)

    def _set_size(self, width: int, height: int) -> None:
        if self.master >= 0:
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def _from_app(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: every copy of the terminal is closed, the app has gone
            data = b""
        if not data:
            self._stop_reading()
            asyncio.get_running_loop().create_task(self._finish())
            return
        if self.chan is not None and not self.closed:
            with contextlib.suppress(BrokenPipeError):  # the client is just going
                self.chan.write(data)

    def _stop_reading(self) -> None:
        if self.master >= 0:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self.master)
                asyncio.get_running_loop().remove_writer(self.master)

    async def _finish(self) -> None:
        """The app exited: close the channel with its exit status."""
        status = await self._reap()
        if self.process is not None:
            log.info(
                "ssh: session %s for %s ended: exit status %d", self.process.pid, self.who, status
            )
        if self.chan is not None and not self.closed:
            self.chan.exit(status)
        self._cleanup()

    async def _reap(self) -> int:
        process = self.process
        if process is None:
            return 0
        while process.poll() is None:
            await asyncio.sleep(0.05)
        code = process.returncode
        return 128 - code if code < 0 else code

    def _cleanup(self) -> None:
        self._stop_reading()
        if self.master >= 0:
            os.close(self.master)
            self.master = -1
        if self.area is not None:
            self.hub.areas.remove(self.area)
            self.area = None
        if self in self.hub.sessions:
            self.hub.sessions.remove(self)
            self.ended()

    # --- from the client --------------------------------------------------------------

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self.master < 0:
            return
        self.pending += data
        self._to_app()

    def _to_app(self) -> None:
        try:
            written = os.write(self.master, self.pending)
        except BlockingIOError:
            written = 0
        except OSError:
            self.pending = b""
            return
        self.pending = self.pending[written:]
        loop = asyncio.get_running_loop()
        if self.pending:
            loop.add_writer(self.master, self._to_app)
        else:
            loop.remove_writer(self.master)
        if self.chan is not None and not self.closed:
            # A huge paste waits in the client's SSH window, not in our memory.
            if len(self.pending) > MAX_PENDING_INPUT:
                self.chan.pause_reading()
            else:
                self.chan.resume_reading()

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        self.size = (width, height)
        self._set_size(width, height)  # the kernel tells the app with SIGWINCH

    def pause_writing(self) -> None:
        if self.master >= 0:
            asyncio.get_running_loop().remove_reader(self.master)

    def resume_writing(self) -> None:
        if self.master >= 0 and not self.closed:
            asyncio.get_running_loop().add_reader(self.master, self._from_app)

    def eof_received(self) -> bool:
        return True  # keep the terminal: the app ends the session

    def connection_lost(self, exc: Exception | None) -> None:
        """The client went away: hang up the app's terminal, then make sure it is gone."""
        self.closed = True
        if self.process is not None and self.process.poll() is None:
            asyncio.get_running_loop().create_task(self._hang_up())
        elif self.process is not None:
            self._cleanup()

    async def _hang_up(self) -> None:
        assert self.process is not None
        pid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGHUP)
        try:
            await asyncio.wait_for(self._reap(), HANGUP_GRACE_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            await self._reap()
        self._cleanup()
        log.info("ssh: session %s for %s ended with the client", pid, self.who)


def _controlling_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
