"""The README's recipe for OpenSSH's sshd ("OpenSSH instead"), run against a real sshd
from Debian's openssh-server on a loopback port, with a config and host key of its own.

The four steps are read from the README itself, so that the recipe cannot drift from
what is tested. What the test changes is only where things live: the port, the host
key, the names of the two users (test names, made and removed here), /srv/veilig (a
folder of the test) and /opt/veilig/bin/veilig (a launcher of this checkout that any
user may run).

Unprivileged where that is possible: without root, sshd runs as the current user, who
plays the staff user ``veilig`` (keys, the forced desk, no forwarding). The guest's
half needs root: a second system user, sudo, and sshd checking an empty password.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pyotp
import pytest

from tests.conftest import STAFF_EMAIL, STAFF_PASSWORD, free_port
from tests.ssh_helpers import OPENSSH, TIMEOUT, PtyProgram, openssh_options

pytestmark = pytest.mark.slow  # a real sshd and clients

ROOT = Path(__file__).resolve().parents[1]
SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
ROOT_USER = os.geteuid() == 0

needs_sshd = pytest.mark.skipif(
    SSHD is None or OPENSSH is None,
    reason="sshd or ssh is not installed (Debian: openssh-server; .ci/run installs it)",
)
needs_root = pytest.mark.skipif(
    not ROOT_USER,
    reason="the guest's half needs root: a second system user, sudo and sshd's password check",
)


def recipe() -> list[str]:
    """The four code blocks of the README's "OpenSSH instead", in order: the users, the
    sudoers file, the staff keys' line, the sshd_config lines."""
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("### OpenSSH instead", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```[a-z]*\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 4, "the recipe is four blocks: users, sudoers, keys, sshd_config"
    return blocks


@dataclass
class Arrangement:
    base: Path  # everything of the test: launcher, home, sshd's files
    home: Path  # /srv/veilig
    launcher: Path  # /opt/veilig/bin/veilig
    veilig: str  # the user that owns the home
    guest: str | None  # the user guests log in as (None without root)
    totp: pyotp.TOTP | None = None

    def adapt(self, text: str) -> str:
        """A block of the recipe with this arrangement's names and places."""
        text = text.replace("/opt/veilig/bin/veilig", str(self.launcher))
        text = text.replace("/srv/veilig", str(self.home))
        names = {"veilig": self.veilig, "guest": self.guest or "nobody-here"}
        for pattern in (
            r"(?m)(Match User )(veilig|guest)$",
            r"(-u )(veilig|guest)\b",
            r"(Defaults:)(veilig|guest)\b",
            r"(?m)^()(guest|veilig)(?= ALL=)",
            r"(ALL=\()(veilig|guest)(?=\))",
            r"(?m)^(useradd .* )(veilig|guest)$",
            r"(?m)^(passwd -d )(veilig|guest)$",
        ):
            text = re.sub(pattern, lambda m: m.group(1) + names[m.group(2)], text)
        return text

    def run_as_root(self, line: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            line, shell=True, check=True, text=True, capture_output=True, **kwargs
        )


def launcher_for_every_user(base: Path) -> Path:
    """/opt/veilig/bin/veilig for this checkout: the system's python3 (of the venv's
    version) with this checkout and the venv's packages, which any user may read; the
    venv's own interpreter may sit in root's home."""
    system_python = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system_python.exists():
        pytest.skip(f"{system_python} is missing: the recipe's users could not run veilig")
    site = sysconfig.get_paths()["purelib"]
    for needed in (ROOT, Path(site)):
        closed = next((f for f in (needed, *needed.parents) if not f.stat().st_mode & 0o001), None)
        if closed is not None:  # e.g. a checkout in `mktemp -d` (0700) or in root's home
            pytest.skip(
                f"{closed} is closed to other users (mode {closed.stat().st_mode & 0o777:o}): "
                "the recipe's users could not run this checkout; clone it where they can"
            )
    launcher = base / "bin" / "veilig"
    launcher.parent.mkdir()
    launcher.write_text(
        f'#!/bin/sh\nPYTHONPATH={ROOT}:{site} exec {system_python} -m tui.cli "$@"\n'
    )
    launcher.chmod(0o755)
    return launcher


def remove_user(user: str) -> None:
    """userdel, once the user's last session (sshd's, the app's) has ended."""
    deadline = time.monotonic() + TIMEOUT
    while subprocess.run(["userdel", user], capture_output=True).returncode == 8:  # in use
        assert time.monotonic() < deadline, f"{user} still has processes"
        time.sleep(0.1)


def totp_of(init_output: str) -> pyotp.TOTP:
    match = re.search(r"secret=([A-Z2-7]+)", init_output)
    assert match, init_output
    return pyotp.TOTP(match.group(1))


@pytest.fixture
def umask_of_a_shell() -> Iterator[None]:
    """`veilig` sets the process's umask to 077 (tests/test_cli.py and others call its
    main() in this process); the folders made here must be walkable by the test users,
    as an admin's shell (umask 022) makes them."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def arrangement(umask_of_a_shell: None) -> Iterator[Arrangement]:
    """The recipe's steps 1 and 2 (users, sudoers): as root with test users made from
    the README's own lines; without root, the current user as ``veilig``."""
    if ROOT_USER and not (shutil.which("useradd") and shutil.which("sudo")):
        pytest.skip("the recipe's useradd or sudo is not on PATH (Debian: passwd, sudo)")
    base = Path(tempfile.mkdtemp(prefix="veilig-sshd-"))
    base.chmod(0o755)  # the test users walk through it
    home = base / "home"
    users_block, sudoers_block = recipe()[:2]
    sudoers_file = None
    if not ROOT_USER:
        home.mkdir(mode=0o700)
        made = Arrangement(
            base, home, Path(sys.executable).with_name("veilig"), getpass.getuser(), None
        )
        init = subprocess.run(
            [
                str(made.launcher),
                "init",
                "--org",
                "DeclaCare",
                "--mailbox",
                "info@declacare.nl",
                "--staff",
                STAFF_EMAIL,
            ],
            input=STAFF_PASSWORD + "\n",
            text=True,
            capture_output=True,
            check=True,
            env={**os.environ, "VEILIG_HOME": str(home)},
        )
        made.totp = totp_of(init.stdout)
        try:
            yield made
        finally:
            shutil.rmtree(base, ignore_errors=True)
        return

    tag = f"{secrets.randbelow(10**6):06d}"
    made = Arrangement(base, home, launcher_for_every_user(base), f"vt{tag}v", f"vt{tag}g")
    created: list[str] = []
    try:
        for line in made.adapt(users_block).splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("useradd"):
                created.append(line.split()[-1])
            if " init " in line:  # step 1 ends with the set-up, as the user veilig
                made.totp = totp_of(made.run_as_root(line, input=STAFF_PASSWORD + "\n").stdout)
            else:
                made.run_as_root(line)
        assert created == [made.veilig, made.guest], created
        sudoers = base / "sudoers"
        sudoers.write_text(made.adapt(sudoers_block))
        made.run_as_root(f"visudo -cf {sudoers}")  # a broken file would break sudo itself
        sudoers_file = Path(f"/etc/sudoers.d/veilig-test-{tag}")
        shutil.copyfile(sudoers, sudoers_file)
        sudoers_file.chmod(0o440)
        yield made
    finally:
        if sudoers_file is not None:
            sudoers_file.unlink(missing_ok=True)
        for user in created:
            remove_user(user)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def sshd(arrangement: Arrangement) -> AsyncIterator[tuple[int, asyncssh.SSHKey]]:
    """Steps 3 and 4 (the staff key's line, sshd_config) on an sshd of the test's own:
    its port, its host key, its pid file. Yields the port and the staff member's key."""
    _users, _sudoers, keys_block, config_block = recipe()
    folder = arrangement.base / "sshd"
    folder.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "host_ed25519")],
        check=True,
    )
    staff_key = asyncssh.generate_private_key("ssh-ed25519")
    line = next(row for row in keys_block.splitlines() if row.startswith("restrict"))
    line = re.sub(r"ssh-ed25519 \S+ desk$", staff_key.export_public_key().decode().strip(), line)
    if ROOT_USER:  # where the recipe puts it: ~veilig/.ssh/authorized_keys
        keys = arrangement.home / ".ssh" / "authorized_keys"
        keys.parent.mkdir(mode=0o700, exist_ok=True)
        keys.write_text(arrangement.adapt(line) + "\n")
        keys.chmod(0o600)
        shutil.chown(keys.parent, arrangement.veilig, arrangement.veilig)
        shutil.chown(keys, arrangement.veilig, arrangement.veilig)
        authorized = ".ssh/authorized_keys"
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation
    else:  # not the user's own ~/.ssh: a file of the test
        keys = folder / "authorized_keys"
        keys.write_text(arrangement.adapt(line) + "\n")
        keys.chmod(0o600)
        authorized = str(keys)
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {folder / 'host_ed25519'}",
                f"PidFile {folder / 'sshd.pid'}",
                f"AuthorizedKeysFile {authorized}",
                f"UsePAM {'yes' if ROOT_USER else 'no'}",  # Debian's default; needs root
                "PermitRootLogin no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "AcceptEnv LANG LC_*",  # in Debian's sshd_config
                "LogLevel VERBOSE",
                arrangement.adapt(config_block),
            ]
        )
    )
    checked = subprocess.run([str(SSHD), "-t", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    server = await asyncio.create_subprocess_exec(
        str(SSHD), "-D", "-e", "-f", str(config), stderr=subprocess.PIPE
    )
    assert server.stderr is not None
    log: list[str] = []
    while "Server listening on 127.0.0.1" not in (log[-1] if log else ""):
        line_read = await asyncio.wait_for(server.stderr.readline(), TIMEOUT)
        assert line_read, "sshd ended:\n" + "".join(log)
        log.append(line_read.decode())
    try:
        yield port, staff_key
    finally:
        server.terminate()
        await server.wait()


def ssh_in_a_terminal(port: int, user: str, *args: str, lang: str = "C.UTF-8") -> PtyProgram:
    assert OPENSSH is not None
    return PtyProgram(
        [OPENSSH, *openssh_options(port), "-tt", "-o", "SendEnv=LANG", *args, f"{user}@127.0.0.1"],
        env={"PATH": os.environ["PATH"], "LANG": lang, "TERM": "xterm-256color"},
    )


async def asyncssh_as(port: int, user: str, **options: object) -> asyncssh.SSHClientConnection:
    options.setdefault("client_keys", None)
    return await asyncssh.connect(
        "127.0.0.1", port, username=user, known_hosts=None, agent_path=None, **options
    )


@dataclass
class Listening:
    """A TCP port and a Unix socket that accept connections: only sshd's refusal stops
    a forwarding to them."""

    port: int
    socket: Path


async def assert_no_forwarding(conn: asyncssh.SSHClientConnection, targets: Listening) -> None:
    """Every kind: TCP both ways, Unix sockets both ways."""
    with pytest.raises(asyncssh.ChannelOpenError):
        await conn.open_connection("127.0.0.1", targets.port)
    with pytest.raises(asyncssh.ChannelOpenError):
        await conn.open_unix_connection(str(targets.socket))
    with pytest.raises(asyncssh.ChannelListenError):
        await conn.start_server(lambda *a: None, "127.0.0.1", 0)
    with pytest.raises(asyncssh.ChannelListenError):
        await conn.start_unix_server(lambda *a: None, str(targets.socket.with_name("elsewhere")))


@pytest.fixture
async def listening(arrangement: Arrangement) -> AsyncIterator[Listening]:
    path = arrangement.base / "sock"
    unix = await asyncio.start_unix_server(lambda r, w: w.close(), str(path))
    path.chmod(0o777)
    tcp = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    yield Listening(tcp.sockets[0].getsockname()[1], path)
    unix.close()
    tcp.close()


@needs_sshd
async def test_the_recipes_staff_route_forces_the_desk_for_the_keys_account(
    arrangement: Arrangement, sshd: tuple[int, asyncssh.SSHKey], listening: Listening
) -> None:
    port, key = sshd
    async with await asyncssh_as(port, arrangement.veilig, client_keys=[key]) as conn:
        await assert_no_forwarding(conn, listening)
        ran = await conn.run("cat /etc/passwd", term_type=None)  # a command of one's own
        assert ran.exit_status == 2 and "needs a terminal" in str(ran.stderr)

    key_file = arrangement.base / "staff_key"
    key_file.write_bytes(key.export_private_key())
    key_file.chmod(0o600)
    desk = ssh_in_a_terminal(port, arrangement.veilig, "-i", str(key_file))
    try:
        await desk.wait_for("Code from your authenticator app")
        await desk.wait_for(STAFF_EMAIL)  # the key's account, not a field
        assert arrangement.totp is not None
        await desk.type(STAFF_PASSWORD, enter=True)
        await desk.type(arrangement.totp.now(), enter=True)
        await desk.wait_for(f"Inbox · {STAFF_EMAIL}")
    finally:
        await desk.close()


@needs_sshd
@needs_root
async def test_the_recipes_guest_route_needs_no_password_and_allows_only_the_dialog(
    arrangement: Arrangement, sshd: tuple[int, asyncssh.SSHKey], listening: Listening
) -> None:
    from core.i18n import _, speaking

    port, _key = sshd
    assert arrangement.guest is not None
    # BatchMode: no password could be asked. The language goes with SendEnv LANG.
    guest = ssh_in_a_terminal(port, arrangement.guest, lang="nl_NL.UTF-8")
    try:
        with speaking("nl"):
            await guest.wait_for(_("Welcome. What would you like to do? Press 1 or 2."))
        await guest.type("2")  # reads the home of veilig: the database, the server key
        with speaking("nl"):
            await guest.wait_for(_("Please paste the reference from the e-mail you received."))
    finally:
        await guest.close()

    async with await asyncssh_as(port, arrangement.guest) as conn:
        await assert_no_forwarding(conn, listening)
        ran = await conn.run("cat /etc/passwd", term_type=None)
        assert ran.exit_status == 2 and "needs a terminal" in str(ran.stderr)
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.start_sftp_client()  # ForceCommand replaces the subsystem too
