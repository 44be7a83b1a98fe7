"""``veilig serve ssh``: the guided dialogs over SSH, one ``veilig`` process per person.

Who may connect:
- ``guest`` (in any case: ``Guest`` too): no authentication; lands on the choice between
  writing to us and opening a secure message (``veilig guest``).
- staff: public-key authentication only; the key's SHA256 fingerprint (registered with
  ``veilig staff add-key``) names the account, whatever user name the client sends, and
  only while that account exists. The desk then asks for that account's password and
  TOTP; the e-mail address cannot be changed there.
- ``f-…``: the file login of one live session (SFTP and scp only, inside its area).

Everything else is refused: exec, subsystems, port/agent/X11 forwarding, a session
without a PTY (one line, then exit status 2), more than one terminal per connection,
and whatever goes beyond the limits in :mod:`core.policy` (counted per source: an IPv4
address or an IPv6 /64): connections per source, connections that have not opened a
session (per source and in all; each is closed when the log-in window ends without
one), terminal sessions in all (and of those, the places guests may take), file
connections per session.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import asyncssh
from asyncssh.stream import SSHServerStreamSession

from core.audit import Action
from core.config import Settings
from core.i18n import _
from core.policy import DEFAULT_POLICY, Policy
from tui.ssh.files import LOGIN_PREFIX, AreaSFTPServer, FileAreas, SessionArea
from tui.ssh.keys import forget_public_route, load_or_create_host_key, record_public_route
from tui.ssh.keys import staff_keys as registered_staff_keys
from tui.ssh.session import PtySession

if TYPE_CHECKING:
    from core.context import Context

log = logging.getLogger(__name__)

GUEST = "guest"
STAFF = "staff"
FILES = "files"


def source_of(address: str) -> str:
    """What the limits count as one source: an IPv4 address, or an IPv6 /64 (one
    subscriber's network: counting single IPv6 addresses would give every home 2^64)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass
class Hub:
    """What all connections of one server share."""

    home: Path
    areas: FileAreas
    public_host: str
    port: int = 0
    policy: Policy = DEFAULT_POLICY
    veilig: Sequence[str] = (sys.executable, "-m", "tui.cli")
    settings: Settings | None = None  # default: the SQLite database in ``home``
    # Whether ``public_host`` is the name people type (``--public-host``): then the
    # server records its route, and the e-mails of every veilig process on this home
    # name ``ssh -p PORT guest@HOST`` (tui/ssh/keys.py, record_public_route).
    advertise: bool = False
    per_source: Counter[str] = field(default_factory=Counter)  # every connection
    waiting: Counter[str] = field(default_factory=Counter)  # those without a session yet
    refusing: int = 0  # connections beyond the limits, until they hear why
    sessions: list[PtySession] = field(default_factory=list)
    _ctx: Context | None = None

    def __post_init__(self) -> None:
        if self.settings is None:
            self.settings = Settings.from_env({"VEILIG_HOME": str(self.home)})

    def context(self) -> Context:
        """The core, for the staff key checks and the audit log (opened once, in a thread)."""
        if self._ctx is None:
            from tui.factory import make_context

            assert self.settings is not None
            self._ctx = make_context(self.settings, policy=self.policy)
        return self._ctx

    def staff_account_exists(self, email: str) -> bool:
        with self.context().repo.transaction() as tx:
            found = tx.staff_by_email(email)
            # A removed member's row stays (the audit log names them): not an account.
            return found is not None and found.removed_at is None

    def audit(self, actor: str, action: Action, detail: str) -> None:
        ctx = self.context()
        with ctx.repo.transaction() as tx:
            ctx.audit.append(tx, actor, action, detail=detail)


class VeiligSSHServer(asyncssh.SSHServer):
    """One per connection: decides who this is and what they may open."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.conn: asyncssh.SSHServerConnection | None = None
        self.address = ""
        self.source = ""  # counted in hub.per_source while set
        self.role = ""  # guest, staff or files
        self.staff_email = ""
        self.staff_key = ""  # the fingerprint of the key that named the account
        self.area: SessionArea | None = None
        self.terminals = 0
        self.deadline: asyncio.TimerHandle | None = None  # set while counted as waiting
        self.refusal = ""  # why this connection is refused, said when it asks to log in

    # --- the connection ------------------------------------------------------------

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.address = str((conn.get_extra_info("peername") or ("?",))[0])
        source, policy, hub = source_of(self.address), self.hub.policy, self.hub
        if hub.per_source[source] >= policy.ssh_connections_per_address:
            self.refuse(_("too many connections from your address; try again later"))
        elif (
            hub.waiting[source] >= policy.ssh_waiting_per_address
            or hub.waiting.total() >= policy.ssh_waiting_total
        ):
            self.refuse(_("too many connections at once; try again in a minute"))
        else:
            self.source = source
            hub.per_source[source] += 1
            self.wait_for_a_session()

    def refuse(self, reason: str) -> None:
        """Refuse this connection with a reason the client shows, once it asks to log in.
        A disconnect before the key exchange reaches OpenSSH as "banner line contains
        invalid characters" or a broken pipe; at the log-in, while the client waits for
        an answer, OpenSSH prints the reason. Connections being refused are capped too
        (a flood beyond that is cut off at once, without words)."""
        log.warning("ssh: refused %s: %s", self.address, reason)
        assert self.conn is not None
        if self.hub.refusing >= self.hub.policy.ssh_waiting_total:
            self.conn.abort()
            return
        self.refusal = reason
        self.hub.refusing += 1

    def wait_for_a_session(self) -> None:
        """Count this connection as waiting, and close it if it opens no session within
        the log-in window: authenticating is instant for guests (``ssh -N guest@…``)."""
        if self.deadline is not None or not self.source:
            return
        self.hub.waiting[self.source] += 1
        self.deadline = asyncio.get_running_loop().call_later(
            self.hub.policy.ssh_login_timeout.total_seconds(), self._no_session_in_time
        )

    def session_opened(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
            self._count_down(self.hub.waiting)

    def _no_session_in_time(self) -> None:
        self.deadline = None
        self._count_down(self.hub.waiting)
        log.info("ssh: %s opened no session in time: closed", self.address)
        if self.conn is not None:
            seconds = int(self.hub.policy.ssh_login_timeout.total_seconds())
            self.conn.disconnect(
                asyncssh.DISC_BY_APPLICATION,
                _("no session was opened within {n} seconds").format(n=seconds),
            )

    def _count_down(self, counter: Counter[str]) -> None:
        counter[self.source] -= 1
        if counter[self.source] <= 0:
            del counter[self.source]

    def session_ended(self) -> None:
        """The terminal is gone; the connection may not open another. Counted as waiting
        again, it is closed at the end of the window if the client does not go."""
        self.wait_for_a_session()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.refusal:
            self.hub.refusing -= 1
            self.refusal = ""
        self.session_opened()  # no longer waiting
        if self.source:
            self._count_down(self.hub.per_source)
            self.source = ""
        if self.area is not None and self.conn in self.area.connections:
            self.area.connections.remove(self.conn)

    # --- authentication --------------------------------------------------------------

    def begin_auth(self, username: str) -> bool:
        if self.refusal and self.conn is not None:
            self.conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS, self.refusal)
            return True
        if username.casefold() == GUEST:  # people type Guest, or their phone does
            self.role = GUEST
            return False  # no authentication: anyone may write to us
        if username.startswith(LOGIN_PREFIX):
            area = self.hub.areas.find(username)
            limit = self.hub.policy.ssh_file_connections_per_session
            if area is not None and self.conn is not None and len(area.connections) < limit:
                self.role, self.area = FILES, area
                area.connections.append(self.conn)  # closed when the session ends
                return False  # the 160-bit login is the secret
        self.role = STAFF
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        self.staff_email = self.staff_key = ""
        if self.role != STAFF:
            return False
        fingerprint = str(key.get_fingerprint("sha256"))
        email = registered_staff_keys(self.hub.home).get(fingerprint)
        if email is None:
            log.info("ssh: unknown key %s from %s", fingerprint, self.address)
            return False
        if not await asyncio.to_thread(self.hub.staff_account_exists, email):
            # Registered once, but the account is gone: the key opens nothing.
            log.warning(
                "ssh: key %s of %s refused from %s: no such staff member",
                fingerprint,
                email,
                self.address,
            )
            await asyncio.to_thread(
                self.hub.audit, f"staff:{email}", Action.SSH_KEY_REFUSED, fingerprint
            )
            return False
        self.staff_email, self.staff_key = email, fingerprint
        return True

    async def auth_completed(self) -> None:
        if self.role == STAFF and self.staff_email:
            log.info(
                "ssh: staff key %s signs in as %s from %s",
                self.staff_key,
                self.staff_email,
                self.address,
            )
            await asyncio.to_thread(
                self.hub.audit, f"staff:{self.staff_email}", Action.SSH_KEY_ACCEPTED, self.staff_key
            )

    # --- what may be opened -----------------------------------------------------------

    def session_requested(self) -> asyncssh.SSHServerSession[bytes] | bool:
        if self.role == FILES and self.area is not None:
            area = self.area
            if area not in self.hub.areas.areas:
                return False  # its session has ended
            self.session_opened()
            return SSHServerStreamSession(None, lambda chan: AreaSFTPServer(chan, area), 3, True)
        if self.role not in (GUEST, STAFF) or self.terminals:
            return False  # one terminal (one process) per connection
        if self.role == STAFF and not self.staff_email:
            return False
        self.terminals += 1
        self.session_opened()
        if self.role == GUEST:
            args, who = [GUEST], GUEST
        else:
            args, who = ["desk", "--email", self.staff_email], f"{STAFF} {self.staff_email}"
        return PtySession(self.hub, args, who=who, address=self.address, ended=self.session_ended)

    def connection_requested(self, *args: object) -> bool:
        return False

    def server_requested(self, *args: object) -> bool:
        return False

    def unix_connection_requested(self, *args: object) -> bool:
        return False

    def unix_server_requested(self, *args: object) -> bool:
        return False


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
    if hub.advertise:
        record_public_route(hub.home, hub.public_host, hub.port)
    return server


async def stop_server(hub: Hub, server: asyncssh.SSHAcceptor) -> None:
    if hub.advertise:
        forget_public_route(hub.home, hub.public_host, hub.port)
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
