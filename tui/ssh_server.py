"""``veilig serve ssh``: the guided dialogs over SSH, one ``veilig`` process per person.

Who may connect:
- ``guest``: no authentication; lands on the choice between writing to us and
  opening a secure message (``veilig guest``).
- staff: public-key authentication only; the key's SHA256 fingerprint (registered with
  ``veilig staff add-key``) names the account, whatever user name the client sends;
  the desk then asks for password and TOTP as always.
- ``f-…``: the file login of one live session (SFTP and scp only, inside its area).

Everything else is refused: exec, subsystems, port/agent/X11 forwarding, a session
without a PTY (one line, then exit status 2), more than one terminal per connection,
and connections above the limits in :mod:`core.policy`.
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
import sys
import termios
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
from asyncssh.stream import SSHServerStreamSession

from core.i18n import _
from core.policy import DEFAULT_POLICY, Policy
from core.transfer import ENV_DIR, ENV_LOGIN, ENV_PORT
from tui.ssh_files import LOGIN_PREFIX, AreaSFTPServer, FileAreas, SessionArea
from tui.ssh_keys import load_or_create_host_key, staff_keys

log = logging.getLogger(__name__)

GUEST = "guest"
TERM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
MAX_PENDING_INPUT = 64 * 1024  # typed/pasted bytes the app has not read: then stop reading
HANGUP_GRACE_SECONDS = 2.0


@dataclass
class Hub:
    """What all connections of one server share."""

    home: Path
    areas: FileAreas
    public_host: str
    port: int = 0
    policy: Policy = DEFAULT_POLICY
    veilig: Sequence[str] = (sys.executable, "-m", "tui.cli")
    per_address: Counter[str] = field(default_factory=Counter)
    sessions: list[PtySession] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.per_address.values())


def _no_pty_message() -> bytes:
    return (
        _("veilig needs a terminal: connect with ssh -t (or without a command).") + "\r\n"
    ).encode()


class VeiligSSHServer(asyncssh.SSHServer):
    """One per connection: decides who this is and what they may open."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.conn: asyncssh.SSHServerConnection | None = None
        self.address = ""
        self.role = ""  # guest, staff or files
        self.staff_email = ""
        self.area: SessionArea | None = None
        self.terminals = 0

    # --- the connection ------------------------------------------------------------

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.address = str((conn.get_extra_info("peername") or ("?",))[0])
        policy = self.hub.policy
        if (
            self.hub.per_address[self.address] >= policy.ssh_connections_per_address
            or self.hub.total >= policy.ssh_connections_total
        ):
            log.warning("ssh: too many connections from %s", self.address)
            conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS, _("too many connections"))
            self.address = ""  # not counted
            return
        self.hub.per_address[self.address] += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self.address:
            self.hub.per_address[self.address] -= 1
            if self.hub.per_address[self.address] <= 0:
                del self.hub.per_address[self.address]
            self.address = ""
        if self.area is not None and self.conn in self.area.connections:
            self.area.connections.remove(self.conn)

    # --- authentication --------------------------------------------------------------

    def begin_auth(self, username: str) -> bool:
        if username == GUEST:
            self.role = GUEST
            return False  # no authentication: anyone may write to us
        if username.startswith(LOGIN_PREFIX):
            area = self.hub.areas.find(username)
            if area is not None and self.conn is not None:
                self.role, self.area = "files", area
                area.connections.append(self.conn)
                return False  # the 160-bit login is the secret
        self.role = "staff"
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if self.role != "staff":
            return False
        email = staff_keys(self.hub.home).get(str(key.get_fingerprint("sha256")))
        if email is None:
            log.info("ssh: unknown key %s from %s", key.get_fingerprint("sha256"), self.address)
            return False
        self.staff_email = email
        return True

    # --- what may be opened -----------------------------------------------------------

    def session_requested(self) -> asyncssh.SSHServerSession[bytes] | bool:
        if self.role == "files" and self.area is not None:
            area = self.area
            return SSHServerStreamSession(None, lambda chan: AreaSFTPServer(chan, area), 3, True)
        if self.role not in (GUEST, "staff") or self.terminals:
            return False  # one terminal (one process) per connection
        self.terminals += 1
        if self.role == GUEST:
            args = ["guest"]
        else:
            args = ["desk", "--email", self.staff_email]
        return PtySession(self.hub, args)

    def connection_requested(self, *args: object) -> bool:
        return False

    def server_requested(self, *args: object) -> bool:
        return False

    def unix_connection_requested(self, *args: object) -> bool:
        return False

    def unix_server_requested(self, *args: object) -> bool:
        return False


class PtySession(asyncssh.SSHServerSession[bytes]):
    """A real PTY and its own ``veilig`` process, relayed byte for byte."""

    def __init__(self, hub: Hub, args: list[str]) -> None:
        self.hub = hub
        self.args = args
        self.chan: asyncssh.SSHServerChannel[bytes] | None = None
        self.term_type: str | None = None
        self.size = (80, 24)
        self.master = -1
        self.process: subprocess.Popen[bytes] | None = None
        self.area: SessionArea | None = None
        self.pending = b""  # typed bytes the PTY did not take yet
        self.closed = False

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
        if self.term_type is None:
            self.chan.write(_no_pty_message())
            self.chan.exit(2)
            return
        self.area = self.hub.areas.create()
        self.start_process()

    # --- the process ---------------------------------------------------------------

    def start_process(self) -> None:
        assert self.area is not None and self.term_type is not None
        master, slave = pty.openpty()
        self.master = master
        self._set_size(*self.size)
        transfer = self.area.transfer(self.hub.public_host, self.hub.port)
        env = {k: v for k, v in os.environ.items() if k not in (ENV_DIR, ENV_LOGIN, ENV_PORT)}
        env |= transfer.env() | {"TERM": self.term_type}
        env["VEILIG_HOME"] = str(self.hub.home)
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
        log.info("ssh: session %s for %s", self.process.pid, self.args[0])

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
        log.info("ssh: session %s ended with the client", pid)


def _controlling_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


async def start_server(hub: Hub, host: str, port: int) -> asyncssh.SSHAcceptor:
    key = load_or_create_host_key(hub.home)
    server = await asyncssh.create_server(
        lambda: VeiligSSHServer(hub),
        host,
        port,
        server_host_keys=[key],
        encoding=None,
        agent_forwarding=False,
        x11_forwarding=False,
        allow_pty=True,
        line_editor=False,  # the app reads raw keys; asyncssh must not edit lines
        login_timeout=hub.policy.ssh_login_timeout.total_seconds(),
    )
    hub.port = server.get_port()
    return server


async def stop_server(hub: Hub, server: asyncssh.SSHAcceptor) -> None:
    server.close()
    await server.wait_closed()
    for session in list(hub.sessions):
        session.connection_lost(None)
        if session.chan is not None:
            session.chan.close()
    for _round in range(100):
        if not hub.sessions:
            break
        await asyncio.sleep(0.05)
    hub.areas.close()


def host_fingerprint(home: Path) -> str:
    return str(load_or_create_host_key(home).get_fingerprint("sha256"))
