"""``veilig serve ssh``: a real server on 127.0.0.1, real SSH clients with a PTY, the
real ``veilig`` processes behind them; the screen is read with a terminal emulator."""

from __future__ import annotations

import asyncio
import email
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pyotp
import pyte
import pytest

from core.attachments import Attachment
from core.contact import Contact
from core.models import Method
from core.policy import Policy
from core.sealing import Draft
from core.setup import InitResult
from tests.conftest import (
    STAFF_EMAIL,
    STAFF_PASSWORD,
    maildir_of,
    make_settings,
    only_message,
    staff_desk,
)
from tui.factory import make_context
from tui.ssh.files import FileAreas
from tui.ssh.keys import add_staff_key
from tui.ssh.server import Hub, start_server, stop_server

pytestmark = pytest.mark.slow  # a real SSH server and clients

WIDTH, HEIGHT = 100, 32
TIMEOUT = 30.0  # the whole Python/Textual start-up of a process on a busy machine


class Terminal(asyncssh.SSHClientSession[bytes]):
    """The client's terminal: what the app draws goes into a VT emulator (pyte)."""

    def __init__(self) -> None:
        self.screen = pyte.Screen(WIDTH, HEIGHT)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        self.chan: asyncssh.SSHClientChannel[bytes] | None = None
        self.closed = asyncio.Event()

    def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:  # type: ignore[override]
        self.chan = chan

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self.raw += data
        self.stream.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    async def wait_for(self, text: str, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.text():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the screen:\n{self.text()}")
            await asyncio.sleep(0.05)

    async def type(self, text: str, *, enter: bool = False) -> None:
        assert self.chan is not None
        self.chan.write(text.encode() + (b"\r" if enter else b""))
        await asyncio.sleep(0.05)  # let the app take the keys one burst at a time

    async def key(self, raw: bytes) -> None:
        assert self.chan is not None
        self.chan.write(raw)
        await asyncio.sleep(0.05)


ENTER, CTRL_S, CTRL_D = b"\r", b"\x13", b"\x04"


async def until(condition, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def server(
    initialised: tuple[Path, InitResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Hub]:
    home, _result = initialised
    for name in list(os.environ):
        if name.startswith("VEILIG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LANG", "C.UTF-8")  # English screens; mail in Maildir, SMS in a file
    hub = Hub(home=home, areas=FileAreas(tmp_path / "areas"), public_host="127.0.0.1")
    acceptor = await start_server(hub, "127.0.0.1", 0)
    yield hub
    await stop_server(hub, acceptor)


async def connect(hub: Hub, username: str = "guest", **options) -> asyncssh.SSHClientConnection:
    options.setdefault("client_keys", None)
    return await asyncssh.connect(
        "127.0.0.1",
        hub.port,
        username=username,
        known_hosts=None,
        agent_path=None,
        **options,
    )


async def terminal(conn: asyncssh.SSHClientConnection) -> Terminal:
    _chan, term = await conn.create_session(
        Terminal, term_type="xterm-256color", term_size=(WIDTH, HEIGHT), encoding=None
    )
    return term


def maildir_messages(home: Path) -> list[email.message.Message]:
    folder = maildir_of(home) / "new"
    if not folder.exists():
        return []
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.iterdir())]


async def e_mail_code(home: Path, to: str) -> str:
    from tests.conftest import code_in

    found: list[str] = []

    def arrived() -> bool:
        found[:] = [code_in(m) for m in maildir_messages(home) if m["To"] == to]
        return bool(found)

    await until(arrived, f"the code e-mail to {to}")
    return found[-1]


async def sms_code_in_log(home: Path) -> str:
    log = home / "sms.log"
    await until(lambda: log.exists() and log.read_text().strip(), "the SMS")
    body = json.loads(log.read_text().splitlines()[-1])["body"]
    return body[:6]


# --- flow 1 and flow 2 over SSH -----------------------------------------------------------


async def test_flow1_guest_writes_with_a_file_uploaded_from_the_client(
    server: Hub, tmp_path: Path, policy: Policy, totp: pyotp.TOTP
) -> None:
    original = os.urandom(150_000)
    conn = await connect(server)
    term = await terminal(conn)
    await term.wait_for("What would you like to do?")
    await term.type("1")
    await term.wait_for("What is your name?")
    await term.type("Karin Jansen", enter=True)
    await term.wait_for("What is your e-mail address?")
    await term.type("karin@example.nl", enter=True)
    code = await e_mail_code(server.home, "karin@example.nl")
    await term.type(code, enter=True)
    await term.wait_for("What is the subject")
    await term.type("Verslag", enter=True)
    await term.wait_for("Write your message")
    await term.type("Zie bijlage.")
    await term.key(CTRL_S)
    await term.wait_for(f"scp -P {server.port} FILE f-")

    # The practitioner's own machine: the file goes up with the session's login.
    [area] = server.areas.areas
    assert area.login in term.text().replace("\n", "")
    async with (
        await connect(server, area.login) as files,
        files.start_sftp_client() as sftp,
    ):
        local = tmp_path / "verslag.pdf"
        local.write_bytes(original)
        await sftp.put(str(local), "upload/verslag.pdf")

    await term.type("verslag.pdf", enter=True)
    await term.wait_for("verslag.pdf  (")
    await term.key(ENTER)  # no more files
    await term.wait_for("Ready to send")
    await term.key(ENTER)
    await term.wait_for("arrived at DeclaCare in good order")
    conn.close()

    ctx = make_context(make_settings(server.home), policy=policy)
    opened, key = only_message(staff_desk(ctx, totp))
    assert [a.name for a in opened.attachments] == ["verslag.pdf"]
    saved = ctx.save_attachment("test", opened, key, 0, tmp_path)
    assert saved.read_bytes() == original


async def test_flow2_recipient_saves_the_attachment_and_downloads_it_to_the_client(
    server: Hub, tmp_path: Path, policy: Policy, totp: pyotp.TOTP
) -> None:
    from tests.conftest import reference_in

    original = os.urandom(120_000)
    scan = tmp_path / "uitslag.pdf"
    scan.write_bytes(original)
    ctx = make_context(make_settings(server.home), policy=policy)
    staff_desk(ctx, totp).send_new(
        Contact(email="praktijk@fysio-jansen.nl", phone="06 12345127", name="Fysio Jansen"),
        Method.SMS,
        Draft("Uitslag", "Zie bijlage.", (Attachment.from_path(scan, policy),)),
    )
    await ctx.outbox.deliver_due()
    [notice] = [m for m in maildir_messages(server.home) if m["To"] == "praktijk@fysio-jansen.nl"]
    reference = reference_in(notice)

    conn = await connect(server)
    term = await terminal(conn)
    await term.wait_for("What would you like to do?")
    await term.type("2")
    await term.wait_for("Please paste the reference")
    await term.type(reference, enter=True)
    await term.wait_for("Is that your number?")
    await term.key(ENTER)
    await term.wait_for("The code is on its way")
    await term.type(await sms_code_in_log(server.home), enter=True)
    await term.wait_for("Unlocked.")
    await term.wait_for("uitslag.pdf")
    await term.key(CTRL_D)
    await term.wait_for("In which folder")
    await term.key(ENTER)  # the session's download folder, already filled in
    await term.wait_for("Saved:")
    await term.wait_for(f"scp -P {server.port}")

    [area] = server.areas.areas
    async with (
        await connect(server, area.login) as files,
        files.start_sftp_client() as sftp,
    ):
        assert await sftp.listdir("download") == [".", "..", "uitslag.pdf"] or sorted(
            await sftp.listdir("download")
        ) == ["uitslag.pdf"]
        await sftp.get("download/uitslag.pdf", str(tmp_path / "thuis.pdf"))
    assert (tmp_path / "thuis.pdf").read_bytes() == original
    conn.close()


# --- the terminal and the process ---------------------------------------------------------


async def test_a_window_change_reaches_the_app(server: Hub) -> None:
    conn = await connect(server)
    term = await terminal(conn)
    await term.wait_for("What would you like to do?")

    def label_column() -> int:
        for line in term.screen.display:
            if "1  Write a secure message" in line:
                return line.index("1  Write")
        return -1

    await term.wait_for("1  Write a secure message")
    wide = label_column()
    assert wide > 25  # centred in a button 96 columns wide
    # A fresh screen of the new size: only a redraw by the app can fill it.
    term.screen = pyte.Screen(60, 20)
    term.stream = pyte.ByteStream(term.screen)
    assert term.chan is not None
    term.chan.change_terminal_size(60, 20)
    await until(lambda: 0 <= label_column() < wide, "the app to redraw at 60 columns")
    conn.close()


async def test_a_dropped_client_ends_its_process_and_its_file_area(server: Hub) -> None:
    conn = await connect(server)
    term = await terminal(conn)
    await term.wait_for("What would you like to do?")
    [session] = server.sessions
    [area] = server.areas.areas
    assert session.process is not None
    pid = session.process.pid
    files = await connect(server, area.login)  # a file transfer still open
    conn.abort()  # the network goes, no goodbye

    await until(lambda: session.process.poll() is not None, "the process to end")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    await until(lambda: not server.sessions, "the session to be cleaned up")
    assert not area.root.exists()
    await asyncio.wait_for(files.wait_closed(), TIMEOUT)  # closed by the server
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(server, area.login)  # the file login died with the session


async def test_connections_per_address_are_limited(server: Hub) -> None:
    import dataclasses

    server.policy = dataclasses.replace(server.policy, ssh_connections_per_address=2)
    first, second = await connect(server), await connect(server)
    with pytest.raises((asyncssh.DisconnectError, ConnectionError)):
        await connect(server)
    first.close()
    await first.wait_closed()
    await until(lambda: server.per_address["127.0.0.1"] == 1, "the count to drop")
    third = await connect(server)  # a place is free again
    second.close()
    third.close()


async def test_a_session_without_a_pty_is_refused_with_one_line(server: Hub) -> None:
    async with await connect(server) as conn:
        result = await conn.run(term_type=None)
        assert result.exit_status == 2
        assert result.stdout.strip() == (
            "veilig needs a terminal: connect with ssh -t (or without a command)."
        )
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.run("cat /etc/passwd", term_type="xterm")
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.open_connection("127.0.0.1", 22)  # no port forwarding
        with pytest.raises(asyncssh.ChannelListenError):
            await conn.start_server(lambda *a: None, "127.0.0.1", 0)  # nor remote
    assert not server.sessions and not server.areas.areas


async def test_one_session_cannot_reach_another_sessions_files(server: Hub) -> None:
    a_conn, b_conn = await connect(server), await connect(server)
    a_term, b_term = await terminal(a_conn), await terminal(b_conn)
    await a_term.wait_for("What would you like to do?")
    await b_term.wait_for("What would you like to do?")
    area_a, area_b = server.areas.areas
    (area_b.root / "upload" / "geheim.pdf").write_bytes(b"B's medical file")
    (area_a.root / "upload" / "mine.pdf").write_bytes(b"A's file")

    async with await connect(server, area_a.login) as files, files.start_sftp_client() as sftp:
        assert sorted(await sftp.listdir("/")) == [".", "..", "download", "upload"]
        assert sorted(await sftp.listdir("/..")) == [".", "..", "download", "upload"]
        assert await sftp.realpath("../../..") == "/"
        for path in (
            f"../{area_b.root.name}/upload/geheim.pdf",
            f"/../{area_b.root.name}/upload/geheim.pdf",
            str(area_b.root / "upload" / "geheim.pdf"),
        ):
            with pytest.raises(asyncssh.SFTPNoSuchFile):
                await sftp.stat(path)
        with pytest.raises(asyncssh.SFTPPermissionDenied):
            await sftp.symlink(str(area_b.root), "upload/b")
        with pytest.raises(asyncssh.SFTPError):
            await sftp.link("upload/mine.pdf", "upload/hard.pdf")
    # A made-up login of the right shape opens nothing.
    forged = "f-" + "a" * 32
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(server, forged)
    a_conn.close()
    b_conn.close()


# --- staff -----------------------------------------------------------------------------


async def test_staff_sign_in_by_key_and_the_desk_still_asks_password_and_totp(
    server: Hub, totp: pyotp.TOTP
) -> None:
    staff_key = asyncssh.generate_private_key("ssh-ed25519")
    other_key = asyncssh.generate_private_key("ssh-ed25519")
    add_staff_key(server.home, STAFF_EMAIL, staff_key.export_public_key().decode())

    with pytest.raises(asyncssh.PermissionDenied):  # a key nobody registered
        await connect(server, "desk", client_keys=[other_key])
    with pytest.raises(asyncssh.PermissionDenied):  # no key at all
        await connect(server, "desk")

    # The user name the client claims does not matter; the key names the account.
    conn = await connect(server, "whoever", client_keys=[staff_key])
    term = await terminal(conn)
    await term.wait_for("Code from your authenticator app")
    await term.wait_for(STAFF_EMAIL)  # filled in from the key; the password is not
    await term.type(STAFF_PASSWORD, enter=True)
    await term.wait_for("•" * len(STAFF_PASSWORD) + " ")
    await term.type("000000", enter=True)
    await term.wait_for("E-mail, password or code is not right")
    await term.type(totp.now(), enter=True)
    await term.wait_for(f"Inbox · {STAFF_EMAIL}")
    conn.close()


# --- the file area inside the app, and the commands ----------------------------------------


def test_inside_a_session_files_come_only_from_upload_and_go_only_to_download(
    tmp_path: Path, policy: Policy
) -> None:
    from core.context import Context
    from core.errors import InvalidInput
    from core.transfer import TransferArea

    area = TransferArea(root=tmp_path / "s-1", login="f-x@host", port=2222)
    area.upload.mkdir(parents=True)
    area.download.mkdir()
    other = tmp_path / "s-2" / "upload"
    other.mkdir(parents=True)
    (other / "geheim.pdf").write_bytes(b"someone else's")
    (area.upload / "mine.pdf").write_bytes(b"mine")
    (area.upload / "link.pdf").symlink_to(other / "geheim.pdf")

    ctx = Context(repo=None, blobs=None, secret=None, email=None, sms=None, policy=policy)  # type: ignore[arg-type]
    ctx.transfer = area
    assert ctx.attachment(Path("mine.pdf")).open().read() == b"mine"  # relative to upload/
    for typed in (
        other / "geheim.pdf",
        Path("../../s-2/upload/geheim.pdf"),
        Path("link.pdf"),
        Path("/etc/hostname"),
    ):
        with pytest.raises(InvalidInput, match="upload folder|no file"):
            ctx.attachment(typed)
    with pytest.raises(InvalidInput, match="download folder"):
        area.check_download_folder(other)
    area.check_download_folder(area.root / "upload" / ".." / "download")
    assert area.upload_command() == "scp -P 2222 FILE f-x@host:upload/"
    assert area.download_command() == "scp -P 2222 'f-x@host:download/*' ."


def test_guest_without_a_terminal_says_so(tmp_path: Path) -> None:
    from tests.test_cli import veilig

    result = veilig(tmp_path / "home", "guest")
    assert result.returncode == 2 and "needs a terminal" in result.stderr


def test_staff_add_key_registers_a_fingerprint_for_a_known_staff_member_only(
    initialised: tuple[Path, InitResult], tmp_path: Path
) -> None:
    from tests.test_cli import veilig

    home, _result = initialised
    key = asyncssh.generate_private_key("ssh-ed25519")
    pub = tmp_path / "id_ed25519.pub"
    pub.write_bytes(key.export_public_key())
    unknown = veilig(home, "staff", "add-key", "nobody@declacare.nl", str(pub))
    assert unknown.returncode == 2 and "no staff member" in unknown.stderr
    ok = veilig(home, "staff", "add-key", STAFF_EMAIL.upper(), str(pub))
    assert ok.returncode == 0, ok.stderr
    fingerprint = str(key.get_fingerprint("sha256"))
    assert fingerprint in ok.stdout
    assert (home / "ssh" / "staff_keys").read_text() == f"{fingerprint} {STAFF_EMAIL}\n"
    assert oct((home / "ssh" / "staff_keys").stat().st_mode & 0o777) == "0o600"
    not_a_key = veilig(home, "staff", "add-key", STAFF_EMAIL, str(home / "veilig.db"))
    assert not_a_key.returncode == 2


def test_a_new_server_deletes_areas_a_killed_one_left_and_refuses_a_planted_root(
    tmp_path: Path,
) -> None:
    from core.errors import VeiligError

    root = tmp_path / "areas"
    first = FileAreas(root)
    left = first.create()
    (left.root / "upload" / "verslag.pdf").write_bytes(b"medical")
    FileAreas(root)  # the first server was killed: the next start cleans up
    assert not left.root.exists()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    planted = tmp_path / "planted"
    planted.symlink_to(elsewhere)
    with pytest.raises(VeiligError, match="not a private folder"):
        FileAreas(planted)
