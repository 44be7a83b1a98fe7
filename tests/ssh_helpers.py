"""What the tests of ``veilig serve ssh`` share: a real server on 127.0.0.1, real SSH
clients (asyncssh, and OpenSSH's own ``ssh``/``scp``), a terminal emulator that reads
the screen, and a second staff member made as ``veilig staff add`` will make one."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import json
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncssh
import pyotp
import pyte
import pytest

from core.policy import Policy
from core.setup import InitResult
from tests.conftest import maildir_of

WIDTH, HEIGHT = 100, 32
TIMEOUT = 30.0  # the whole Python/Textual start-up of a process on a busy machine
ENTER, CTRL_S, CTRL_D, CTRL_N, CTRL_O, CTRL_Q = b"\r", b"\x13", b"\x04", b"\x0e", b"\x0f", b"\x11"
TAB, SHIFT_TAB, ESCAPE = b"\t", b"\x1b[Z", b"\x1b"
OPENSSH = shutil.which("ssh")
SCP = shutil.which("scp")


class Screen:
    """What a terminal shows, kept by a VT emulator (pyte), and waiting for text on it."""

    def __init__(self, width: int = WIDTH, height: int = HEIGHT) -> None:
        self.screen = pyte.Screen(width, height)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()

    def feed(self, data: bytes) -> None:
        self.raw += data
        self.stream.feed(data)

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def flat(self) -> str:
        """The screen as running text: bubble edges and line wraps gone, so that a
        command the dialog wraps over two lines is found whole."""
        text = self.text().translate({ord(c): " " for c in "▊▎▔▁"})
        return " ".join(text.split())

    async def wait_for(self, text: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.text():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the screen:\n{self.text()}")
            await asyncio.sleep(0.05)

    async def wait_gone(self, text: str, timeout: float = TIMEOUT) -> None:
        """Until ``text`` has left the screen (a dialog closed), so that the next keys
        go to what is under it, not to a bare Escape still being read as a sequence."""
        deadline = time.monotonic() + timeout
        while text in self.text():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never went; the screen:\n{self.text()}")
            await asyncio.sleep(0.05)

    async def wait_for_flat(self, text: str, timeout: float = TIMEOUT) -> None:
        wanted = " ".join(text.split())
        deadline = time.monotonic() + timeout
        while wanted not in self.flat():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the screen:\n{self.text()}")
            await asyncio.sleep(0.05)


class Terminal(Screen, asyncssh.SSHClientSession[bytes]):
    """The client's terminal of an asyncssh session."""

    def __init__(self) -> None:
        super().__init__()
        self.chan: asyncssh.SSHClientChannel[bytes] | None = None
        self.closed = asyncio.Event()

    def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:  # type: ignore[override]
        self.chan = chan

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()

    async def type(self, text: str, *, enter: bool = False) -> None:
        assert self.chan is not None
        self.chan.write(text.encode() + (b"\r" if enter else b""))
        await asyncio.sleep(0.05)  # let the app take the keys one burst at a time

    async def key(self, raw: bytes) -> None:
        assert self.chan is not None
        self.chan.write(raw)
        await asyncio.sleep(0.05)

    def burst(self, raw: bytes) -> None:
        """Bytes in one write, as a fast typist's or a password manager's arrive."""
        assert self.chan is not None
        self.chan.write(raw)


class PtyProgram(Screen):
    """A program (OpenSSH's ssh) in a terminal of its own, as a person runs it."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        import fcntl
        import pty
        import struct
        import subprocess
        import termios

        super().__init__()
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", HEIGHT, WIDTH, 0, 0))
        try:
            self.process = subprocess.Popen(
                argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
            )
        finally:
            os.close(slave)
        self.master = master
        self.ended = asyncio.Event()
        os.set_blocking(master, False)
        asyncio.get_running_loop().add_reader(master, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: the program has gone
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
            self.ended.set()
            return
        self.feed(data)

    async def type(self, text: str, *, enter: bool = False) -> None:
        os.write(self.master, text.encode() + (b"\r" if enter else b""))
        await asyncio.sleep(0.05)  # let the app take the keys one burst at a time

    async def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        await asyncio.wait_for(self.ended.wait(), TIMEOUT)
        self.process.wait()
        os.close(self.master)


async def until(condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("VEILIG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LANG", "C.UTF-8")  # English screens; mail in Maildir, SMS in a file


@pytest.fixture
async def server(
    initialised: tuple[Path, InitResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator:
    """A real server on 127.0.0.1, any free port, areas under tmp_path."""
    from tui.ssh.files import FileAreas
    from tui.ssh.server import Hub, start_server, stop_server

    home, _result = initialised
    clean_environment(monkeypatch)
    hub = Hub(home=home, areas=FileAreas(tmp_path / "areas"), public_host="127.0.0.1")
    acceptor = await start_server(hub, "127.0.0.1", 0)
    yield hub
    await stop_server(hub, acceptor)


class HubStarter:
    """Starts servers with a policy (and options) of the test's own; ``stop`` one early,
    the rest stop at the end of the test."""

    def __init__(self, home: Path, areas_root: Path) -> None:
        self.home = home
        self.areas_root = areas_root
        self.running: dict[int, tuple[object, asyncssh.SSHAcceptor]] = {}

    async def __call__(self, policy: Policy, **options: object):
        from tui.ssh.files import FileAreas
        from tui.ssh.server import Hub, start_server

        options.setdefault("public_host", "127.0.0.1")
        options.setdefault("areas", FileAreas(self.areas_root))
        hub = Hub(home=self.home, policy=policy, **options)  # type: ignore[arg-type]
        self.running[id(hub)] = (hub, await start_server(hub, "127.0.0.1", 0))
        return hub

    async def stop(self, hub: object) -> None:
        from tui.ssh.server import stop_server

        hub, acceptor = self.running.pop(id(hub))
        await stop_server(hub, acceptor)  # type: ignore[arg-type]


@pytest.fixture
async def start_hub(
    initialised: tuple[Path, InitResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[HubStarter]:
    clean_environment(monkeypatch)
    starter = HubStarter(initialised[0], tmp_path / "areas")
    yield starter
    for hub in [hub for hub, _acceptor in starter.running.values()]:
        await starter.stop(hub)


async def connect(
    hub, username: str = "guest", source: str | None = None, **options: object
) -> asyncssh.SSHClientConnection:
    """An asyncssh client; ``source`` picks the client's address (any of 127.0.0.0/8 on
    Linux), so that one test can be several sources."""
    options.setdefault("client_keys", None)
    if source is not None:
        options["local_addr"] = (source, 0)
    return await asyncssh.connect(
        "127.0.0.1",
        hub.port,
        username=username,
        known_hosts=None,
        agent_path=None,
        **options,
    )


async def terminal(conn: asyncssh.SSHClientConnection, **options: object) -> Terminal:
    _chan, term = await conn.create_session(
        Terminal, term_type="xterm-256color", term_size=(WIDTH, HEIGHT), encoding=None, **options
    )
    return term


def openssh_options(port: int, *, port_flag: str = "-p", log_level: str = "ERROR") -> list[str]:
    """OpenSSH's client as a practitioner runs it, without prompts or a known_hosts file
    (``port_flag="-P"`` for scp and sftp; ``log_level="INFO"`` shows why it was
    disconnected, as a person sees it)."""
    return [
        port_flag,
        str(port),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        f"LogLevel={log_level}",
        "-F",
        "/dev/null",
    ]


def maildir_messages(home: Path) -> list[email.message.Message]:
    folder = maildir_of(home) / "new"
    if not folder.exists():
        return []
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.iterdir())]


async def e_mail_to(home: Path, to: str, subject_contains: str = "") -> email.message.Message:
    found: list[email.message.Message] = []

    def arrived() -> bool:
        found[:] = [
            m
            for m in maildir_messages(home)
            if m["To"] == to and subject_contains in str(m["Subject"])
        ]
        return bool(found)

    await until(arrived, f"an e-mail to {to}")
    return found[-1]


async def e_mail_code(home: Path, to: str) -> str:
    from tests.conftest import code_in

    return code_in(await e_mail_to(home, to))


async def sms_code_in_log(home: Path) -> str:
    log = home / "sms.log"
    await until(lambda: log.exists() and log.read_text().strip(), "the SMS")
    body = json.loads(log.read_text().splitlines()[-1])["body"]
    return body[:6]


def add_staff_member(
    home: Path, result: InitResult, email_address: str, password: str, policy: Policy
) -> pyotp.TOTP:
    """A second staff member with their own password and TOTP, given a wrap of the
    mailbox key (opened here with the recovery key): what ``veilig staff add`` will do."""
    from core import labels, two_factor
    from core.keys import MailboxPrivateKey, Password
    from core.models import StaffMember
    from tests.conftest import make_settings
    from tui.factory import make_context

    ctx = make_context(make_settings(home), policy=policy)
    with ctx.repo.transaction() as tx:
        mailbox = tx.mailbox()
        assert mailbox is not None
        private = MailboxPrivateKey(
            result.recovery_key.unwrap(mailbox.recovery_wrap, labels.recovery_wrap(mailbox.id))
        )
        secret = two_factor.new_secret()
        staff = StaffMember(
            mailbox_id=mailbox.id,
            email=email_address,
            key_wrap=b"",
            totp_sealed=b"",
            created_at=ctx.clock(),
        )
        staff.key_wrap = Password(password).wrap(
            private.raw_bytes(),
            labels.staff_key(staff.id, mailbox.id),
            policy.argon2,
            ctx.secret.pepper(),
        )
        staff.totp_sealed = two_factor.seal_secret(ctx.secret, secret, staff.id)
        tx.add(staff)
    return pyotp.TOTP(secret)


def with_policy(policy: Policy, **changes: object) -> Policy:
    return dataclasses.replace(policy, **changes)
